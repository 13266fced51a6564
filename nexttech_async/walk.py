"""The I/O shell around the cursor: fetch a page, let the cursor read it, yield items.

:class:`Walk` is what ``contents.iterate()`` and ``grades.iterate()`` return: an async
iterator over the whole range, newest first, whose ``resume_token`` after any item lets
another process continue with the same guarantees.
"""

from __future__ import annotations

import abc
import collections
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from edu_async_core.errors import InvalidArgumentError
from edu_async_core.responses import Response

from .cursor import Bound, CursorState, ItemRef, Query, WalkRange, advance, plan
from .errors import FAMILY
from .filters import Filters

M = TypeVar("M")

TOKEN_VERSION = 1

FetchPage = Callable[[Query, Filters], Awaitable[tuple[list[Any], Response]]]
Structure = Callable[[Any, Response], M]

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


class Position:
    """Where a resumed walk would start: right after the last item handed out.

    The cursor may already be a page further on; this keeps the boundary second of the
    last item and the ids handed out in it (the cursor's own dedupe set). Handing out an
    item costs O(1); the state is only built when a token is asked for.
    """

    __slots__ = ("_base", "_hi", "_seen", "_windows")

    def __init__(self, state: CursorState) -> None:
        self._base: CursorState | None = state  # a settled state, or None after an item
        self._hi = state.hi
        self._windows = state.windows
        self._seen: set[Any] = set(state.seen)

    def handed_out(self, ref: ItemRef, windows: tuple[tuple[int, int], ...] = ()) -> None:
        base = self._base
        if ref.second != self._hi or (base is not None and base.hi_complete):
            self._seen = set()
            self._hi = ref.second
        self._seen.add(ref.key)
        self._windows = windows
        self._base = None

    def settle(self, state: CursorState) -> None:
        """Nothing is pending: the cursor's own state is the resume point."""
        self._base = state
        self._hi = state.hi
        self._windows = state.windows
        self._seen = set(state.seen)

    def state(self, facts: CursorState) -> CursorState:
        """The resume state, with what the walk learned about the server from ``facts``."""
        own = self._base or CursorState(hi=self._hi, windows=self._windows)
        return attrs.evolve(
            own,
            seen=frozenset(self._seen),
            before_inclusive=facts.before_inclusive,
            after_inclusive=facts.after_inclusive,
            family=facts.family,
            page_hint=facts.page_hint,
            probed=facts.probed,
            probe_pending=False,
            leaf_stage=0,  # a resumed walk asks its current leaf afresh
            leaf_counts=(),
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
        """Stop the walk early (a no-op for a sequential walk)."""

    async def __aenter__(self) -> AsyncWalk[M]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # ``break`` out of ``async for`` does not close an iterator: this does.
        await self.aclose()


class Walk(AsyncWalk[M]):
    """All items of a range, newest first, each exactly once (see ``cursor.py``)."""

    def __init__(
        self,
        *,
        kind: str,
        fetch: FetchPage,
        structure: Structure[M],
        rng: WalkRange,
        filters: Filters,
        state: CursorState | None = None,
    ) -> None:
        self.kind = kind
        self._fetch = fetch
        self._structure = structure
        self.range = rng
        self.filters = filters
        self._state = state or CursorState()
        self._buffer: collections.deque[tuple[Any, ItemRef, CursorState, Response]] = (
            collections.deque()
        )
        self._position = Position(self._state)
        self.pages = 0

    @property
    def state(self) -> CursorState:
        """The cursor's state (it may be a page ahead of the items handed out)."""
        return self._state

    async def __anext__(self) -> M:
        item, _ = await self.next_with_ref()
        return item

    async def next_with_ref(self) -> tuple[M, ItemRef]:
        while not self._buffer:
            if self._state.done:
                self._position.settle(self._state)
                raise StopAsyncIteration
            await self._next_page()
        raw, ref, before, response = self._buffer.popleft()
        self._position.handed_out(ref, before.windows)
        return self._structure(raw, response), ref

    async def _next_page(self) -> None:
        query = plan(self._state, self.range)
        items, response = await self._fetch(query, self.filters)
        self.pages += 1
        refs = [item_ref(item, response) for item in items]
        before = self._state
        step = advance(before, self.range, refs)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s cursor: page of %d -> emit %d; boundary=%s complete=%s windows=%d%s",
                self.kind,
                len(items),
                len(step.emit),
                step.state.hi,
                step.state.hi_complete,
                len(step.state.windows),
                " (page-size probe)" if query.probe else "",
            )
        self._state = step.state
        if not step.emit:
            self._position.settle(step.state)
        for i in step.emit:
            self._buffer.append((items[i], refs[i], before, response))

    @property
    def resume_token(self) -> str:
        state = self._position.state(self._state)
        return encode_token(self.kind, self.range, self.filters, state)


def _bound_json(bound: Bound | None) -> Any:
    if bound is None:
        return None
    if bound.is_own:
        return {"s": bound.second}
    return {"w": bound.wire, "ms": bound.ms}


def _bound_from_json(value: Any) -> Bound | None:
    if value is None:
        return None
    if isinstance(value, dict):
        if isinstance(value.get("s"), int):
            return Bound.own(value["s"])
        if isinstance(value.get("w"), str) and isinstance(value.get("ms"), int):
            return Bound.user(value["w"], value["ms"])
    raise ValueError("malformed bound")


def encode_token(kind: str, rng: WalkRange, filters: Filters, state: CursorState) -> str:
    data = {
        "v": TOKEN_VERSION,
        "k": kind,
        "f": filters.to_json(),
        "a": _bound_json(rng.after),
        "b": _bound_json(rng.before),
        "s": state.to_json(),
    }
    return json.dumps(data, separators=(",", ":"))


def decode_token(token: object, kind: str) -> tuple[WalkRange, Filters, CursorState]:
    """Read a resume token; a clear ``InvalidArgumentError`` naming ``resume`` otherwise."""
    if not isinstance(token, str):
        raise InvalidArgumentError("resume", f"expected a token string, got {type(token).__name__}")
    try:
        data = json.loads(token)
        if not isinstance(data, Mapping) or data.get("v") != TOKEN_VERSION:
            raise ValueError("unknown token version")
        if data.get("k") != kind:
            raise ValueError(f"the token is for {data.get('k')!r}, not {kind!r}")
        rng = WalkRange(
            after=_bound_from_json(data.get("a")), before=_bound_from_json(data.get("b"))
        )
        filters = Filters.from_json(data.get("f") or {})
        state = CursorState.from_json(data.get("s") or {})
    except InvalidArgumentError:
        raise
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidArgumentError("resume", f"not a valid resume token: {exc}") from None
    return rng, filters, state
