"""The date-cursor walk as a pure state machine: no I/O, no clock.

Next Tech lists newest first and pages only by ``before``/``after`` (ISO 8601 with
milliseconds), answers ``created_at`` in whole seconds, keeps its page size to itself (it
may change from one request to the next), may drop items after applying its limit (so a
page can be short while more remain), and does not say whether its bounds are inclusive.
The walk therefore takes nothing from a page's *length*; it concludes only from what the
answers *contain*, using one fact about any answer to ``before=t``:

    The answer is the newest run of the items below ``t``. So if it holds an item known
    to lie below some instant ``x``, it holds every item between ``x`` and ``t``.

How the walk uses it:

* **Whole seconds.** The walk moves a *boundary second* ``hi`` downwards; everything
  newer than ``hi`` has been emitted. An answer holding an item of an older second proves
  ``hi`` complete (that item lies below all of ``hi``), and so every second between. Ids
  are remembered only inside ``hi`` (``seen``), so memory is bounded by the largest group
  of items sharing a second.
* **A second that holds more than one answer** (``crowded``). Below the proven part of
  ``hi`` sits its *top* ``t`` and the *page* at ``t``: the ids the last answer for
  ``before=t`` held in ``hi``. The walk asks ``before=b`` for a guess ``b < t`` inside
  ``hi``. An answer sharing an item with the page proves ``[b, t)`` complete (that item
  lies below ``b``): ``t`` moves down to ``b``. An answer sharing nothing lies wholly
  below the page; it is kept on a small stack, and the next guess goes between. When a
  later top's page shares an item with a stacked answer, the walk moves down to it
  without asking again. Every answer's unseen items of ``hi`` are emitted at once:
  the API shows no order within a second, so within a second items come in any order.
  Guesses are placed from the density of items seen so far (a bisection when there is
  none), so that most answers share about one item with the page before.
* **One instant left** (a *leaf*). When no instant separates the top from the stacked
  answer below it, the page holds items of one instant, which no query can split. Only
  here does length count: a leaf holding as many items as the largest page seen (and at
  least two) raises :class:`TieOverflowError`, after everything newer was emitted; a
  shorter one is taken as complete. Before raising, the walk asks once for the account's
  newest page (no bounds, no filters): a walk of a few items may never have seen a page
  as long as the server serves. It then asks the leaf's top and the stacked answer below
  it afresh, since items deleted meanwhile can make distinct items look tied.
* **The end.** An empty answer shows nothing older is left, and so does an answer that
  reaches below the range (sharded windows ask with the whole range's lower bound, so
  the next window's items close theirs).
* **Unknown inclusivity.** Guesses inside a second work whichever way the server reads
  ``before``: both answers of a proof are read with the same reading. The second-aligned
  cuts (``before`` at the end of a second, a window's own cut) are sent in the form that is
  right for exclusive bounds; an item that only an inclusive bound could return (it lies
  in a second the cut excludes) proves the bound inclusive, and the walk sends the
  inclusive form from then on. Leaked items are dropped, never emitted twice.

Known limits, inherent in what the API exposes: at one exact instant nothing but a page's
length can tell whether all its items were shown. So with page size 1, a second item
created in the very same millisecond as another cannot be reached; and a server that drops
items after its limit can hide items that share an instant with dropped ones, or that sit
behind a run of dropped items as long as the page (an empty page reads as "nothing older",
to any client). The walk never loops: a step that leaves the state unchanged raises
:class:`CursorStalledError`. It is one module over 400 lines because planning a query and
reading its answer are two halves of one state machine and share its helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import attrs

from .errors import CursorStalledError, TieOverflowError

Key = int | str
_MS_PER_SECOND = 1000
# What a stacked answer says once the walk's top reaches it: nothing (it held only items
# of the boundary second), "below" (it held older items: the second is complete), or
# "end" (it reached past the range, or was empty: nothing older is left).
_END_NONE, _END_BELOW, _END_RANGE = 0, 1, 2
_RECHECK_ASKED, _RECHECK_BELOW, _RECHECK_DONE = 1, 2, 3
# Density estimates forget the past once they span this many milliseconds, so a walk
# adapts when the data gets denser or sparser.
_RATE_WINDOW_MS = 4_000


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
    """The ``[after, before)`` range of one walk (either end may be open).

    ``floor`` is what queries send as ``after`` when ``after`` is one of our own cuts: the
    lower bound of the whole range a sharded window belongs to. The window still keeps
    only its own seconds, but an answer reaching below its cut then proves it finished.
    """

    after: Bound | None = None
    before: Bound | None = None
    floor: Bound | None = None


# A stacked answer: the ``before`` it was asked with, the ids it held in the boundary
# second, and what it says once the top reaches it (``_END_*``).
Stacked = tuple[int, frozenset[Key], int]


@attrs.frozen
class CursorState:
    """Where a walk stands.

    A resume token keeps what a resumed walk needs (the boundary second, the ids emitted in
    it, what was learned of the server; :func:`nexttech_async.resume_token.state_to_json`);
    the search inside a crowded second is not kept, a resumed walk starts it afresh and
    recognises emitted items by id.
    """

    hi: int | None = None
    hi_complete: bool = False
    seen: frozenset[Key] = frozenset()
    # The search inside a crowded boundary second (see the module docstring).
    top: int | None = None
    page: frozenset[Key] = frozenset()
    crowded: bool = False
    stack: tuple[Stacked, ...] = ()
    # A leaf about to raise is asked afresh first, its top and then the stacked answer
    # below it (``_RECHECK_*``): items deleted since either was read can make unrelated
    # items look like a tie.
    recheck: int = 0
    # Items and milliseconds of proven stretches inside crowded seconds: the density
    # guesses are placed by.
    rate_items: int = 0
    rate_span: int = 0
    before_inclusive: bool = False
    after_inclusive: bool = False
    page_hint: int = 0
    probing: bool = False
    probed: bool = False
    overflow: tuple[int, int, int] | None = None
    done: bool = False


class Query(NamedTuple):
    """The next request: date bounds in epoch ms (or the caller's own wire text), or a
    probe of the page size (the account's newest page, no bounds and no filters)."""

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
    """The query that moves the walk on from ``state``.

    Raises :class:`TieOverflowError` when the walk reached items it cannot separate: by
    then every item newer than them was emitted.
    """
    if state.overflow is not None:
        raise TieOverflowError(*state.overflow)
    if state.probing:
        return Query(None, None, probe=True)
    if state.hi is None:
        return _bounded_query(state, rng, None)
    if state.hi_complete:
        return _bounded_query(state, rng, state.hi * _MS_PER_SECOND)
    if state.crowded and state.recheck == _RECHECK_BELOW:
        return _raw_query(state, rng, state.stack[0][0])
    if not state.crowded or state.recheck == _RECHECK_ASKED:
        # The page at the top of the boundary second, asked afresh.
        if state.top is None:
            return _bounded_query(state, rng, (state.hi + 1) * _MS_PER_SECOND)
        return _raw_query(state, rng, state.top)
    return _raw_query(state, rng, _guess(state, rng))


def _bounded_query(state: CursorState, rng: WalkRange, upper_excl: int | None) -> Query:
    """``before`` at a second-aligned cut (or the caller's bound where it is tighter)."""
    before_ms: int | None = None
    before_wire: str | None = None
    top = rng.before
    # At an equal cut our own form wins: the instant there belongs to a second already done.
    if top is not None and (upper_excl is None or upper_excl > top.edge_ms):
        if top.is_own:
            before_ms = _own_before(state, top.edge_ms)
        else:
            before_ms, before_wire = top.ms, top.wire
    elif upper_excl is not None:
        before_ms = _own_before(state, upper_excl)
    after_ms, after_wire = _after(state, rng)
    return Query(before_ms, after_ms, before_wire, after_wire)


def _raw_query(state: CursorState, rng: WalkRange, before_ms: int) -> Query:
    """``before`` exactly as given: a guess inside a second, read however the server reads
    it (both answers of a proof are read alike)."""
    after_ms, after_wire = _after(state, rng)
    return Query(before_ms, after_ms, None, after_wire)


def _after(state: CursorState, rng: WalkRange) -> tuple[int | None, str | None]:
    """What to send as ``after``: the caller's bound, or a window's floor, or our own cut."""
    bottom = rng.after
    if bottom is not None and bottom.is_own and rng.floor is not None:
        bottom = rng.floor
    if bottom is None:
        return None, None
    if bottom.is_own:
        edge = bottom.edge_ms
        return (edge if state.after_inclusive else edge - 1), None
    return bottom.ms, bottom.wire


def _own_before(state: CursorState, upper_excl: int) -> int:
    return upper_excl - 1 if state.before_inclusive else upper_excl


# ------------------------------------------------------------ the crowded second


def _top_ms(state: CursorState, rng: WalkRange) -> int:
    """The top of the search as a number (the ``before`` its page was asked with)."""
    if state.top is not None:
        return state.top
    assert state.hi is not None
    top = _own_before(state, (state.hi + 1) * _MS_PER_SECOND)
    if rng.before is not None:
        top = min(top, rng.before.edge_ms)
    return top


def _floor_ms(state: CursorState, rng: WalkRange) -> int:
    """The lowest guess worth asking in the boundary second."""
    assert state.hi is not None
    floor = state.hi * _MS_PER_SECOND
    if rng.after is not None and not rng.after.is_own:
        floor = max(floor, rng.after.edge_ms)
    return floor


def _gap(state: CursorState, rng: WalkRange) -> tuple[int, int]:
    """The guesses still possible between the top and what lies below: ``[low, high]``."""
    high = _top_ms(state, rng) - 1
    low = state.stack[0][0] + 1 if state.stack else _floor_ms(state, rng)
    return low, high


def _leaf(state: CursorState, rng: WalkRange) -> bool:
    low, high = _gap(state, rng)
    return low > high


def _guess(state: CursorState, rng: WalkRange) -> int:
    """Where to ask next inside the gap: just above the page's oldest item, by estimate.

    The page's items sit at the top of the gap; at the density seen so far they span
    about ``len(page)`` item spacings. Aiming half a spacing short of that makes the answer
    likely to share one item with the page (the proof) and bring a page's worth of new
    ones. With no density known yet, or an estimate the gap already rules out, the gap is
    halved, so a search never takes more than about ten guesses per page.
    """
    low, high = _gap(state, rng)
    top = high + 1
    if state.rate_items > 0:
        spacing = state.rate_span / state.rate_items
        guess = top - round((len(state.page) - 0.5) * spacing)
        if guess >= low:
            return min(high, guess)
    return (low + top) // 2


def _with_rate(state: CursorState, items: int, span: int) -> CursorState:
    total_items, total_span = state.rate_items + items, state.rate_span + span
    if total_span > _RATE_WINDOW_MS:
        total_items, total_span = total_items // 2, total_span // 2
    return attrs.evolve(state, rate_items=total_items, rate_span=total_span)


# ----------------------------------------------------------------------- stepping


class _Sorted(NamedTuple):
    """A page's items by where they fall: in the boundary second, older, or past the range."""

    here: Sequence[int]
    older: Sequence[int]
    past_range: bool


def advance(state: CursorState, rng: WalkRange, page: Sequence[ItemRef]) -> Step:
    """Read the page answering ``plan(state, rng)``; say what to emit and what comes next.

    Raises :class:`CursorStalledError` rather than loop or skip.
    """
    if state.done:
        return Step((), state)
    if state.probing:
        probed = attrs.evolve(
            state, probing=False, probed=True, page_hint=max(state.page_hint, len(page))
        )
        return Step((), _settle(probed, rng))
    # A crowded state is never a leaf: ``_settle`` decided it before the query went out.
    asked = _guess(state, rng) if state.crowded and state.recheck in (0, _RECHECK_DONE) else None
    got, learned = _sort(state, rng, page)
    if len(page) > learned.page_hint:
        learned = attrs.evolve(learned, page_hint=len(page))
    if state.crowded and state.recheck == _RECHECK_BELOW:
        # The stacked answer asked afresh: it takes the old one's place.
        renewed = attrs.evolve(learned, stack=learned.stack[1:], recheck=_RECHECK_DONE)
        step = _after_guess(renewed, rng, page, got, state.stack[0][0])
    elif asked is not None:
        step = _after_guess(learned, rng, page, got, asked)
    else:
        step = _after_top(learned, rng, page, got)
    if step.state == state:
        raise CursorStalledError(
            "the server answered the same page to a query that should have moved past it "
            f"(boundary second {state.hi}); stopping instead of looping"
        )
    return step


def _sort(
    state: CursorState, rng: WalkRange, page: Sequence[ItemRef]
) -> tuple[_Sorted, CursorState]:
    """Sort the page's items; learn inclusivity from the ones that leaked past our cuts.

    An item newer than the walk's scope is explained only by an inclusive ``before``
    returning the item sitting exactly at our cut, i.e. in the very second of that cut.
    Anything else means the server did not apply a bound, and walking on could skip or
    repeat items.
    """
    top, bottom = _scope(state, rng)
    boundary = state.hi if state.hi is not None and not state.hi_complete else None
    if page:
        seconds = [item.second for item in page]
        newest, oldest = max(seconds), min(seconds)
        if (top is None or newest <= top) and (bottom is None or oldest >= bottom):
            # The usual page: every item in scope, newest first, so the boundary second's
            # items (if any) lead it.
            count = len(page)
            if boundary is None or newest < boundary:
                return _Sorted((), range(count), False), state
            if oldest == boundary:
                return _Sorted(range(count), (), False), state
            lead = 0
            while seconds[lead] == boundary:
                lead += 1
            if boundary not in seconds[lead:]:
                return _Sorted(range(lead), range(lead, count), False), state
            return (
                _Sorted(
                    [i for i, second in enumerate(seconds) if second == boundary],
                    [i for i, second in enumerate(seconds) if second != boundary],
                    False,
                ),
                state,
            )
    query = plan(state, rng)
    here: list[int] = []
    older: list[int] = []
    past_range = False
    before_inclusive, after_inclusive = state.before_inclusive, state.after_inclusive
    for index, item in enumerate(page):
        if top is not None and item.second > top:
            if query.before_ms is None or item.second != query.before_ms // _MS_PER_SECOND:
                raise CursorStalledError(
                    f"the server returned an item of second {item.second} for before="
                    f"{query.before_wire or query.before_ms}; it does not apply the bound"
                )
            before_inclusive = before_inclusive or query.before_wire is None
        elif bottom is not None and item.second < bottom:
            if rng.floor is not None:
                past_range = True  # the next window's: this one is finished below here
                continue
            if query.after_ms is None or item.second != query.after_ms // _MS_PER_SECOND:
                raise CursorStalledError(
                    f"the server returned an item of second {item.second} for after="
                    f"{query.after_wire or query.after_ms}; it does not apply the bound"
                )
            after_inclusive = after_inclusive or query.after_wire is None
        elif item.second == boundary:
            here.append(index)
        else:
            older.append(index)
    learned = attrs.evolve(
        state, before_inclusive=before_inclusive, after_inclusive=after_inclusive
    )
    return _Sorted(here, older, past_range), learned


def _scope(state: CursorState, rng: WalkRange) -> tuple[int | None, int | None]:
    """The seconds (inclusive, either may be open) an answer may contribute right now."""
    top = None if state.hi is None else state.hi - int(state.hi_complete)
    bottom: int | None = None
    if rng.before is not None and rng.before.is_own:
        cap = rng.before.edge_ms // _MS_PER_SECOND - 1
        top = cap if top is None else min(top, cap)
    if rng.after is not None and rng.after.is_own:
        bottom = rng.after.edge_ms // _MS_PER_SECOND
    return top, bottom


def _after_top(
    state: CursorState, rng: WalkRange, page: Sequence[ItemRef], got: _Sorted
) -> Step:
    """An answer to ``before`` = the top (or the range's start, or below a complete second)."""
    seen = state.seen
    here = [i for i in got.here if page[i].key not in seen] if seen else got.here
    if got.older:
        return Step((*here, *got.older), _enter(state, rng, page, got))
    if got.past_range or not got.here:
        # Nothing older is left in the range (an empty answer, or one reaching past it). An
        # answer of only leaked items has changed what was learned: ask again, corrected.
        leaked = bool(page) and not got.past_range
        return Step(tuple(here), state if leaked else _finish(state, done=True))
    ids = frozenset(page[i].key for i in got.here)
    if len(got.here) < len(page):
        # Items leaked through our cut took part of the page: what is left of the second
        # is no page of its own. Ask again, in the form just learned.
        return Step(tuple(here), attrs.evolve(state, seen=seen | ids))
    # Only items of the boundary second: it holds at least this answer. Search it. (A leaf
    # asked again goes by the fresh answer alone: items deleted since the first one must
    # not make a tie look fuller than it is.)
    new = attrs.evolve(
        state,
        seen=seen | ids,
        top=_top_ms(state, rng),
        page=ids,
        crowded=True,
        recheck=(_RECHECK_BELOW if state.stack else _RECHECK_DONE) if state.crowded else 0,
    )
    return Step(tuple(here), _settle(new, rng))


def _after_guess(
    state: CursorState, rng: WalkRange, page: Sequence[ItemRef], got: _Sorted, asked: int
) -> Step:
    """An answer to a guess ``before=asked`` below the top of a crowded second."""
    ids = frozenset(page[i].key for i in got.here)
    here = tuple(i for i in got.here if page[i].key not in state.seen)
    top = _top_ms(state, rng)
    new = attrs.evolve(state, seen=state.seen | ids)
    if ids and state.hi is not None and asked == state.hi * _MS_PER_SECOND:
        # ``before`` at the very start of the second returned items of it: it is inclusive.
        new = attrs.evolve(new, before_inclusive=True)
    if ids & state.page:
        # Proven: every item in [asked, top) is in the page (those not in this answer lie
        # there, which is what the density is estimated from).
        new = _with_rate(new, len(state.page - ids), top - asked)
        if got.older:
            # The answer also reached below the second: it is complete, and the answer's
            # older items are the page below it.
            return Step((*here, *got.older), _enter(new, rng, page, got))
        if got.past_range or not ids:
            return Step(here, _finish(new, done=True))
        return Step(here, _settle(_reach(new, asked, ids, _END_NONE), rng))
    # Wholly below the page: keep it, and look between.
    if got.older:
        end = _END_BELOW
    elif got.past_range or not ids:
        end = _END_RANGE
    else:
        end = _END_NONE
    new = attrs.evolve(new, stack=((asked, ids, end), *state.stack))
    return Step(here, _settle(new, rng))


def _reach(state: CursorState, top: int, ids: frozenset[Key], end: int) -> CursorState:
    """Move the top of the search down to ``top``, whose answer held ``ids``."""
    if end == _END_RANGE:
        return _finish(state, done=True)
    if end == _END_BELOW:
        return _finish(state, done=False)
    return attrs.evolve(state, top=top, page=ids, recheck=0)


def _finish(state: CursorState, *, done: bool) -> CursorState:
    """The boundary second is complete (and, if ``done``, nothing older is left)."""
    return attrs.evolve(
        state,
        hi_complete=state.hi is not None,
        top=None,
        page=frozenset(),
        crowded=False,
        stack=(),
        recheck=0,
        done=done,
    )


def _settle(state: CursorState, rng: WalkRange) -> CursorState:
    """Take every step that needs no request: move down to stacked answers the page now
    reaches, and decide the leaves that need no second look."""
    while state.crowded and not state.hi_complete:
        if state.stack and state.page & state.stack[0][1]:
            top, ids, end = state.stack[0]
            state = _reach(attrs.evolve(state, stack=state.stack[1:]), top, ids, end)
            continue
        if not _leaf(state, rng):
            break
        count = len(state.page)
        if count >= 2 and count >= state.page_hint:
            if not state.probed:
                # Every answer so far may have been short: one look at the account's
                # newest page shows whether the server serves more than this.
                return attrs.evolve(state, probing=True)
            if state.recheck == 0:
                return attrs.evolve(state, recheck=_RECHECK_ASKED)
            if state.recheck != _RECHECK_DONE:
                break  # the stacked answer is asked afresh next
            # The one instant left: [b, t) read exclusively, (b, t] inclusively.
            low, high = _gap(state, rng)
            exact = high + 1 if state.before_inclusive else low - 1
            instant = exact if state.stack else low
            return attrs.evolve(state, overflow=(instant, count, state.page_hint))
        # Taken as complete (see the module docstring): go on below it.
        if not state.stack:
            return _finish(state, done=False)
        top, ids, end = state.stack[0]
        state = _reach(attrs.evolve(state, stack=state.stack[1:]), top, ids, end)
    return state


def _enter(
    state: CursorState, rng: WalkRange, page: Sequence[ItemRef], got: _Sorted
) -> CursorState:
    """An answer reached below the boundary second: the oldest second it holds is next."""
    oldest = min(page[i].second for i in got.older)
    ids = frozenset(page[i].key for i in got.older if page[i].second == oldest)
    if got.past_range:
        return attrs.evolve(_finish(state, done=True), hi=oldest, seen=ids)
    # The answer's items of that second are the page below its end. If the answer held
    # nothing newer, they are all it held, so the second holds at least that much: search
    # it rather than ask for the same page again.
    whole = len(ids) == len(page)
    new = attrs.evolve(
        state,
        hi=oldest,
        hi_complete=False,
        seen=ids,
        top=None,
        page=ids,
        crowded=whole,
        stack=(),
        recheck=0,
    )
    return _settle(new, rng) if whole else new
