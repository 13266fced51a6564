"""An in-memory model of the Next Tech listing, for testing the pure cursor.

Deliberately separate from the emulator: it is the test oracle's own reading of the
contract (newest first by exact time, first ``page_size`` matches, bounds inclusive or
exclusive, ``created_at`` shown in whole seconds).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from nexttech_async.cursor import (
    CursorState,
    ItemRef,
    Query,
    WalkRange,
    advance,
    plan,
)


@attrs.define
class Model:
    page_size: int
    before_inclusive: bool
    after_inclusive: bool
    items: list[tuple[int, int]] = attrs.field(factory=list)  # (id, created ms)
    requests: int = 0

    def answer(self, query: Query) -> list[ItemRef]:
        self.requests += 1
        if query.probe:
            matches = list(self.items)
        else:
            matches = [
                (key, ms)
                for key, ms in self.items
                if self._below(ms, query.before_ms) and self._above(ms, query.after_ms)
            ]
        matches.sort(key=lambda it: (it[1], it[0]), reverse=True)
        return [ItemRef(key, ms // 1000) for key, ms in matches[: self.page_size]]

    def _below(self, ms: int, before: int | None) -> bool:
        if before is None:
            return True
        return ms <= before if self.before_inclusive else ms < before

    def _above(self, ms: int, after: int | None) -> bool:
        if after is None:
            return True
        return ms >= after if self.after_inclusive else ms > after

    def truth(self, rng: WalkRange) -> list[tuple[int, int]]:
        """Every item the range holds (with the server's own reading of user bounds)."""
        before = rng.before.edge_ms if rng.before else None
        after = rng.after.edge_ms if rng.after else None
        inside = [
            (key, ms)
            for key, ms in self.items
            if self._below(ms, before) and self._above(ms, after)
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
) -> tuple[list[ItemRef], CursorState]:
    """Run the cursor against the model; stop after ``stop_after`` pages if given."""
    state = state or CursorState()
    out: list[ItemRef] = []
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
