"""Next Tech walks: ``contents.iterate()`` against a bare aiohttp loop, memory, sharding.

One ``NextTechEmulator`` (page size 100) runs in another process, seeded with N contents
spread two seconds apart (every 50th shares a second with its neighbour, so there are a
few ties, never more than a page). Three parts:

(a) **throughput**: the whole store walked by ``contents.iterate()`` and by a bare aiohttp
    loop doing the same requests (``before`` = end of the oldest second seen, ids of that
    boundary second de-duplicated, stop on an empty page), in alternating rounds; items/s
    ours/bare (target >= 0.9) and client CPU per item. Both are first checked to yield the
    same ids, each once. A third walker, the bare loop reading each item into the SDK's
    ``Content`` model, shows how much of the difference is the model.
(b) **memory**: the newest 10k and all 100k items walked (items consumed and discarded),
    each in a fresh process: peak RSS growth (sampled) and the ``tracemalloc`` peak over
    the walk; flat in the item count is the target.
(c) **sharding**: with 50 ms of emulated latency per request, ``iterate(after, before)``
    against ``iterate(after, before, shards=8)`` (ordered) over the newest 20k items;
    speedup (target >= 4) and identical id sequences. ``ordered=False`` is measured once
    for reference.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

import nexttech_async as nt
from benchmarks.harness import Figures, Options, benchmark
from benchmarks.support import (
    EmulatorProcess,
    RssSampler,
    cpu_seconds,
    median,
    peak_rss_bytes,
    rss_bytes,
    run_in_child,
    server_cpu_seconds,
)
from nexttech_async.models import converter
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig

NAME = "walk"
TOKEN = "bench-token"  # noqa: S105 - the emulator's throwaway credentials
SECRET = "bench-secret-key"  # noqa: S105
T0 = 1_600_000_000
PAGE_SIZE = 100
LATENCY = 0.05
SHARDS = 8
TARGET_RATIO = 0.9
TARGET_SPEEDUP = 4.0
MAX_PAGES = 10_000
"""No walk of this benchmark needs more pages than this (a bound on every loop)."""


# -- the data -------------------------------------------------------------------------------


def item_time(i: int) -> float:
    """Epoch seconds of the i-th content: 2 s apart; every 50th ties with the one before."""
    second = T0 + 2 * (i - i // 50)
    return second + ((i * 37) % 1000) / 1000


def iso(seconds: float) -> str:
    """``2020-09-13T12:26:40.123Z`` (the SDK's and Next Tech's documented form)."""
    ms = round(seconds * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def nexttech_emulator(count: int) -> NextTechEmulator:
    """The emulator process's factory: ``count`` contents, page size 100, no request log."""
    emu = NextTechEmulator(
        NextTechEmulatorConfig(
            page_size=PAGE_SIZE, api_token=TOKEN, secret_key=SECRET, request_log_limit=0
        )
    )
    emu.add_contents(item_time(i) for i in range(count))
    return emu


def count_between(emu: NextTechEmulator, after: str, before: str | None) -> int:
    """How many contents a complete walk of ``(after, before)`` must yield (the truth)."""
    return len(emu.contents_snapshot(after=after, before=before))


def set_latency(emu: NextTechEmulator, seconds: float) -> None:
    emu.set_latency(seconds)


def requests_served(emu: NextTechEmulator) -> int:
    return emu.counters.requests


# -- the two walkers ------------------------------------------------------------------------


def session(base_url: str) -> nt.NextTechSession:
    return nt.NextTechSession(TOKEN, SECRET, base_url=base_url)


