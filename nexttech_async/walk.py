"""The I/O shell around the cursor: fetch a page, let the cursor read it, yield items.

:class:`Walk` is what ``contents.iterate()`` and ``grades.iterate()`` return: an async
iterator over the whole range, newest first, whose ``resume_token`` after any item lets
another process continue with the same guarantees.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from edu_async_core.reading import Response

from .cursor import CursorState, ItemRef, Query, WalkRange, advance, plan
from .errors import FAMILY
from .filters import Filters
from .resume_token import encode_token

M = TypeVar("M")


FetchPage = Callable[[Query, Filters], Awaitable[tuple[list[Any], Response]]]
Structure = Callable[[Any, Response], M]
"""One raw item of a page and the answer it came in, read as the model, or the SDK's
typed bad response (the listing's ``ModelReader.read``)."""

logger = logging.getLogger("nexttech_async")


def item_ref(item: Any, response: Response) -> ItemRef:
    """The id and whole-second ``created_at`` of a listed item, or a typed bad response."""
    if isinstance(item, dict):
        key = item.get("id")
        if key is None or isinstance(key, bool) or not isinstance(key, int | str):
            key = item.get("identifier")
        created = item.get("created_at")
        if (
            key is not None
            and not isinstance(key, bool)
            and isinstance(key, int | str)
            and isinstance(created, int | float)
            and not isinstance(created, bool)
        ):
            return ItemRef(key, int(created // 1))
    raise FAMILY.bad_response(
        "a listed item has no usable id and integer created_at: "
        f"{json.dumps(item, default=str)[:120]}",
        status=response.status,
        context=response.context,
    )


def page_refs(items: Sequence[Any], response: Response) -> list[ItemRef]:
    """``item_ref`` of every item of a page, the usual shape (objects with integer ``id``
    and ``created_at``) in a few passes that mostly run in C."""
    try:
        keys = [item["id"] for item in items]
        seconds = [item["created_at"] for item in items]
    except (KeyError, TypeError, IndexError):
        keys = seconds = []
    if (
        len(keys) == len(items)
        and set(map(type, items)) <= _DICT
        and set(map(type, keys)) <= _INT
        and set(map(type, seconds)) <= _INT
    ):
        return list(map(_new_ref, zip(keys, seconds, strict=True)))
    return [item_ref(item, response) for item in items]


_DICT: frozenset[type] = frozenset({dict})
_INT: frozenset[type] = frozenset({int})
_new_ref = functools.partial(tuple.__new__, ItemRef)  # ItemRef((key, second)), from C


class Position:
    """Where a resumed walk would start: right after the last item handed out.

    The cursor may already be a page further on; this keeps the boundary second of the
    last item and the ids handed out in it (the cursor's own dedupe set). Handing out an
    item costs O(1); the state is only built when a token is asked for.
    """

    __slots__ = ("_base", "_hi", "_seen")

    def __init__(self, state: CursorState) -> None:
        self._base: CursorState | None = state  # a settled state, or None after an item
        self._hi = state.hi
        self._seen: set[Any] = set(state.seen)

    def handed_out(self, ref: ItemRef) -> None:
        base = self._base
        if ref.second != self._hi or (base is not None and base.hi_complete):
            self._seen = set()
            self._hi = ref.second
        self._seen.add(ref.key)
        self._base = None

    def handed_out_run(self, refs: Sequence[ItemRef], start: int, stop: int) -> None:
        """The same as ``handed_out(r)`` for each of ``refs[start:stop]`` in turn, in time
        proportional to the items sharing the last one's second."""
        if start >= stop:
            return
        self.handed_out(refs[start])
        last = refs[stop - 1].second
        first_of_run = stop - 1
        while first_of_run > start and refs[first_of_run - 1].second == last:
            first_of_run -= 1
        if first_of_run > start:  # the second changed on the way: a fresh boundary
            self._seen = set()
            self._hi = last
        else:
            first_of_run = start + 1  # refs[start] is already in
        seen = self._seen
        for i in range(first_of_run, stop):
            seen.add(refs[i].key)

    def settle(self, state: CursorState) -> None:
        """Nothing is pending: the cursor's own state is the resume point."""
        self._base = state
        self._hi = state.hi
        self._seen = set(state.seen)

    def state(self, facts: CursorState) -> CursorState:
        """The resume state, with what the walk learned about the server from ``facts``.

        A resumed walk asks for its boundary second afresh and recognises the items
        handed out in it by id; the search inside the second is not carried over.
        """
        own = self._base or CursorState(hi=self._hi)
        return CursorState(
            hi=own.hi,
            hi_complete=own.hi_complete,
            seen=frozenset(self._seen),
            before_inclusive=facts.before_inclusive,
            after_inclusive=facts.after_inclusive,
            page_hint=facts.page_hint,
            done=own.done,
        )


class AsyncWalk(abc.ABC, Generic[M]):
    """What ``iterate()`` returns: ``async for`` over items, and a ``resume_token``."""

    def __aiter__(self) -> AsyncWalk[M]:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> M: ...

    @property
    @abc.abstractmethod
    def resume_token(self) -> str:
        """A small JSON text: pass it as ``iterate(resume=...)`` to continue after the last
        item handed out, in this process or another, with the same guarantees."""

    async def aclose(self) -> None:
        """Stop the walk early: cancel what it has asked for ahead of the caller."""

    async def __aenter__(self) -> AsyncWalk[M]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # ``break`` out of ``async for`` does not close an iterator: this does.
        await self.aclose()


class Walk(AsyncWalk[M]):
    """All items of a range, newest first, each exactly once (see ``cursor.py``).

    A page is read as a whole by the cursor; its items are then handed out by index, each
    read into its model at its turn, so handing out an item costs O(1) and an item that
    cannot be read fails at its turn, after the ones before it. With ``prefetch`` the
    next page is asked for as soon as a page has been read, so the server works while the
    caller consumes: one request ahead at most, cancelled by ``aclose()``; its failure is
    raised when the walk reaches it, after every item before it.
    """

    def __init__(
        self,
        *,
        kind: str,
        fetch: FetchPage,
        structure: Structure[M],
        rng: WalkRange,
        filters: Filters,
        state: CursorState | None = None,
        prefetch: bool = False,
    ) -> None:
        self.kind = kind
        self._fetch = fetch
        self._structure = structure
        self.range = rng
        self.filters = filters
        self._state = state or CursorState()
        self._prefetch = prefetch
        self._pending: asyncio.Task[tuple[Query, list[Any], Response]] | None = None
        # The page being handed out: its items to emit, their refs, and how many were
        # handed out / are known to the position so far.
        self._page: list[Any] = []
        self._page_refs: list[ItemRef] = []
        self._response: Response | None = None
        self._next = 0
        self._folded = 0
        self._position = Position(self._state)
        self._primed: tuple[Query, list[Any], Response] | None = None
        self.pages = 0

    def prime(self, query: Query, items: list[Any], response: Response) -> None:
        """Hand the walk an answer already fetched; it is used instead of asking again if
        it answers exactly the walk's next query (a sharded walk's planning page)."""
        self._primed = (query, items, response)

    @property
    def state(self) -> CursorState:
        """The cursor's state (it may be a page ahead of the items handed out)."""
        return self._state

    async def __anext__(self) -> M:
        i = self._next
        if i >= len(self._page):
            await self._turn_page()
            i = 0
        self._next = i + 1
        return self._structure(self._page[i], self._response)  # type: ignore[arg-type]

    async def next_with_ref(self) -> tuple[M, ItemRef]:
        """The next item and what the cursor knows of it (its id and second); a sharded
        walk's windows use it to keep their positions. ``StopAsyncIteration`` at the end."""
        item = await self.__anext__()
        return item, self._page_refs[self._next - 1]

    async def _turn_page(self) -> None:
        """Read pages until one has items to hand out; ``StopAsyncIteration`` at the end."""
        self._fold()
        while True:
            if self._state.done:
                self._position.settle(self._state)
                raise StopAsyncIteration
            query, items, response = await self._next_answer()
            self.pages += 1
            refs = page_refs(items, response)
            before = self._state
            step = advance(before, self.range, refs)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s cursor: page of %d for before=%s -> emit %d; boundary=%s "
                    "complete=%s crowded=%s",
                    self.kind,
                    len(items),
                    query.before_wire or query.before_ms,
                    len(step.emit),
                    step.state.hi,
                    step.state.hi_complete,
                    step.state.crowded,
                    extra={
                        "kind": self.kind,
                        "items": len(items),
                        "emitted": len(step.emit),
                        "boundary": step.state.hi,
                    },
                )
            self._state = step.state
            if self._prefetch and not step.state.done and step.state.overflow is None:
                self._start_fetch()
                # Let the request go out now: handing out a page never suspends, so
                # without this the task would only start when the page is used up.
                await asyncio.sleep(0)
            emit = step.emit
            if emit:
                if emit[-1] - emit[0] + 1 == len(emit):  # one run, as nearly always
                    self._page = items[emit[0] : emit[-1] + 1]
                    self._page_refs = refs[emit[0] : emit[-1] + 1]
                else:
                    self._page = [items[i] for i in emit]
                    self._page_refs = [refs[i] for i in emit]
                self._response = response
                self._next = self._folded = 0
                return
            self._position.settle(step.state)

    async def _next_answer(self) -> tuple[Query, list[Any], Response]:
        task, self._pending = self._pending, None
        if task is not None:
            return await task
        query = plan(self._state, self.range)
        primed, self._primed = self._primed, None
        if primed is not None and primed[0] == query:
            return primed
        return await self._fetch_page(query)

    async def _fetch_page(self, query: Query) -> tuple[Query, list[Any], Response]:
        items, response = await self._fetch(query, self.filters)
        return query, items, response

    def _start_fetch(self) -> None:
        task = asyncio.create_task(self._fetch_page(plan(self._state, self.range)))
        # Retrieved here so that a walk abandoned mid-page logs nothing; a walk that goes
        # on still gets the failure when it awaits the task.
        task.add_done_callback(_retrieve)
        self._pending = task

    def _fold(self) -> None:
        """Tell the position about the items handed out since it last heard."""
        if self._next > self._folded:
            self._position.handed_out_run(self._page_refs, self._folded, self._next)
            self._folded = self._next

    @property
    def resume_token(self) -> str:
        """Where this walk stands, just after the last item handed out (see
        :attr:`AsyncWalk.resume_token`)."""
        self._fold()
        state = self._position.state(self._state)
        return encode_token(self.kind, self.range, self.filters, state)

    async def aclose(self) -> None:
        """Cancel the page asked for ahead, if any (the walk itself may still go on)."""
        task, self._pending = self._pending, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
