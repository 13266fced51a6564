"""The emulator's side of the rate limit: per key, which requests a sliding window admits.

Not to be confused with the SDK's client-side limiter (``edu_async_core.ratelimit``), which
paces a client's own requests; this one is the server that answers 429 when a client
does not pace them, and keeps what it admitted so tests can check how close a client came.
"""

from __future__ import annotations

import bisect
import math

import attrs

__all__ = ["AdmissionWindow", "Decision", "max_in_window"]


@attrs.frozen
class Decision:
    """Outcome of one admission check."""

    admitted: bool
    retry_after: int = 0
    """Whole seconds until a slot frees up (at least 1) when not admitted."""


def max_in_window(timestamps: list[float], window: float) -> int:
    """The most timestamps that fall in any half-open interval ``(t - window, t]``.

    ``timestamps`` must be sorted. This is the same window shape the limiter admits by, so
    for a well-behaved limiter the answer never exceeds the key's limit.
    """
    best = 0
    start = 0
    for end, t in enumerate(timestamps):
        while timestamps[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


class AdmissionWindow:
    """Admits a request when fewer than ``limit`` were admitted within the last window.

    Keeps every admitted timestamp per key (a float each), both to decide admission and so
    tests can ask afterwards how close a client came to its limit.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._admitted: dict[str, list[float]] = {}

    def check(self, key_id: str, limit: int, now: float) -> Decision:
        """Admit (and record) one request at monotonic time ``now``, or say how long to wait."""
        stamps = self._admitted.setdefault(key_id, [])
        # Timestamps come from time.monotonic in arrival order, so the list stays sorted
        # and the first one still inside the window is a binary search away.
        first_inside = bisect.bisect_right(stamps, now - self.window)
        in_window = len(stamps) - first_inside
        if in_window < limit:
            stamps.append(now)
            return Decision(admitted=True)
        # The slot frees when the oldest request that keeps the count at the limit leaves.
        frees_at = stamps[len(stamps) - limit] + self.window
        return Decision(admitted=False, retry_after=max(1, math.ceil(frees_at - now)))

    def admitted(self, key_id: str) -> list[float]:
        """Monotonic timestamps of every admitted request of this key."""
        return list(self._admitted.get(key_id, ()))

    def max_in_window(self, key_id: str, window: float | None = None) -> int:
        """The most requests of this key admitted within any sliding window."""
        if window is None:
            window = self.window
        if window <= 0:
            raise ValueError(f"window must be > 0, got {window!r}")
        return max_in_window(self._admitted.get(key_id, []), window)