async def bare_walk(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], after: str
) -> AsyncIterator[dict[str, Any]]:
    """Newest first, each item once: a simple loop, correct while no second outgrows a page.

    It asks ``before`` = the end of the oldest second seen (that second may have been cut
    short), skips the ids it already gave out in that second, and steps below the second
    when a page brings nothing new; an empty page ends the walk.
    """
    before: str | None = None
    boundary: int | None = None
    boundary_ids: set[int] = set()
    for _ in range(MAX_PAGES):
        params = {"after": after} if before is None else {"before": before, "after": after}
        async with http.get(url, params=params, headers=headers) as resp:
            if resp.status != 200:
                raise RuntimeError(f"bare walk: HTTP {resp.status}")
            items: list[dict[str, Any]] = json.loads(await resp.read())
        if not items:
            return
        fresh = False
        for item in items:
            if item["created_at"] == boundary and item["id"] in boundary_ids:
                continue
            fresh = True
            yield item
        if not fresh:  # only the boundary second's known items: it is done
            assert boundary is not None
            before, boundary, boundary_ids = iso(boundary), None, set()
            continue
        oldest = items[-1]["created_at"]
        ids = {item["id"] for item in items if item["created_at"] == oldest}
        boundary_ids = boundary_ids | ids if oldest == boundary else ids
        boundary = oldest
        before = iso(oldest + 1)
    raise RuntimeError(f"bare walk: more than {MAX_PAGES} pages")


class Walkers:
    """Both walkers on one emulator, each returning how many items it saw."""

    def __init__(self, base_url: str) -> None:
        self.ours = session(base_url)
        # As the SDK makes its own: no cookie jar, a total timeout.
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=30)
        )
        self.url = f"{base_url}/contents"
        self.headers = {
            "Authorization": aiohttp.BasicAuth(TOKEN, SECRET).encode(),
            "Accept": "application/json",
        }

    async def ids_ours(self, after: str) -> list[int]:
        return [c.id async for c in self.ours.contents.iterate(after=after)]

    async def ids_bare(self, after: str) -> list[int]:
        return [i["id"] async for i in bare_walk(self.http, self.url, self.headers, after)]

    async def count_ours(self, after: str) -> int:
        n = 0
        async for _ in self.ours.contents.iterate(after=after):
            n += 1
        return n

    async def count_bare(self, after: str) -> int:
        n = 0
        async for _ in bare_walk(self.http, self.url, self.headers, after):
            n += 1
        return n

    async def count_bare_models(self, after: str) -> int:
        """The bare loop, plus reading each item into the SDK's ``Content`` model."""
        n = 0
        async for item in bare_walk(self.http, self.url, self.headers, after):
            converter.structure(item, nt.Content)
            n += 1
        return n

    async def close(self) -> None:
        await self.ours.close()
        await self.http.close()


# -- (a) throughput -------------------------------------------------------------------------


