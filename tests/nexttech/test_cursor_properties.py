"""Property tests of the pure cursor against an in-memory server model (no I/O)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from server_model import Model, walk

from nexttech_async.cursor import Bound, CursorState, ItemRef, WalkRange
from nexttech_async.errors import TieOverflowError
from nexttech_async.filters import iso_from_ms

T0 = 1_700_000_000_000  # ms
EXAMPLES = int(os.environ.get("CURSOR_EXAMPLES", "1500"))


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    storage = draw(st.sampled_from(["ms", "second"]))
    page_size = draw(st.integers(1, 12))
    groups = draw(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 30)), max_size=8,
                           unique_by=lambda g: g[0]))
    items: list[int] = []
    for second, size in groups:
        if storage == "ms":
            # distinct milliseconds, adjacent or spread: separable at any page size
            spacing = draw(st.sampled_from([1, 2, 7]))
            offsets = draw(st.lists(st.integers(0, 999 // spacing), min_size=size,
                                    max_size=size, unique=True))
            stamps = [T0 + second * 1000 + spacing * o for o in offsets]
        else:
            stamps = [T0 + second * 1000] * size
        items.extend(stamps)
    keyed = [(i + 1, ms) for i, ms in enumerate(items)]
    use_after = draw(st.booleans())
    use_before = draw(st.booleans())
    after = T0 + draw(st.integers(-1, 20)) * 1000 + draw(st.sampled_from([0, 1, 500, 999]))
    before = T0 + draw(st.integers(20, 42)) * 1000 + draw(st.sampled_from([0, 1, 500, 999]))
    return {
        "storage": storage,
        "page_size": page_size,
        "before_inclusive": draw(st.booleans()),
        "after_inclusive": draw(st.booleans()),
        "items": keyed,
        "rng": WalkRange(
            after=Bound.user(iso_from_ms(after), after) if use_after else None,
            before=Bound.user(iso_from_ms(before), before) if use_before else None,
        ),
        "inserts": draw(st.lists(st.integers(1, 5), max_size=4)),
        "resume_after_pages": draw(st.none() | st.integers(1, 30)),
    }


def groups_by_instant(items: list[tuple[int, int]]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for _, ms in items:
        counts[ms] = counts.get(ms, 0) + 1
    return counts


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_walk_yields_every_item_once_newest_first(scenario: dict[str, object]) -> None:
    page_size = scenario["page_size"]
    storage = scenario["storage"]
    items = scenario["items"]
    assert isinstance(page_size, int) and isinstance(items, list)
    # Page size 1 cannot reveal a second item at one exact instant (see cursor.py).
    assume(storage == "ms" or page_size >= 2 or max(groups_by_instant(items).values(),
                                                     default=0) <= 1)
    model = Model(page_size, bool(scenario["before_inclusive"]),
                  bool(scenario["after_inclusive"]), list(items))
    rng = scenario["rng"]
    assert isinstance(rng, WalkRange)
    truth = model.truth(rng)
    inserts = list(scenario["inserts"])  # type: ignore[call-overload]
    next_id = len(items) + 1

    def insert_newer(request_number: int) -> None:
        # Items created while the walk runs are newer than anything that existed.
        nonlocal next_id
        if inserts and request_number % 3 == 1:
            for _ in range(inserts.pop()):
                model.items.append((next_id, T0 + 60_000 + next_id))
                next_id += 1

    got: list[ItemRef] = []
    overflow: TieOverflowError | None = None
    try:
        stop = scenario["resume_after_pages"]
        assert stop is None or isinstance(stop, int)
        first, state = walk(model, rng, stop_after=stop, on_query=insert_newer)
        got.extend(first)
        if not state.done:
            resumed = CursorState.from_json(json.loads(json.dumps(state.to_json())))
            rest, _ = walk(model, rng, state=resumed, on_query=insert_newer)
            got.extend(rest)
    except TieOverflowError as err:
        overflow = err
    if overflow is not None:
        # Allowed only where items really share an instant; never with separable data.
        assert storage == "second", "bisection must separate millisecond-distinct items"
        assert overflow.reached >= 2
        assert max(groups_by_instant(truth).values(), default=0) >= 2
        return
    keys = [ref.key for ref in got]
    assert len(keys) == len(set(keys)), "an item was emitted twice"
    new_ids = {k for k, _ in model.items} - {k for k, _ in truth} - {k for k, _ in items}
    kept = [k for k in keys if k not in new_ids]
    assert sorted(kept) == sorted(k for k, _ in truth), "an item was skipped"
    seconds = [ref.second for ref in got]
    assert seconds == sorted(seconds, reverse=True), "not newest first"
    if storage == "second":
        # A group larger than a page cannot have been walked completely.
        assert max(groups_by_instant(truth).values(), default=0) <= page_size


def test_second_storage_tie_larger_than_a_page_raises_naming_the_instant() -> None:
    model = Model(3, False, False, [(i, T0 + 7000) for i in range(1, 6)] + [(9, T0)])
    with pytest.raises(TieOverflowError) as info:
        walk(model, WalkRange())
    err = info.value
    assert err.instant == iso_from_ms(T0 + 7000) and err.reached == 3 and err.page_size == 3
    assert "2023-11-14T22:13:27.000Z" in str(err)
