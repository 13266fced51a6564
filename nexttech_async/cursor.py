"""The date-cursor walk as a pure state machine: no I/O, no clock.

Next Tech lists newest first and pages only by ``before``/``after`` (ISO 8601 with
milliseconds), answers ``created_at`` in whole seconds, keeps its page size to itself,
and does not say whether its bounds are inclusive. The walk copes as follows.

* **Whole seconds.** The walk moves a *boundary second* ``hi`` downwards. Every query
  asks for everything up to the end of ``hi``. When ``hi`` is known to be done
  (``hi_complete``), it asks for everything before the start of ``hi``. Items of the
  boundary second that were already emitted are recognised by id (``seen``); no other
  id is remembered, so memory is bounded by the largest group of items sharing a second.
* **Seconds above the oldest one in a page are complete.** The server orders by its
  own (finer) time, so every item newer than the page's last item is in the page. Only
  the page's oldest second can be cut short, and it becomes the next boundary.
* **Unknown inclusivity.** Our own bounds are sent in the form that is right for
  exclusive bounds (``before`` = the first instant *not* wanted, ``after`` = the last
  instant not wanted). If an item comes back that only an inclusive bound could return
  (it lies in a second our bound excludes), that proves the bound inclusive: the walk
  learns it and sends the inclusive form from then on. Leaked items are dropped, never
  emitted twice. The caller's own ``before``/``after`` are sent as they were given.
* **A page that is all one second.** If such a page is also full (as long as the
  longest page seen), the second may hold more than a page. It is then bisected into
  millisecond windows, queried newest first, and each window that comes back full is
  split again. A single-millisecond window that is still full triggers a probe of the
  page size (one unfiltered request), then raises :class:`TieOverflowError`, naming
  the instant and the count reached. The walk never loops: a step that leaves the
  state unchanged raises :class:`CursorStalledError`. It never skips silently, with
  the one exception below that no client can see.
* **Short pages do not end a walk.** The walk ends only when a query below the
  boundary returns nothing.

Known limits, inherent in what the API exposes: on a page-size-1 server, every query
that covers a millisecond returns the same one of the items created in it, so a second
item of that exact millisecond can be reached by no query at all, and it is not
detectable either (a one-item page is always "full"). Raising there would fail every
page-size-1 walk, so a single-item leaf is taken as complete: with page size 1 the
exactly-once guarantee holds for items at distinct milliseconds. The page size is
learned as the longest page seen, so a server that *shrinks* its page size during one
walk could make a crowded second look done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import attrs

from .errors import CursorStalledError, TieOverflowError

Key = int | str
_MS_PER_SECOND = 1000


class ItemRef(NamedTuple):
    """What the cursor needs of an item: its identity and its whole-second timestamp."""

    key: Key
    second: int


@attrs.frozen
class Bound:
    """One end of the walk's range.

    Either the caller's instant, sent verbatim (``wire``) and known as ``ms`` for
    comparisons, or one of our own second-aligned cuts (``second``, used by sharded
    walks): ``before=second`` keeps seconds ``< second``, ``after=second`` keeps ``>=``.
    """

    wire: str | None = None
    ms: int | None = None
    second: int | None = None

    @classmethod
    def user(cls, wire: str, ms: int) -> Bound:
        return cls(wire=wire, ms=ms)

    @classmethod
    def own(cls, second: int) -> Bound:
        return cls(second=second)

    @property
    def is_own(self) -> bool:
        return self.second is not None

    @property
    def edge_ms(self) -> int:
        """The instant this bound sits at, in epoch milliseconds."""
        if self.second is not None:
            return self.second * _MS_PER_SECOND
        assert self.ms is not None
        return self.ms


@attrs.frozen
class WalkRange:
    """The ``[after, before)`` range of one walk (either end may be open)."""

    after: Bound | None = None
    before: Bound | None = None


@attrs.frozen
class CursorState:
    """Where a walk stands; small and JSON-safe (see ``to_json``/``from_json``)."""

    hi: int | None = None
    hi_complete: bool = False
    seen: frozenset[Key] = frozenset()
    windows: tuple[tuple[int, int], ...] = ()
    before_inclusive: bool = False
    after_inclusive: bool = False
    page_hint: int = 0
    probe_pending: bool = False
    probed: bool = False
    leaf_stage: int = 0
    leaf_counts: tuple[int, ...] = ()
    family: str = ""
    done: bool = False

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {}
        if self.hi is not None:
            data["hi"] = self.hi
        if self.hi_complete:
            data["hc"] = True
        if self.seen:
            data["seen"] = sorted(self.seen, key=lambda k: (isinstance(k, str), k))
        if self.windows:
            data["win"] = [list(w) for w in self.windows]
        if self.before_inclusive:
            data["bi"] = True
        if self.after_inclusive:
            data["ai"] = True
        if self.page_hint:
            data["ph"] = self.page_hint
        if self.probed:
            data["pr"] = True
        if self.leaf_stage:
            data["ls"] = self.leaf_stage
            data["lc"] = list(self.leaf_counts)
        if self.family:
            data["fam"] = self.family
        if self.done:
            data["done"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> CursorState:
        """Rebuild a state; raises ``ValueError``/``TypeError`` on a malformed one."""
        hi = data.get("hi")
        if hi is not None and (isinstance(hi, bool) or not isinstance(hi, int)):
            raise TypeError("hi must be an int")
        seen_raw = data.get("seen", [])
        if not isinstance(seen_raw, list) or not all(
            isinstance(k, int | str) and not isinstance(k, bool) for k in seen_raw
        ):
            raise TypeError("seen must be a list of ids")
        windows_raw = data.get("win", [])
        if not isinstance(windows_raw, list):
            raise TypeError("win must be a list")
        windows: list[tuple[int, int]] = []
        for w in windows_raw:
            if (
                not isinstance(w, list)
                or len(w) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in w)
                or w[0] > w[1]
            ):
                raise ValueError("each window must be [lo, hi] with lo <= hi")
            windows.append((w[0], w[1]))
        if windows and hi is None:
            raise ValueError("windows need a boundary second")
        page_hint = data.get("ph", 0)
        if isinstance(page_hint, bool) or not isinstance(page_hint, int) or page_hint < 0:
            raise TypeError("ph must be a non-negative int")
        leaf_stage = data.get("ls", 0)
        leaf_counts = data.get("lc", [])
        if (
            leaf_stage not in (0, 1, 2, 3)
            or not isinstance(leaf_counts, list)
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in leaf_counts)
            or (leaf_stage and not windows)
        ):
            raise ValueError("malformed leaf calibration")
        family = data.get("fam", "")
        if family not in _FAMILIES:
            raise ValueError("unknown bound family")
        return cls(
            hi=hi,
            hi_complete=bool(data.get("hc", False)),
            seen=frozenset(seen_raw),
            windows=tuple(windows),
            before_inclusive=bool(data.get("bi", False)),
            after_inclusive=bool(data.get("ai", False)),
            page_hint=page_hint,
            probed=bool(data.get("pr", False)),
            leaf_stage=int(leaf_stage),
            leaf_counts=tuple(leaf_counts),
            family=str(family),
            done=bool(data.get("done", False)),
        )


class Query(NamedTuple):
    """The next request: date bounds in epoch ms (or the caller's wire text), or a probe."""

    before_ms: int | None
    after_ms: int | None
    before_wire: str | None = None
    after_wire: str | None = None
    probe: bool = False


class Step(NamedTuple):
    """What a page means: which of its items to emit, in order, and the state after it."""

    emit: tuple[int, ...]
    state: CursorState


# ----------------------------------------------------------------------- planning


def plan(state: CursorState, rng: WalkRange) -> Query:
    """The query that moves the walk on from ``state``."""
    if state.probe_pending:
        return Query(None, None, probe=True)
    if state.windows:
        lo, hi = state.windows[-1]
        if state.leaf_stage:
            return _calibration_query(state.leaf_stage, lo, rng)
        return _bounded_query(state, rng, upper_excl=hi + 1, lower_incl=lo)
    if state.hi is None:
        upper = None
    elif state.hi_complete:
        upper = state.hi * _MS_PER_SECOND
    else:
        upper = (state.hi + 1) * _MS_PER_SECOND
    return _bounded_query(state, rng, upper_excl=upper, lower_incl=None)


def _bounded_query(
    state: CursorState, rng: WalkRange, *, upper_excl: int | None, lower_incl: int | None
) -> Query:
    before_ms: int | None = None
    before_wire: str | None = None
    top = rng.before
    # At an equal cut our own form wins: the instant there belongs to a second or window
    # already done. For ``after`` the caller's wins: it decides what is in the range.
    if top is not None and (upper_excl is None or upper_excl > top.edge_ms):
        if top.is_own:
            before_ms = _own_before(state, top.edge_ms)
        else:
            before_ms, before_wire = top.ms, top.wire
    elif upper_excl is not None:
        before_ms = _own_before(state, upper_excl)

    after_ms: int | None = None
    after_wire: str | None = None
    bottom = rng.after
    if bottom is not None and (lower_incl is None or lower_incl <= bottom.edge_ms):
        if bottom.is_own:
            after_ms = _own_after(state, bottom.edge_ms)
        else:
            after_ms, after_wire = bottom.ms, bottom.wire
    elif lower_incl is not None:
        after_ms = _own_after(state, lower_incl)
    return Query(before_ms, after_ms, before_wire, after_wire)


# Calibration of a full one-millisecond leaf at m. Padded, the leaf was asked as
# (after=m-1, before=m+1), which is exact only if both bounds are exclusive. Three raw
# questions settle it. (m, m) returns exactly the items at m when both bounds are
# inclusive, and nothing otherwise. If it returned nothing, (m-1, m) and (m, m+1) are
# asked: under half-open bounds (either way round) each holds exactly one instant, one of
# them m; under inclusive bounds with nothing at m they hold the two neighbours; under
# exclusive bounds both are empty and the padded leaf was exact. In every case each
# answer covers a single instant, so a full answer is a real tie, and answers that are
# not full show the leaf complete.
_CALIBRATION = {1: (0, 0), 2: (-1, 0), 3: (0, 1)}
# What calibration proved, kept so later leaves ask less: "ii" both bounds inclusive (an
# answer to (m, m) came back), "ee" both exclusive (all three answers were empty).
_FAMILIES = ("", "ii", "ee")


def _calibration_query(stage: int, m: int, rng: WalkRange) -> Query:
    after_delta, before_delta = _CALIBRATION[stage]
    before_ms, after_ms = m + before_delta, m + after_delta
    before_wire = after_wire = None
    # Never look outside the caller's range: use their bound where it is tighter.
    if rng.before is not None and rng.before.edge_ms <= before_ms:
        before_ms, before_wire = rng.before.edge_ms, rng.before.wire
    if rng.after is not None and rng.after.edge_ms >= after_ms:
        after_ms, after_wire = rng.after.edge_ms, rng.after.wire
    return Query(before_ms, after_ms, before_wire, after_wire)


def _own_before(state: CursorState, upper_excl: int) -> int:
    return upper_excl - 1 if state.before_inclusive else upper_excl


def _own_after(state: CursorState, lower_incl: int) -> int:
    return lower_incl if state.after_inclusive else lower_incl - 1


# ----------------------------------------------------------------------- stepping


def advance(state: CursorState, rng: WalkRange, page: Sequence[ItemRef]) -> Step:
    """Read the page answering ``plan(state, rng)``; say what to emit and what comes next.

    Raises :class:`TieOverflowError` or :class:`CursorStalledError` rather than skip
    or loop.
    """
    if state.done:
        return Step((), state)
    if state.probe_pending:
        new = attrs.evolve(
            state, probe_pending=False, probed=True, page_hint=max(state.page_hint, len(page))
        )
        return Step((), new)
    step = _advance_window(state, rng, page) if state.windows else _advance_main(state, rng, page)
    if step.state == state:
        raise CursorStalledError(
            "the server answered the same page to a query that should have moved past it "
            f"(boundary second {state.hi}); stopping instead of looping"
        )
    return step


def _scope(state: CursorState, rng: WalkRange) -> tuple[int | None, int | None]:
    """The seconds (inclusive, either may be open) an answer may contribute right now."""
    if state.windows:
        top: int | None = state.hi
        bottom: int | None = state.hi
    else:
        bottom = None
        top = None if state.hi is None else state.hi - int(state.hi_complete)
    if rng.before is not None and rng.before.is_own:
        cap = rng.before.edge_ms // _MS_PER_SECOND - 1
        top = cap if top is None else min(top, cap)
    if rng.after is not None and rng.after.is_own:
        floor = rng.after.edge_ms // _MS_PER_SECOND
        bottom = floor if bottom is None else max(bottom, floor)
    return top, bottom


def _learn(
    state: CursorState, rng: WalkRange, page: Sequence[ItemRef]
) -> tuple[list[int], CursorState]:
    """Keep the items in scope; learn inclusivity from the ones that leaked past our bounds.

    An item outside the scope is explained only by an inclusive bound returning the item
    sitting exactly at our cut, i.e. in the very second of that cut. Anything else means
    the server did not apply a bound, and walking on could skip or repeat items.
    """
    top, bottom = _scope(state, rng)
    if page:
        seconds = [item.second for item in page]
        if (top is None or max(seconds) <= top) and (bottom is None or min(seconds) >= bottom):
            return list(range(len(page))), state  # the usual page: all in scope
    query = plan(state, rng)
    kept: list[int] = []
    before_inclusive, after_inclusive = state.before_inclusive, state.after_inclusive
    for index, item in enumerate(page):
        if top is not None and item.second > top:
            if query.before_ms is None or item.second != query.before_ms // _MS_PER_SECOND:
                raise CursorStalledError(
                    f"the server returned an item of second {item.second} for before="
                    f"{query.before_wire or query.before_ms}; it does not apply the bound"
                )
            before_inclusive = before_inclusive or query.before_wire is None
            continue
        if bottom is not None and item.second < bottom:
            if query.after_ms is None or item.second != query.after_ms // _MS_PER_SECOND:
                raise CursorStalledError(
                    f"the server returned an item of second {item.second} for after="
                    f"{query.after_wire or query.after_ms}; it does not apply the bound"
                )
            after_inclusive = after_inclusive or query.after_wire is None
            continue
        kept.append(index)
    return kept, attrs.evolve(
        state, before_inclusive=before_inclusive, after_inclusive=after_inclusive
    )


def _advance_main(state: CursorState, rng: WalkRange, page: Sequence[ItemRef]) -> Step:
    if not page:
        return Step((), attrs.evolve(state, done=True))
    kept, learned = _learn(state, rng, page)
    page_hint = max(state.page_hint, len(page))
    if not kept:
        return Step((), attrs.evolve(learned, page_hint=page_hint))
    boundary_open = state.hi is not None and not state.hi_complete
    if boundary_open:
        hi, known = state.hi, state.seen
        emit = tuple(i for i in kept if page[i].second != hi or page[i].key not in known)
    else:
        emit = tuple(kept)
    seconds = {page[i].second for i in kept}
    oldest = min(seconds)
    if len(seconds) == 1:
        carried = state.seen if boundary_open and oldest == state.hi else frozenset()
        seen = carried | {page[i].key for i in kept}
        if len(page) >= page_hint:
            # A full page inside one second: that second may hold more than a page.
            window = (oldest * _MS_PER_SECOND, oldest * _MS_PER_SECOND + _MS_PER_SECOND - 1)
            new = attrs.evolve(
                learned,
                hi=oldest,
                hi_complete=False,
                seen=seen,
                windows=(window,),
                page_hint=page_hint,
            )
        else:
            new = attrs.evolve(learned, hi=oldest, hi_complete=True, seen=seen, page_hint=page_hint)
        return Step(emit, new)
    seen = frozenset(page[i].key for i in kept if page[i].second == oldest)
    new = attrs.evolve(learned, hi=oldest, hi_complete=False, seen=seen, page_hint=page_hint)
    return Step(emit, new)


def _advance_window(state: CursorState, rng: WalkRange, page: Sequence[ItemRef]) -> Step:
    kept, learned = _learn(state, rng, page)
    emit = tuple(i for i in kept if page[i].key not in state.seen)
    seen = state.seen | {page[i].key for i in emit}
    page_hint = max(state.page_hint, len(page))
    base = attrs.evolve(learned, seen=seen, page_hint=page_hint)
    lo, hi = state.windows[-1]
    rest = state.windows[:-1]
    if state.leaf_stage:
        return Step(emit, _calibrate(state, base, lo, len(page), rest))
    if (learned.before_inclusive, learned.after_inclusive) != (
        state.before_inclusive,
        state.after_inclusive,
    ):
        return Step(emit, base)  # ask for the same window again, in the right form
    full = bool(page) and len(page) >= page_hint
    if not full:
        windows = rest
    elif lo < hi:
        mid = (lo + hi) // 2
        windows = (*rest, (lo, mid), (mid + 1, hi))  # the newer half is queried first
    elif not state.probed:
        # The page size may be larger than any page seen so far: ask once, then re-check.
        return Step(emit, attrs.evolve(base, probe_pending=True))
    elif state.family == "ee":
        # The padded leaf is exact: a full one-millisecond leaf is a real tie.
        if _leaf_full(len(page), page_hint):
            raise TieOverflowError(lo, len(kept), page_hint)
        windows = rest
    else:
        return Step(emit, attrs.evolve(base, leaf_stage=1, leaf_counts=(len(page),)))
    return Step(emit, _with_windows(base, windows))


def _leaf_full(count: int, page_hint: int) -> bool:
    """One instant's answer may hide more items. A lone item is taken as complete: with a
    page size of 1 nothing could show a second item at the very same instant."""
    return count >= page_hint and count >= 2


def _with_windows(state: CursorState, windows: tuple[tuple[int, int], ...]) -> CursorState:
    if windows:
        return attrs.evolve(state, windows=windows, leaf_stage=0, leaf_counts=())
    return attrs.evolve(state, windows=(), hi_complete=True, leaf_stage=0, leaf_counts=())


def _calibrate(
    state: CursorState,
    base: CursorState,
    m: int,
    count: int,
    rest: tuple[tuple[int, int], ...],
) -> CursorState:
    """One answer of the leaf calibration (see ``_CALIBRATION``): go on, finish, or raise."""
    page_hint = base.page_hint
    counts = (*state.leaf_counts, count)
    if state.leaf_stage == 1:
        if count == 0:
            if state.family == "ii":  # inclusive bounds and nothing at m: done
                return _with_windows(base, rest)
            return attrs.evolve(base, leaf_stage=2, leaf_counts=counts)
        if _leaf_full(count, page_hint):  # both bounds inclusive, and the instant is full
            raise TieOverflowError(m, count, page_hint)
        return _with_windows(attrs.evolve(base, family="ii"), rest)
    if state.leaf_stage == 2:
        return attrs.evolve(base, leaf_stage=3, leaf_counts=counts)
    padded, left, right = counts[0], counts[-2], counts[-1]
    if left == 0 and right == 0:  # both exclusive: the padded leaf was exact
        if _leaf_full(padded, page_hint):
            raise TieOverflowError(m, padded, page_hint)
        return _with_windows(attrs.evolve(base, family="ee"), rest)
    if _leaf_full(max(left, right), page_hint):  # a single instant is itself full
        raise TieOverflowError(m, max(left, right), page_hint)
    return _with_windows(base, rest)