async def throughput(
    emu: EmulatorProcess, expected: int, after: str, rounds: int, deadline: float
) -> Figures:
    walkers = Walkers(emu.base_url)
    try:
        ours_ids, bare_ids = await walkers.ids_ours(after), await walkers.ids_bare(after)
        if len(ours_ids) != expected or len(set(ours_ids)) != expected:
            raise RuntimeError(f"iterate() gave {len(ours_ids)} items, expected {expected}")
        if ours_ids != bare_ids:
            raise RuntimeError("the bare loop and iterate() disagree on the items")
        del ours_ids, bare_ids
        variants = {
            "ours": walkers.count_ours,
            "bare": walkers.count_bare,
            "bare+models": walkers.count_bare_models,
        }
        tallies: dict[str, dict[str, Any]] = {
            name: {
                "items": 0,
                "wall_s": 0.0,
                "cpu_s": 0.0,
                "server_cpu_s": 0.0,
                "requests": 0,
                "per_round_items_per_s": [],
            }
            for name in variants
        }
        names = list(variants)
        for r in range(rounds):
            if r and time.monotonic() > deadline:
                break
            for name in names[r % len(names) :] + names[: r % len(names)]:
                gc.collect()
                requests0 = await emu.acall(requests_served)
                server0 = server_cpu_seconds(emu.pid) or 0.0
                wall0, cpu0 = time.perf_counter(), cpu_seconds()
                n = await variants[name](after)
                wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
                server = (server_cpu_seconds(emu.pid) or 0.0) - server0
                if n != expected:
                    raise RuntimeError(f"{name} walk gave {n} items, expected {expected}")
                t = tallies[name]
                t["items"] += n
                t["wall_s"] += wall
                t["cpu_s"] += cpu
                t["server_cpu_s"] += server
                t["requests"] += await emu.acall(requests_served) - requests0
                t["per_round_items_per_s"].append(n / wall)
    finally:
        await walkers.close()
    out: Figures = {}
    for name, t in tallies.items():
        out[name] = {
            "items": t["items"],
            "items_per_s": round(t["items"] / t["wall_s"]),
            "client_cpu_us_per_item": round(t["cpu_s"] / t["items"] * 1e6, 2),
            "server_cpu_us_per_item": round(t["server_cpu_s"] / t["items"] * 1e6, 2),
            "requests_per_walk": round(t["requests"] / (t["items"] / expected), 1),
            "wall_s": round(t["wall_s"], 3),
        }
    ours, bare = tallies["ours"], tallies["bare"]
    round_ratios = [
        a / b
        for a, b in zip(ours["per_round_items_per_s"], bare["per_round_items_per_s"], strict=False)
    ]
    out["ratio_items_per_s"] = round(
        (ours["items"] / ours["wall_s"]) / (bare["items"] / bare["wall_s"]), 3
    )
    out["ratio_items_per_s_median_round"] = round(median(round_ratios), 3)
    out["ratio_items_per_s_round_range"] = (
        [round(min(round_ratios), 3), round(max(round_ratios), 3)] if round_ratios else []
    )
    out["ratio_client_cpu_per_item"] = round(
        (ours["cpu_s"] / ours["items"]) / (bare["cpu_s"] / bare["items"]), 3
    )
    models = tallies["bare+models"]
    out["ratio_bare_models_items_per_s"] = round(
        (models["items"] / models["wall_s"]) / (bare["items"] / bare["wall_s"]), 3
    )
    return out


# -- (b) memory -----------------------------------------------------------------------------


async def memory_child(base_url: str, after: str, expected: int, trace: bool) -> dict[str, Any]:
    """In a fresh process: walk ``(after, now]`` discarding items; RSS or tracemalloc peak."""
    async with session(base_url) as s:
        walk = s.contents.iterate(after=after)
        await anext(walk)  # the first page: connection, caches and imports are warm
        n = 1
        gc.collect()
        rss0, maxrss0 = rss_bytes(), peak_rss_bytes()
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        with RssSampler(interval=0.005) as sampler:
            async for _ in walk:
                n += 1
        wall = time.perf_counter() - started
        traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
    if n != expected:
        raise RuntimeError(f"memory walk gave {n} items, expected {expected}")
    return {
        "items": n,
        "wall_s": round(wall, 3),
        "rss_start": rss0,
        "rss_peak_growth": sampler.peak_growth,
        "maxrss_growth": max(0, peak_rss_bytes() - max(rss0, maxrss0)),
        "tracemalloc_peak": traced_peak,
    }


def memory(base_url: str, walks: list[tuple[int, str]], time_limit: float) -> list[Figures]:
    rows: list[Figures] = []
    for trace in (False, True):
        for expected, after in walks:
            got = run_in_child(memory_child, base_url, after, expected, trace, timeout=time_limit)
            if trace:
                row = next(r for r in rows if r["items"] == expected)
                row["tracemalloc_peak_kib"] = round(got["tracemalloc_peak"] / 1024, 1)
            else:
                rows.append(
                    {
                        "items": expected,
                        "rss_peak_growth_kib": round(got["rss_peak_growth"] / 1024, 1),
                        "maxrss_growth_kib": round(got["maxrss_growth"] / 1024, 1),
                        "rss_start_mib": round(got["rss_start"] / 2**20, 1),
                    }
                )
    return rows


# -- (c) sharding ---------------------------------------------------------------------------


