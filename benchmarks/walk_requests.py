"""Requests per walk: the SDK's date-cursor walk against the emulator, scenario by scenario.

Request counts are exact (they do not depend on the machine), so each scenario runs once:
a seeded account on an in-process emulator at 127.0.0.1, one ``iterate()`` to the end,
and the emulator's own request count. Beside each figure stands the ideal a client that
knew every item's millisecond would need, ``ceil(items / page)``, the target, and whether
any request repeated the one before it. Where no second holds a page, a second bound stands
beside it: what a client that sees whole seconds only needs at best (replayed on the same
data and page sizes), since each of its pages must ask the boundary second again. Every
walk is checked against the emulator's ground truth before its figure is kept.

    python -m benchmarks walk_requests        # or ./dev bench walk_requests
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

import nexttech_async as nt
from benchmarks.harness import Figures, Options, benchmark
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig, PageSchedule

NAME = "walk_requests"
T0 = 1_700_000_000.0


@attrs.frozen
class Scenario:
    label: str
    items: int
    per_second: int
    schedule: str
    page: float  # the mean page size, for the ideal
    target: str
    resolution: str = "millisecond"
    hidden: float = 0.0
    shards: int = 1

    def limit(self, requests: int, items: int, bound: int | None) -> float | None:
        """The target as a number of requests, or None for a figure reported only."""
        kind, _, value = self.target.partition(" ")
        if kind == "per-item":
            return float(value) * items
        if kind == "over-page-1":
            return float(value) * items / (self.page - 1)
        if kind == "over-ideal":
            return float(value) * math.ceil(items / self.page)
        if kind == "over-bound" and bound is not None:
            return float(value) * bound
        return None


def whole_second_bound(stamps: Sequence[float], sizes: Sequence[int]) -> int | None:
    """Requests a client that sees whole seconds needs at best, on these items and sizes.

    Knowing only each item's second, the most a client can skip after a page is everything
    above the second of its oldest item: it asks ``before`` the end of that second, and
    the answer brings that second's already-seen items again. Replayed with the page sizes
    the emulator served the walk, request by request (cycled if the replay needs more),
    until the empty page that ends a walk. ``None`` where a second may hold a whole page:
    this strategy cannot move on there (a crowded second needs guesses inside it).
    """
    seconds = sorted((int(stamp) for stamp in stamps), reverse=True)
    first: dict[int, int] = {}
    for index, second in enumerate(seconds):
        first.setdefault(second, index)
    if max(Counter(seconds).values()) >= min(sizes):
        return None
    start, requests = 0, 0
    while True:
        size = sizes[requests % len(sizes)]
        requests += 1
        if start >= len(seconds):
            return requests
        end = start + size
        start = len(seconds) if end >= len(seconds) else first[seconds[end - 1]]


def scenarios(quick: bool) -> list[Scenario]:
    scale = 5 if quick else 1
    rows: list[Scenario] = []
    for varying in (False, True):
        def sched(fixed: int, low: int, high: int, *, varying: bool = varying) -> str:
            return f"{low}..{high}" if varying else str(fixed)

        note = " (varying)" if varying else ""
        rows += [
            # "No crowded seconds": one item a second, so a page shares one item with the
            # page before (the boundary second is asked again), which is the target's
            # ``page - 1``. At three a second the boundary second brings one to three items
            # again, which no client seeing whole seconds can avoid: that row is held to the
            # whole-second bound instead.
            Scenario(f"no crowded seconds, page 7{note}", 6000 // scale, 1, sched(7, 5, 9), 7,
                     "over-page-1 1.10"),
            Scenario(f"no crowded seconds, page 50{note}", 30000 // scale, 1,
                     sched(50, 40, 60), 50, "over-page-1 1.10"),
            Scenario(f"3 items a second, page 7{note}", 6000 // scale, 3, sched(7, 5, 9), 7,
                     "over-bound 1.10"),
            Scenario(f"crowded seconds (3 pages each), page 7{note}", 2100 // scale, 21,
                     sched(7, 5, 9), 7, "over-ideal 2.5"),
            Scenario(f"crowded seconds (3 pages each), page 2{note}", 600 // scale, 6,
                     sched(2, 2, 3), 2 if not varying else 2.5, "report"),
            Scenario(f"3 items a second, page 1{note}", 300 // scale, 3, sched(1, 1, 2),
                     1 if not varying else 1.5, "per-item 12"),
        ]
    rows += [
        Scenario("1 item a second, page 1", 300 // scale, 1, "1", 1, "per-item 12"),
        Scenario("whole-second storage, 3 a second, page 7", 6000 // scale, 3, "7", 7,
                 "over-page-1 1.10", resolution="second"),
        Scenario("30 % hidden after the limit, page 10", 3000 // scale, 5, "10", 10, "report",
                 hidden=0.3),
        Scenario("no crowded seconds, page 50, shards=4", 30000 // scale, 1, "50", 50,
                 "report", shards=4),
    ]
    return rows


async def walk_once(scenario: Scenario) -> dict[str, Any]:
    schedule = PageSchedule.parse(scenario.schedule)
    config = NextTechEmulatorConfig(
        page_schedule=schedule,
        time_resolution=scenario.resolution,  # type: ignore[arg-type]
        filter_after_limit=scenario.hidden > 0,
        hidden_fraction=scenario.hidden,
        max_hidden_run=max(0, schedule.smallest - 1) if scenario.hidden else 0,
        seed=7,
        request_log_limit=1_000_000,
    )
    rng = random.Random(f"walk_requests:{scenario.label}")
    seconds = max(1, scenario.items // scenario.per_second)
    stamps = sorted(
        T0 + s + offset / 1000
        for s in range(seconds)
        for offset in rng.sample(range(1000), scenario.per_second)
    )
    async with NextTechEmulator(config) as emu:
        emu.add_contents(stamps)
        truth = [item["id"] for item in emu.contents_snapshot()]
        emu.counters.reset()
        async with nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url) as s:
            after = "2023-11-14T22:13:19.000Z" if scenario.shards > 1 else None
            before = "2023-11-15T22:13:20.000Z" if scenario.shards > 1 else None
            walk = s.contents.iterate(after=after, before=before, shards=scenario.shards)
            got = [content.id async for content in walk]
        if sorted(got) != sorted(truth) or len(got) != len(set(got)):
            raise AssertionError(f"{scenario.label}: the walk did not return the ground truth")
        log = emu.request_log
        requests = emu.counters.requests
        served = list(emu.page_sizes_served)
    repeats = sum(1 for a, b in itertools.pairwise(log)
                  if (a.path, a.query_string) == (b.path, b.query_string))
    ideal = math.ceil(len(truth) / scenario.page)
    bound = (
        whole_second_bound(stamps, served)
        if scenario.shards == 1 and not scenario.hidden
        else None
    )
    limit = scenario.limit(requests, len(truth), bound)
    return {
        "scenario": scenario.label,
        "page sizes": scenario.schedule,
        "items": len(truth),
        "requests": requests,
        "ideal ceil(items/page)": ideal,
        "requests / ideal": round(requests / ideal, 2),
        "requests / item": round(requests / len(truth), 3),
        "whole-second bound": bound,
        "requests / bound": None if bound is None else round(requests / bound, 2),
        "target": _target_text(scenario),
        "target requests": None if limit is None else math.floor(limit),
        "met": "—" if limit is None else ("yes" if requests <= limit else "NO"),
        "repeated requests": repeats,
    }


def _target_text(scenario: Scenario) -> str:
    kind, _, value = scenario.target.partition(" ")
    return {
        "per-item": f"<= {value} requests per item",
        "over-page-1": f"<= {value} x items / (page - 1)",
        "over-ideal": f"<= {value} x ideal",
        "over-bound": f"<= {value} x whole-second bound",
    }.get(kind, "reported")


async def measure(rows: Sequence[Scenario]) -> Figures:
    table = [await walk_once(row) for row in rows]
    return {
        "table": table,
        "targets met": sum(1 for row in table if row["met"] == "yes"),
        "targets missed": sum(1 for row in table if row["met"] == "NO"),
        "repeated requests (all scenarios)": sum(row["repeated requests"] for row in table),
    }


@benchmark(NAME, __doc__.splitlines()[0] if __doc__ else NAME, time_limit=300.0)
def run(options: Options) -> Figures:
    return asyncio.run(measure(scenarios(options.quick)))
