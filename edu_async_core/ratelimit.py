"""Per-credential rate limiting shared by every task of the process.

The servers count requests per key in a sliding window, at the moment each request
*arrives*. We cannot see that moment, only that it lies between sending and receiving
the answer. So a slot is taken when a request may go, stays taken while the request is
in flight, and counts against the window from the moment its answer arrived. Then any
two requests ``limit`` slots apart reach the server at least a window apart, however
slow the network or busy the event loop, and no window holds more than ``limit``.
Waiters are served first come first served; a task cancelled while waiting takes
nothing with it.

:class:`SlidingWindowLimiter` and :class:`~edu_async_core.retry.RetryBudget` are the
in-process implementations of :mod:`edu_async_core.limits`' protocols; a fleet of
processes shares the same semantics through a :class:`~edu_async_core.limits.Fleet`
(``edu_async_core.fleet.redis``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import weakref
from collections.abc import AsyncIterator

from . import defaults
from .clock import SYSTEM_CLOCK, Clock
from .limits import CredentialState
from .retry import RetryBudget

__all__ = [
    "CredentialState",
    "PausedPastDeadline",
    "SlidingWindowLimiter",
    "credential_id",
    "next_grant_delay",
    "shared_state",
]


def next_grant_delay(
    expiries: collections.deque[float],
    in_flight: int,
    limit: int,
    now: float,
    paused_until: float,
) -> float | None:
    """Seconds until one more slot may be granted; ``None`` when every slot is in flight
    (only a finished request can free one). ``expiries`` are the sorted times at which
    finished requests leave the window, none of them already past."""
    pause = max(0.0, paused_until - now)
    if in_flight + len(expiries) < limit:
        return pause
    if not expiries:
        return None
    # The oldest finished request leaves the window first; nothing in flight can sooner.
    return max(pause, expiries[0] - now)


class SlidingWindowLimiter:
    """At most ``limit`` requests in any ``window`` seconds, in order of arrival.

    Use ``async with limiter.slot():`` around one request, or ``acquire()`` and
    ``release()`` in a ``try``/``finally``.
    """

    def __init__(
        self,
        limit: int,
        window: float = defaults.RATE_LIMIT_WINDOW,
        *,
        margin: float = defaults.RATE_LIMIT_MARGIN,
        clock: Clock = SYSTEM_CLOCK,
        logger: logging.Logger | None = None,
        label: str = "",
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be a positive number of requests")
        if window <= 0:
            raise ValueError("window must be positive")
        self._limit = limit
        self._window = window + margin
        self._expiries: collections.deque[float] = collections.deque()
        self._in_flight = 0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self._queued = 0  # tasks in acquire()'s waiting path (holding or queued on the lock)
        self._released = asyncio.Event()
        self._clock = clock
        self._logger = logger
        self._label = label
        self.total_grants = 0
        self.total_wait = 0.0

    @property
    def limit(self) -> int:
        """Requests allowed in any window."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Slots taken whose requests have not finished yet."""
        return self._in_flight

    def lower_limit(self, limit: int) -> None:
        """Tighten the limit (two sessions with one key and different limits: the lower wins)."""
        self._limit = min(self._limit, limit)

    def pause(self, seconds: float) -> None:
        """Hold every grant for ``seconds`` (the server said 429 and asked us to wait)."""
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    @property
    def paused_for(self) -> float:
        """Seconds the key is still paused by a 429 (0 when it is not)."""
        return max(0.0, self._paused_until - self._clock.monotonic())

    async def acquire(self, deadline: float | None = None) -> float:
        """Wait until a request may be sent and take its slot; ``release()`` it after.

        Returns the seconds waited (0.0 when a slot was free at once). With ``deadline``
        (on this limiter's monotonic clock), a pause that lasts past it raises
        :class:`PausedPastDeadline` at once instead of waiting in vain.
        """
        # Nobody is waiting, so a free slot can be taken at once: no lock round trip
        # (first come, first served still holds: there is no one to overtake).
        if not self._queued and self._delay() == 0:
            self._grant()
            return 0.0
        self._queued += 1
        start = self._clock.monotonic()
        try:
            await self._acquire_in_turn(deadline)
        finally:
            self._queued -= 1
        return self._clock.monotonic() - start

    def _delay(self) -> float | None:
        """Seconds until a slot is free (0: now; None: once a request finishes)."""
        now = self._clock.monotonic()
        expiries = self._expiries
        while expiries and expiries[0] <= now:
            expiries.popleft()
        return next_grant_delay(expiries, self._in_flight, self._limit, now, self._paused_until)

    def _grant(self) -> None:
        self._in_flight += 1
        self.total_grants += 1

    def _check_deadline(self, deadline: float | None) -> None:
        if deadline is not None and self._paused_until > deadline:
            raise PausedPastDeadline(self.paused_for)

    async def _acquire_in_turn(self, deadline: float | None) -> None:
        self._check_deadline(deadline)
        async with self._lock:
            while (delay := self._delay()) != 0:
                self._check_deadline(deadline)
                if self._logger is not None and self._logger.isEnabledFor(logging.INFO):
                    paused = self.paused_for > 0
                    self._logger.info(
                        "rate limit: key %s waits %s (%s; limit %d per %.0fs, %d in flight)",
                        self._label,
                        "for a request to finish" if delay is None else f"{delay:.3f}s",
                        "paused by a 429" if paused else "window full",
                        self._limit,
                        self._window,
                        self._in_flight,
                        extra={
                            "key_prefix": self._label,
                            "delay": delay,
                            "reason": "paused" if paused else "window",
                            "limit": self._limit,
                            "window": self._window,
                            "in_flight": self._in_flight,
                        },
                    )
                if delay is None:
                    self._released.clear()
                    await self._released.wait()
                else:
                    self.total_wait += delay
                    await self._clock.sleep(delay)
            self._grant()

    def release(self) -> None:
        """The request of a slot has finished (answered, failed or cancelled)."""
        self._in_flight -= 1
        self._expiries.append(self._clock.monotonic() + self._window)
        if self._queued:  # a waiter re-reads the state when it gets the lock anyway
            self._released.set()

    def give_back(self) -> None:
        """Return a slot whose request was never sent: it does not count against the window.

        For a limiter that stands in front of another (a fleet's): the task got this slot
        but was cancelled, or failed, before the one behind granted it.
        """
        self._in_flight -= 1
        if self._queued:
            self._released.set()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the body of an ``async with``."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()


