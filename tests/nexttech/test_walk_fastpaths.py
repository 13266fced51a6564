"""The walk's fast paths do what the plain ones did.

``page_refs`` reads a page's item refs like ``item_ref`` item by item; the position's
``handed_out_run`` is ``handed_out`` repeated; a walk that asks for its next page ahead
hands out the same items with the same resume tokens, raises a page's failure only
after the items before it, and ``aclose()`` cancels the page asked for ahead.
"""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nexttech_async as nt
from edu_async_core.errors import RequestContext
from edu_async_core.responses import Response
from nexttech_async.cursor import CursorState, ItemRef, Query, WalkRange
from nexttech_async.filters import Filters
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from nexttech_async.walk import Position, Walk, item_ref, page_refs

RESPONSE = Response(200, {}, b"[]", RequestContext("GET", "/contents"))
VALUES = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5) | st.text(max_size=2)
ITEMS = st.one_of(
    st.fixed_dictionaries({"id": st.integers(0, 9), "created_at": st.integers(0, 9)}),
    st.dictionaries(st.sampled_from(["id", "identifier", "created_at"]), VALUES, max_size=3),
    VALUES,
    st.lists(VALUES, max_size=2),
)


def outcome(read: Any) -> Any:
    try:
        return read()
    except nt.BadResponseError as exc:
        return str(exc)


@settings(max_examples=300, deadline=None)
@given(st.lists(ITEMS, max_size=5))
def test_page_refs_reads_like_item_ref(items: list[Any]) -> None:
    plain = outcome(lambda: [item_ref(item, RESPONSE) for item in items])
    fast = outcome(lambda: page_refs(items, RESPONSE))
    assert fast == plain
    if isinstance(fast, list):
        assert all(type(ref) is ItemRef for ref in fast)


REFS = st.lists(st.tuples(st.integers(0, 3), st.integers(5, 7)), max_size=8).map(
    lambda pairs: [ItemRef(key, second) for key, second in pairs]
)
STATES = st.builds(
    CursorState,
    hi=st.none() | st.integers(5, 7),
    hi_complete=st.booleans(),
    seen=st.frozensets(st.integers(0, 3), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(STATES, REFS, st.data())
def test_handed_out_run_is_handed_out_repeated(
    state: CursorState, refs: list[ItemRef], data: st.DataObject
) -> None:
    one, run = Position(state), Position(state)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(refs)), max_size=3)))
    start = 0
    for stop in [*cuts, len(refs)]:
        for ref in refs[start:stop]:
            one.handed_out(ref)
        run.handed_out_run(refs, start, stop)
        start = max(start, stop)
        assert run.state(state) == one.state(state)


def fake_walk(pages: list[list[dict[str, Any]] | Exception], *, prefetch: bool) -> Walk[Any]:
    """A walk over scripted answers (the cursor sees each page as newest first)."""
    answers = iter(pages)
    asked: list[Query] = []

    async def fetch(query: Query, filters: Filters) -> tuple[list[Any], Response]:
        asked.append(query)
        await asyncio.sleep(0.01)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer, Response(200, {}, json.dumps(answer).encode(), RESPONSE.context)

    walk: Walk[Any] = Walk(
        kind="contents",
        fetch=fetch,
        structure=lambda raw, response: raw["id"],
        rng=WalkRange(),
        filters=Filters.build(),
        prefetch=prefetch,
    )
    walk.asked = asked  # type: ignore[attr-defined]
    return walk


PAGE_1 = [{"id": 9, "created_at": 109}, {"id": 8, "created_at": 108}]
PAGE_2 = [{"id": 7, "created_at": 107}, {"id": 6, "created_at": 106}]


async def test_the_next_page_is_asked_for_ahead_and_aclose_cancels_it() -> None:
    walk = fake_walk([PAGE_1, PAGE_2, []], prefetch=True)
    assert await anext(walk) == 9
    assert len(walk.asked) == 2  # type: ignore[attr-defined]  # page 2 is on its way
    await walk.aclose()
    assert len(walk.asked) == 2  # type: ignore[attr-defined]


async def test_a_failed_page_ahead_is_raised_after_the_items_before_it() -> None:
    walk = fake_walk([PAGE_1, nt.APIConnectionError("reset"), PAGE_2, []], prefetch=True)
    assert [await anext(walk), await anext(walk)] == [9, 8]
    with pytest.raises(nt.APIConnectionError):
        await anext(walk)
    # The cursor did not move: the walk asks for the same page again and goes on.
    assert [item async for item in walk] == [7, 6]


async def test_an_abandoned_walk_leaves_no_unretrieved_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    walk = fake_walk([PAGE_1, nt.APIConnectionError("reset")], prefetch=True)
    assert await anext(walk) == 9
    await asyncio.sleep(0.05)  # the page ahead fails while nobody waits for it
    del walk
    gc.collect()  # a task's unretrieved exception is logged when it is collected
    assert "exception was never retrieved" not in caplog.text


async def test_tokens_are_the_same_with_and_without_the_page_ahead() -> None:
    config = NextTechEmulatorConfig(page_size=3)
    async with NextTechEmulator(config) as emu:
        # Groups of one to four items per second: boundaries cut through pages.
        emu.add_contents(1_700_000_000 + s + k / 10 for s in range(12) for k in range(s % 4 + 1))
        credentials = (emu.api_token, emu.secret_key)
        async with nt.NextTechSession(*credentials, base_url=emu.base_url) as s:
            tokens: dict[bool, list[tuple[int, str]]] = {}
            for prefetch in (False, True):
                walk = s.contents.iterate()
                assert isinstance(walk, Walk)
                walk._prefetch = prefetch
                tokens[prefetch] = [(c.id, walk.resume_token) async for c in walk]
                tokens[prefetch].append((0, walk.resume_token))
            assert tokens[True] == tokens[False]
            assert len(tokens[True]) == len(emu.contents_snapshot()) + 1
