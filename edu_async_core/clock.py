"""The time seam: everything that waits or reads the time goes through a :class:`Clock`.

Tests replace it with :class:`ManualClock` to run minutes of backoff and rate limiting in
milliseconds, without patching ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """What the SDK needs from time: a monotonic reading, wall time, and a way to wait."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: deadlines, backoff and rate windows."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch: what a resumable token records."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a negative amount waits for nothing); cancellable."""
        ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    # time.monotonic itself, not a method around it: read a few times per request.
    monotonic = staticmethod(time.monotonic)

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``, with a negative amount taken as 0."""
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()
"""The process's real clock: the default ``clock=`` of every session."""


class ManualClock:
    """A clock whose ``sleep`` returns at once and moves time forward by the amount slept.

    Good for pure timing logic (retry schedules, limiter grants): every sleep is recorded
    in :attr:`sleeps`, and concurrent sleepers simply advance the shared reading.
    """

    def __init__(self, start: float = 1_000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The current reading: ``start`` plus every advance and sleep so far."""
        return self._now

    def time(self) -> float:
        """The wall time matching :meth:`monotonic` (``wall_start`` at ``start``)."""
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` without sleeping (negative: no move)."""
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, move time forward by it, and yield to the loop once."""
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        self._now += seconds
        # Still yield to the loop, as a real sleep would, so other tasks interleave.
        await asyncio.sleep(0)
