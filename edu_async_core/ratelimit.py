"""Per-credential rate limiting shared by every task of the process.

The servers count requests per key in a sliding window. The limiter hands out at most
``limit`` grants in any window (plus a small safety margin), in FIFO order, and a task
cancelled while waiting takes nothing with it.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import weakref

from . import defaults
from .clock import SYSTEM_CLOCK, Clock
from .retry import RetryBudget


def next_grant_delay(
    grants: collections.deque[float],
    limit: int,
    window: float,
    now: float,
    paused_until: float,
) -> float:
    """Seconds until one more grant keeps every window at ``limit`` or fewer (pure)."""
    delay = paused_until - now
    if len(grants) >= limit:
        # The grant ``limit`` places back must have left the window before the next one.
        delay = max(delay, grants[-limit] + window - now)
    return max(0.0, delay)


class SlidingWindowLimiter:
    """At most ``limit`` acquisitions in any ``window`` seconds, served first come first served.

    The internal lock is held while the head of the queue sleeps, so waiters queue behind
    it in order; cancelling a waiter (queued or sleeping) releases the lock without
    recording a grant, so nothing is consumed or leaked.
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
        self._grants: collections.deque[float] = collections.deque(maxlen=limit)
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self._clock = clock
        self._logger = logger
        self._label = label
        self.total_grants = 0
        self.total_wait = 0.0

    @property
    def limit(self) -> int:
        return self._limit

    def lower_limit(self, limit: int) -> None:
        """Tighten the limit (two sessions with one key and different limits: the lower wins)."""
        if limit < self._limit:
            self._limit = limit
            self._grants = collections.deque(self._grants, maxlen=limit)

    def pause(self, seconds: float) -> None:
        """Hold every grant for ``seconds`` (the server said 429 and asked us to wait)."""
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    async def acquire(self) -> None:
        """Wait until a request may be sent, then record it."""
        clock = self._clock
        async with self._lock:
            while True:
                now = clock.monotonic()
                delay = next_grant_delay(
                    self._grants, self._limit, self._window, now, self._paused_until
                )
                if delay <= 0:
                    break
                if self._logger is not None and self._logger.isEnabledFor(logging.DEBUG):
                    self._logger.debug(
                        "rate limit wait %.3fs key=%s limit=%d/%.0fs",
                        delay,
                        self._label,
                        self._limit,
                        self._window,
                    )
                self.total_wait += delay
                await clock.sleep(delay)
            self._grants.append(now)
            self.total_grants += 1


class CredentialState:
    """What every session using one credential shares: its limiter and its retry budget."""

    __slots__ = ("__weakref__", "budget", "limiter")

    def __init__(self, limiter: SlidingWindowLimiter | None, budget: RetryBudget) -> None:
        self.limiter = limiter
        self.budget = budget


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