class PausedPastDeadline(Exception):
    """The key is paused (a 429's ``Retry-After``) for longer than the caller may wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the key is paused for another {seconds:.1f}s")
        self.seconds = seconds


# Per event loop, because asyncio primitives belong to the loop they were first used on.
_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, CredentialState]] = (
    weakref.WeakKeyDictionary()
)


def credential_id(secret: str, base_url: str) -> str:
    """A stable, non-reversible name for (credential, server) to key shared state by."""
    return hashlib.sha256(f"{base_url}\x00{secret}".encode()).hexdigest()


def shared_state(
    cred_id: str,
    *,
    limit: int | None,
    window: float = defaults.RATE_LIMIT_WINDOW,
    margin: float = defaults.RATE_LIMIT_MARGIN,
    clock: Clock = SYSTEM_CLOCK,
    budget_capacity: int = defaults.RETRY_BUDGET_CAPACITY,
    logger: logging.Logger | None = None,
    label: str = "",
) -> CredentialState:
    """The state of ``cred_id`` on the running loop, created on first use.

    ``limit=None`` asks for no limiting; if another session of the same credential asked
    for one, that limiter still applies (the strictest wish wins).
    """
    loop = asyncio.get_running_loop()
    states = _REGISTRY.setdefault(loop, {})
    state = states.get(cred_id)
    if state is None:
        limiter = (
            SlidingWindowLimiter(
                limit, window, margin=margin, clock=clock, logger=logger, label=label
            )
            if limit is not None
            else None
        )
        state = CredentialState(limiter, RetryBudget(budget_capacity))
        states[cred_id] = state
    elif limit is not None:
        if state.limiter is None:
            state.limiter = SlidingWindowLimiter(
                limit, window, margin=margin, clock=clock, logger=logger, label=label
            )
        else:
            state.limiter.lower_limit(limit)
    return state
