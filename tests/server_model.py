"""An in-memory model of the Next Tech listing, for testing the pure cursor.

Deliberately separate from the emulator: it is the test oracle's own reading of the
contract (newest first by exact time, the first ``limit`` items of the window, bounds
inclusive or exclusive, ``created_at`` shown in whole seconds). The limit may change
from one request to the next (``sizes``), and with ``filter_after_limit`` the hidden
items are dropped only after the limit was applied, so a page may be short or empty
while more items remain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from nexttech_async.cursor import (
    CursorState,
    ItemRef,
    Query,
    WalkRange,
    advance,
    plan,
)


def cycle(sizes: Sequence[int]) -> Callable[[int], int]:
    """A page-size schedule: request ``n`` (from 0) gets ``sizes[n % len(sizes)]``."""
    return lambda n: sizes[n % len(sizes)]


@attrs.define
class Model:
    page_size: int
    before_inclusive: bool
    after_inclusive: bool
    items: list[tuple[int, int]] = attrs.field(factory=list)  # (id, created ms)
    requests: int = 0
    sizes: Callable[[int], int] | None = None
    hidden: set[int] = attrs.field(factory=set)
    filter_after_limit: bool = False
    queries: list[Query] = attrs.field(factory=list)

    def answer(self, query: Query) -> list[ItemRef]:
        limit = self.sizes(self.requests) if self.sizes is not None else self.page_size
        self.requests += 1
        self.queries.append(query)
        matches = [
            (key, ms)
            for key, ms in self.items
            if query.probe or (self._below(ms, query.before_ms) and self._above(ms, query.after_ms))
        ]
        matches.sort(key=lambda it: (it[1], it[0]), reverse=True)
        if self.filter_after_limit:
            matches = [m for m in matches[:limit] if m[0] not in self.hidden]
        else:
            matches = [m for m in matches if m[0] not in self.hidden][:limit]
        return [ItemRef(key, ms // 1000) for key, ms in matches]

    def _below(self, ms: int, before: int | None) -> bool:
        if before is None:
            return True
        return ms <= before if self.before_inclusive else ms < before

    def _above(self, ms: int, after: int | None) -> bool:
        if after is None:
            return True
        return ms >= after if self.after_inclusive else ms > after

    def truth(self, rng: WalkRange) -> list[tuple[int, int]]:
        """Every visible item the range holds (with the server's own reading of user bounds)."""
        before = rng.before.edge_ms if rng.before else None
        after = rng.after.edge_ms if rng.after else None
        inside = [
            (key, ms)
            for key, ms in self.items
            if self._below(ms, before) and self._above(ms, after) and key not in self.hidden
        ]
        return sorted(inside, key=lambda it: (it[1], it[0]), reverse=True)


def walk(
    model: Model,
    rng: WalkRange,
    *,
    state: CursorState | None = None,
    stop_after: int | None = None,
    on_query: Callable[[int], None] | None = None,
    max_requests: int = 50_000,
    out: list[ItemRef] | None = None,
) -> tuple[list[ItemRef], CursorState]:
    """Run the cursor against the model; stop after ``stop_after`` pages if given.

    Emitted items are appended to ``out`` as they come, so a caller still has them when
    the walk raises.
    """
    state = state or CursorState()
    out = [] if out is None else out
    pages = 0
    while not state.done:
        if stop_after is not None and pages >= stop_after:
            break
        if on_query is not None:
            on_query(model.requests)
        page = model.answer(plan(state, rng))
        step = advance(state, rng, page)
        out.extend(page[i] for i in step.emit)
        state = step.state
        pages += 1
        assert model.requests < max_requests, "the walk did not terminate"
    return out, state
