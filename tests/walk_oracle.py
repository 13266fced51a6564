"""What a complete walk must return, given the server's items at its start (both property
suites, the pure cursor's and the emulator's, judge walks with this).

An *ambiguous instant* is one exact millisecond holding at least two items (shown or
hidden) and at least as many as the smallest page the server may serve, or as the
account's newest page then holds: no client can tell such a group from a full page, so
only its items may be missed, and only there may a walk raise ``TieOverflowError``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def ambiguous_instants(
    raw: Iterable[tuple[int, int]], hidden: set[int], smallest: int, *, after_limit: bool
) -> set[int]:
    """``raw``: every stored (id, created ms), hidden ones included."""
    raw = list(raw)
    counts = Counter(ms for _, ms in raw)
    newest = sorted(raw, key=lambda it: (it[1], it[0]), reverse=True)
    if after_limit:
        shown = sum(1 for key, _ in newest[:smallest] if key not in hidden)
    else:
        shown = min(smallest, sum(1 for key, _ in newest if key not in hidden))
    return {ms for ms, n in counts.items() if n >= 2 and n >= min(smallest, shown)}


def judge(
    got: Sequence[Any],
    seconds: Sequence[int] | None,
    truth: Mapping[Any, int],
    ambiguous: set[int],
    *,
    deleted: set[Any],
    created_later: set[Any],
    overflow_second: int | None,
) -> list[Any]:
    """Assert the walk's ``got`` ids (with their ``seconds``, if it promises newest first)
    against ``truth`` (id -> created ms at the walk's start); returns the missed ids that
    the rules allow (items of ambiguous instants), for callers that check more."""
    assert len(got) == len(set(got)), "an item was emitted twice"
    extra = set(got) - set(truth) - deleted - created_later
    assert not extra, f"items outside the range: {sorted(extra)[:10]}"
    if seconds is not None:
        assert list(seconds) == sorted(seconds, reverse=True), "not newest first"
    must = {key for key, ms in truth.items() if key not in deleted and ms not in ambiguous}
    if overflow_second is not None:
        assert ambiguous, "TieOverflowError without an ambiguous instant"
        newer = {key for key in must if truth[key] // 1000 > overflow_second}
        assert newer <= set(got), "items newer than the tie were not all emitted"
        return []
    missing = must - set(got)
    assert not missing, f"skipped {sorted(missing)[:10]} of {len(must)}"
    return sorted(set(truth) - deleted - set(got))