async def sharded(
    emu: EmulatorProcess, expected: int, after: str, before: str, rounds: int
) -> Figures:
    await emu.acall(set_latency, LATENCY)
    walks: dict[str, dict[str, Any]] = {
        "sequential": {},
        f"shards={SHARDS}": {"shards": SHARDS},
    }
    walls: dict[str, list[float]] = {name: [] for name in walks}
    sequences: dict[str, list[int]] = {}
    async with session(emu.base_url) as s:
        names = list(walks)
        for r in range(rounds):
            for name in names[r % 2 :] + names[: r % 2]:
                started = time.perf_counter()
                ids = [
                    c.id
                    async for c in s.contents.iterate(after=after, before=before, **walks[name])
                ]
                walls[name].append(time.perf_counter() - started)
                if len(ids) != expected:
                    raise RuntimeError(f"{name} walk gave {len(ids)} items, expected {expected}")
                if sequences.setdefault(name, ids) != ids:
                    raise RuntimeError(f"{name} walk changed between rounds")
        started = time.perf_counter()
        unordered = [
            c.id
            async for c in s.contents.iterate(
                after=after, before=before, shards=SHARDS, ordered=False
            )
        ]
        unordered_wall = time.perf_counter() - started
    await emu.acall(set_latency, 0.0)
    seq, shard = sequences["sequential"], sequences[f"shards={SHARDS}"]
    seq_rate = expected * len(walls["sequential"]) / sum(walls["sequential"])
    shard_rate = expected * len(walls[f"shards={SHARDS}"]) / sum(walls[f"shards={SHARDS}"])
    return {
        "items": expected,
        "latency_s": LATENCY,
        "rounds": rounds,
        "sequential_items_per_s": round(seq_rate),
        "sharded_items_per_s": round(shard_rate),
        "speedup": round(shard_rate / seq_rate, 2),
        "identical_sequences": seq == shard,
        "unordered_items_per_s": round(expected / unordered_wall),
        "unordered_speedup": round(expected / unordered_wall / seq_rate, 2),
        "unordered_same_set": sorted(unordered) == sorted(seq) and len(unordered) == expected,
        "walls_s": {name: [round(w, 3) for w in ws] for name, ws in walls.items()},
    }


# -- the benchmark --------------------------------------------------------------------------


def newest_after(count: int, total: int) -> str:
    """An ``after`` bound that leaves about the newest ``count`` of ``total`` items."""
    return iso(item_time(total - count) + 0.001)


async def measure(options: Options, emu: EmulatorProcess, total: int) -> Figures:
    # Five alternating rounds: the ratio moves with whatever else the two cores run.
    rounds = options.pick(full=5, quick=2)
    all_after = iso(T0 - 10)
    figures: Figures = {"items_in_store": total, "page_size": PAGE_SIZE}

    # (a)
    expected = await emu.acall(count_between, all_after, None)
    thr = await throughput(emu, expected, all_after, rounds, options.deadline - 60)
    figures["throughput"] = thr

    # (b)
    small = options.pick(full=10_000, quick=1_000)
    small_after = newest_after(small, total)
    small_count = await emu.acall(count_between, small_after, None)
    walks = [(small_count, small_after), (expected, all_after)]
    mem = await asyncio.to_thread(memory, emu.base_url, walks, 60.0)
    figures["memory"] = mem

    # (c)
    span = options.pick(full=20_000, quick=2_000)
    after = newest_after(span, total)
    before = iso(item_time(total - 1) + 10)
    in_range = await emu.acall(count_between, after, before)
    shard_rounds = options.pick(full=2, quick=1)
    figures["sharding"] = await sharded(emu, in_range, after, before, shard_rounds)

    small_row, big_row = mem[0], mem[-1]
    figures["ratio_ours_to_bare_items_per_s"] = thr["ratio_items_per_s"]
    figures["meets_target_ratio"] = thr["ratio_items_per_s"] >= TARGET_RATIO
    figures["rss_growth_big_minus_small_kib"] = round(
        big_row["rss_peak_growth_kib"] - small_row["rss_peak_growth_kib"], 1
    )
    figures["tracemalloc_peak_big_over_small"] = round(
        big_row["tracemalloc_peak_kib"] / small_row["tracemalloc_peak_kib"], 2
    )
    # "Flat": ten times the items costs at most half as much again of Python heap.
    figures["memory_flat"] = figures["tracemalloc_peak_big_over_small"] <= 1.5
    figures["sharded_speedup"] = figures["sharding"]["speedup"]
    figures["meets_target_speedup"] = figures["sharding"]["speedup"] >= TARGET_SPEEDUP
    figures["sharded_identical_sequence"] = figures["sharding"]["identical_sequences"]
    figures["table"] = table(figures)
    return figures


