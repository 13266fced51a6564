"""Property tests of whole walks through the SDK against the real Next Tech emulator.

The emulator serves every variant the API documentation allows where it is silent: page
sizes on a schedule (fixed, random per request, a cycle, a change mid-walk), inclusive
or exclusive bounds, millisecond or whole-second storage, and items hidden after the
limit (short and empty pages while more remain). Walks are sequential or sharded
(ordered or not), over contents or grades, resumed from a token in a new session, while
items are created and deleted. ``walk_oracle.judge`` says what they must return.

Set ``WALK_EXAMPLES`` for more (``WALK_EXAMPLES=5000`` for a long local run).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from walk_oracle import ambiguous_instants, judge

import nexttech_async as nt
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig, PageSchedule

T0 = 1_700_000_000.0
EXAMPLES = int(os.environ.get("WALK_EXAMPLES", "500"))

SCHEDULES = st.one_of(
    st.integers(1, 8).map(PageSchedule.fixed),
    st.tuples(st.integers(1, 6), st.integers(0, 6)).map(
        lambda t: PageSchedule.random(t[0], t[0] + t[1])
    ),
    st.lists(st.integers(1, 8), min_size=2, max_size=4).map(PageSchedule.cycle),
    st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 20)).map(
        lambda t: PageSchedule.change(t[0], t[1], after=t[2])
    ),
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    resolution = draw(st.sampled_from(["millisecond", "second"]))
    schedule = draw(SCHEDULES)
    groups = draw(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 16)), max_size=4,
                           unique_by=lambda g: g[0]))
    stamps: list[float] = []
    for second, size in groups:
        # Spread over the second, or packed into a few milliseconds (some shared).
        spacing = draw(st.sampled_from([0, 1, 3, 40]))
        if spacing == 0:
            offsets = draw(st.lists(st.sampled_from([0, 1, 999]), min_size=size, max_size=size))
        else:
            offsets = draw(st.lists(st.integers(0, 999 // spacing), min_size=size,
                                    max_size=size, unique=True))
        stamps += [T0 + second + (spacing or 1) * o / 1000 for o in offsets]
    stamps.sort()  # oldest first, so ids follow time (the run cap below relies on it)
    hiding = draw(st.sampled_from(["none", "before limit", "after limit"]))
    hidden: list[bool] = [False] * len(stamps)
    if hiding != "none":
        cap = schedule.smallest - 1 if hiding == "after limit" else len(stamps)
        rng = random.Random(draw(st.integers(0, 2**16)))
        run = 0
        # In the server's order, newest first: runs shorter than the smallest page.
        for index in reversed(range(len(stamps))):
            if run < cap and rng.random() < 0.35:
                hidden[index] = True
                run += 1
            else:
                run = 0
    shards = draw(st.sampled_from([1, 1, 2, 3]))
    after = draw(st.sampled_from([T0 - 1, T0 + 2, T0 + 2.5]) if shards > 1
                 else st.none() | st.sampled_from([T0 - 1, T0 + 2, T0 + 2.5]))
    return {
        "resolution": resolution,
        "schedule": schedule,
        "before_inclusive": draw(st.booleans()),
        "after_inclusive": draw(st.booleans()),
        "stamps": stamps,
        "hidden": hidden,
        "after_limit": hiding == "after limit",
        "after": after,
        "before": draw(st.none() | st.sampled_from([T0 + 9, T0 + 11.001, T0 + 20])),
        "kind": draw(st.sampled_from(["contents", "grades"])),
        "shards": shards,
        "ordered": draw(st.booleans()),
        "inserts": draw(st.lists(st.integers(1, 3), max_size=3)),
        "deletes": draw(st.lists(st.integers(0, 1000), max_size=3)),
        "resume_at": draw(st.none() | st.integers(0, 40)),
    }


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")


async def run(scn: dict[str, Any]) -> None:
    config = NextTechEmulatorConfig(
        page_schedule=scn["schedule"], before_inclusive=scn["before_inclusive"],
        after_inclusive=scn["after_inclusive"], time_resolution=scn["resolution"],
        filter_after_limit=scn["after_limit"],
    )
    kind = scn["kind"]
    async with NextTechEmulator(config) as emu:
        add = emu.add_content if kind == "contents" else emu.add_grade
        remove = emu.remove_content if kind == "contents" else emu.remove_grade
        stored = [add(stamp, hidden=hide) for stamp, hide in zip(scn["stamps"], scn["hidden"],
                                                                  strict=True)]
        after, before = iso(scn["after"]), iso(scn["before"])
        snapshot = emu.contents_snapshot if kind == "contents" else emu.grades_snapshot
        truth_items = snapshot(after=after, before=before)
        resolution_ms = 1000 if scn["resolution"] == "second" else 1
        raw = [(item["id"], round(stamp * 1000) // resolution_ms * resolution_ms)
               for item, stamp in zip(stored, scn["stamps"], strict=True)]
        created = dict(raw)
        truth = {item["id"]: created[item["id"]] for item in truth_items}
        hidden_ids = {item["id"] for item, hide in zip(stored, scn["hidden"], strict=True) if hide}
        ambiguous = ambiguous_instants(raw, hidden_ids, scn["schedule"].smallest,
                                       after_limit=scn["after_limit"])
        inserts, deletes = list(scn["inserts"]), list(scn["deletes"])
        later: set[int] = set()
        deleted: set[int] = set()

        def during_walk(emulator: NextTechEmulator, request_number: int) -> None:
            # Items created while the walk runs are newer than anything that existed (a
            # second apart, so they never tie even in whole-second storage); any
            # item may be deleted (only hidden ones when the server filters after its
            # limit: deleting a shown one could join two runs of hidden ones).
            if inserts and request_number % 4 == 2:
                for k in range(inserts.pop()):
                    later.add(add(T0 + 3600 + request_number * 10 + k)["id"])
            pool = sorted((hidden_ids if scn["after_limit"] else set(created)) - deleted)
            if deletes and request_number % 5 == 3 and pool:
                victim = pool[deletes.pop() % len(pool)]
                remove(victim)
                deleted.add(victim)

        emu.on_request(during_walk)
        credentials = (emu.api_token, emu.secret_key)
        got: list[int] = []
        seconds: list[int] = []
        overflow: nt.TieOverflowError | None = None
        sharded = scn["shards"] > 1
        try:
            async with nt.NextTechSession(*credentials, base_url=emu.base_url) as s:
                listing = s.contents if kind == "contents" else s.grades
                walk = listing.iterate(after=after, before=before, shards=scn["shards"],
                                       ordered=scn["ordered"])
                resumable = not sharded or scn["ordered"]
                token = walk.resume_token if resumable else None
                async with walk:
                    async for item in walk:
                        got.append(item.id)
                        seconds.append(int(item.created_at.timestamp()))
                        if resumable:
                            token = walk.resume_token
                        if resumable and len(got) == scn["resume_at"]:
                            break
            if token is not None and scn["resume_at"] is not None:
                # "Another process": a new session that knows only the token.
                async with nt.NextTechSession(*credentials, base_url=emu.base_url) as s:
                    listing = s.contents if kind == "contents" else s.grades
                    async for item in listing.iterate(resume=token):
                        got.append(item.id)
                        seconds.append(int(item.created_at.timestamp()))
        except nt.TieOverflowError as err:
            overflow = err
        judge(
            got,
            seconds if (not sharded or scn["ordered"]) else None,
            truth,
            ambiguous,
            deleted=deleted,
            created_later=later,
            overflow_second=None if overflow is None else overflow.instant_ms // 1000,
        )


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_walk_equals_ground_truth(scn: dict[str, Any]) -> None:
    asyncio.run(run(scn))
