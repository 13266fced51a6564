"""The walks that lost items on independent servers, on the emulator's page modes.

Each case of the issue that found the loss (page sizes random in 20..30 with 90 items a
second; page 10 with about 15 % of answers cut to 5..9; a limit of 10 with hidden items
dropped after it; page 50 becoming 20 mid-walk), under all four readings of the bounds,
sequential (resumed halfway from its token in a new session) and sharded (ordered and
not), for contents and grades: every item exactly once, newest first.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

import nexttech_async as nt
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig, PageSchedule

T0 = 1_700_000_000.0
CASES: dict[str, dict[str, Any]] = {
    "random 20..30, 90 a second": {"page_schedule": "20..30", "per_second": 90, "items": 900},
    "10, 15 % cut to 5..9": {
        "page_schedule": PageSchedule.cycle([10] * 17 + [5, 7, 9]), "per_second": 30,
        "items": 600,
    },
    "limit 10, hidden dropped after it": {
        "page_schedule": "10", "per_second": 30, "items": 600, "filter_after_limit": True,
        "hidden_fraction": 0.3, "max_hidden_run": 9,
    },
    "50 becoming 20": {"page_schedule": "50>20@4", "per_second": 90, "items": 900},
}
MODES = ["sequential, resumed", "shards=3", "shards=3 unordered"]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(("before_inclusive", "after_inclusive"),
                         [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["contents", "grades"])
async def test_every_item_once(
    case: str, before_inclusive: bool, after_inclusive: bool, mode: str, kind: str
) -> None:
    knobs = dict(CASES[case])
    per_second, count = knobs.pop("per_second"), knobs.pop("items")
    config = NextTechEmulatorConfig(
        before_inclusive=before_inclusive, after_inclusive=after_inclusive, seed=3, **knobs
    )
    rng = random.Random(case)
    stamps = sorted(T0 + s + o / 1000 for s in range(count // per_second)
                    for o in rng.sample(range(1000), per_second))
    async with NextTechEmulator(config) as emu:
        add = emu.add_content if kind == "contents" else emu.add_grade
        for stamp in stamps:
            add(stamp)
        after, before = "2023-11-14T22:13:19.000Z", "2023-11-14T22:15:00.000Z"
        snapshot = emu.contents_snapshot if kind == "contents" else emu.grades_snapshot
        truth = snapshot(after=after, before=before)
        assert truth, "the case must list something"
        credentials = (emu.api_token, emu.secret_key)
        got: list[Any] = []
        async with nt.NextTechSession(*credentials, base_url=emu.base_url) as s:
            listing = s.contents if kind == "contents" else s.grades
            if mode.startswith("sequential"):
                walk = listing.iterate(after=after, before=before)
                async for item in walk:
                    got.append(item)
                    if len(got) == len(truth) // 2:
                        break
                token = walk.resume_token
                async with nt.NextTechSession(*credentials, base_url=emu.base_url) as other:
                    rest = other.contents if kind == "contents" else other.grades
                    got += [item async for item in rest.iterate(resume=token)]
            else:
                walk = listing.iterate(after=after, before=before, shards=3,
                                       ordered="unordered" not in mode)
                async with walk:
                    got = [item async for item in walk]
    ids = [item.id for item in got]
    assert len(ids) == len(set(ids)), "an item came twice"
    assert sorted(ids) == sorted(item["id"] for item in truth), "an item was skipped"
    if "unordered" not in mode:
        seconds = [item.created_at for item in got]
        assert seconds == sorted(seconds, reverse=True), "not newest first"
