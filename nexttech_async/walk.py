"""The I/O shell around the cursor: fetch a page, let the cursor read it, yield items.

:class:`Walk` is what ``contents.iterate()`` and ``grades.iterate()`` return: an async
iterator over the whole range, newest first, whose ``resume_token`` after any item lets
another process continue with the same guarantees.
"""

from __future__ import annotations

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


class Walk(Generic[M]):
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
        self._kind = kind
        self._fetch = fetch
        self._structure = structure
        self._rng = rng
        self._filters = filters
        self._state = state or CursorState()
        self._buffer: collections.deque[tuple[Any, ItemRef, CursorState, Response]] = (
            collections.deque()
        )
        # The resume point: the cursor state as if the walk had stopped right after the
        # last item handed out (the cursor itself may be a page further on). Its ``seen``
        # lives in a mutable set so that handing out an item costs O(1).
        self._tok = self._state
        self._tok_seen: set[Any] = set(self._state.seen)
        self.pages = 0

    def __aiter__(self) -> Walk[M]:
        return self

    async def __anext__(self) -> M:
        while not self._buffer:
            if self._state.done:
                self._quiet(self._state)
                raise StopAsyncIteration
            await self._next_page()
        raw, ref, before, response = self._buffer.popleft()
        if (
            ref.second != self._tok.hi
            or self._tok.hi_complete
            or self._tok.windows != before.windows
        ):
            boundary_open = before.hi == ref.second and not before.hi_complete
            self._tok_seen = set(before.seen) if boundary_open else set()
            self._tok = CursorState(hi=ref.second, windows=before.windows)
        self._tok_seen.add(ref.key)
        return self._structure(raw, response)

    async def _next_page(self) -> None:
        query = plan(self._state, self._rng)
        items, response = await self._fetch(query, self._filters)
        self.pages += 1
        refs = [item_ref(item, response) for item in items]
        before = self._state
        step = advance(before, self._rng, refs)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s cursor: page of %d -> emit %d; boundary=%s complete=%s windows=%d%s",
                self._kind,
                len(items),
                len(step.emit),
                step.state.hi,
                step.state.hi_complete,
                len(step.state.windows),
                " (page-size probe)" if query.probe else "",
            )
        self._state = step.state
        if not step.emit:
            self._quiet(step.state)
        for i in step.emit:
            self._buffer.append((items[i], refs[i], before, response))

    def _quiet(self, state: CursorState) -> None:
        """Nothing handed out since ``state``: it is itself a valid resume point."""
        self._tok = state
        self._tok_seen = set(state.seen)

    @property
    def resume_token(self) -> str:
        """A small JSON text: pass it as ``iterate(resume=...)`` to continue after the last
        item this walk handed out, in this process or another, with the same guarantees."""
        state = attrs.evolve(
            self._tok,
            seen=frozenset(self._tok_seen),
            before_inclusive=self._state.before_inclusive,
            after_inclusive=self._state.after_inclusive,
            page_hint=self._state.page_hint,
            probed=self._state.probed,
            probe_pending=False,
        )
        return encode_token(self._kind, self._rng, self._filters, state)


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