def table(figures: Figures) -> list[dict[str, Any]]:
    """One row per figure: its value, what it is compared with, the ratio, the target."""
    thr, shard = figures["throughput"], figures["sharding"]
    small, big = figures["memory"][0], figures["memory"][-1]
    sizes = f"{big['items']:,} vs {small['items']:,} items"
    rows: list[dict[str, Any]] = [
        {
            "part": "(a)",
            "figure": f"items/s, {thr['ours']['items']:,} items: iterate() vs bare aiohttp",
            "value": thr["ours"]["items_per_s"],
            "compared with": thr["bare"]["items_per_s"],
            "ratio": thr["ratio_items_per_s"],
            "target": f">= {TARGET_RATIO}",
            "met": thr["ratio_items_per_s"] >= TARGET_RATIO,
        },
        {
            "part": "(a)",
            "figure": "client CPU µs/item: iterate() vs bare aiohttp",
            "value": thr["ours"]["client_cpu_us_per_item"],
            "compared with": thr["bare"]["client_cpu_us_per_item"],
            "ratio": thr["ratio_client_cpu_per_item"],
            "target": "—",
            "met": None,
        },
        {
            "part": "(a)",
            "figure": "items/s: bare aiohttp + SDK's Content model per item vs bare aiohttp",
            "value": thr["bare+models"]["items_per_s"],
            "compared with": thr["bare"]["items_per_s"],
            "ratio": thr["ratio_bare_models_items_per_s"],
            "target": "—",
            "met": None,
        },
        {
            "part": "(b)",
            "figure": f"peak RSS growth KiB (sampled), {sizes}",
            "value": big["rss_peak_growth_kib"],
            "compared with": small["rss_peak_growth_kib"],
            "ratio": _ratio(big["rss_peak_growth_kib"], small["rss_peak_growth_kib"]),
            "target": "flat",
            "met": None,
        },
        {
            "part": "(b)",
            "figure": f"tracemalloc peak KiB, {sizes}",
            "value": big["tracemalloc_peak_kib"],
            "compared with": small["tracemalloc_peak_kib"],
            "ratio": _ratio(big["tracemalloc_peak_kib"], small["tracemalloc_peak_kib"]),
            "target": "flat (<= 1.5)",
            "met": figures["memory_flat"],
        },
        {
            "part": "(c)",
            "figure": f"items/s at {LATENCY * 1000:.0f} ms latency, {shard['items']:,} items: "
            f"shards={SHARDS} (ordered) vs sequential",
            "value": shard["sharded_items_per_s"],
            "compared with": shard["sequential_items_per_s"],
            "ratio": shard["speedup"],
            "target": f">= {TARGET_SPEEDUP:g}, same ids",
            "met": shard["speedup"] >= TARGET_SPEEDUP and shard["identical_sequences"],
        },
        {
            "part": "(c)",
            "figure": f"shards={SHARDS} ordered=False vs sequential (same id set)",
            "value": shard["unordered_items_per_s"],
            "compared with": shard["sequential_items_per_s"],
            "ratio": shard["unordered_speedup"],
            "target": "—",
            "met": shard["unordered_same_set"],
        },
    ]
    return rows


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


@benchmark(NAME, __doc__.splitlines()[0] if __doc__ else NAME, time_limit=120.0)
def run(options: Options) -> Figures:
    total = options.pick(full=100_000, quick=5_000)
    with EmulatorProcess(nexttech_emulator, total) as emu:
        return asyncio.run(_bounded(options, emu, total))


async def _bounded(options: Options, emu: EmulatorProcess, total: int) -> Figures:
    async with asyncio.timeout(options.time_left() + 30.0):
        return await measure(options, emu, total)
