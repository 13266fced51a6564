"""What the transport needs from a rate limiter, a retry budget and a fleet coordinator.

The transport only ever talks to these protocols. In one process they are served by
:class:`~edu_async_core.ratelimit.SlidingWindowLimiter` and
:class:`~edu_async_core.retry.RetryBudget`, shared by every session of a credential on the
running event loop. A fleet of processes using one key passes the same kind of
:class:`Fleet` to every session instead (``ContentSession(..., fleet=RedisFleet(url))``,
see :mod:`edu_async_core.fleet.redis`): it then hands out a limiter, a budget and a 429
pause that every process of the fleet shares.

Nothing here imports a store's client: a fleet's backend is imported only by the code
that builds one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Protocol

import attrs

from . import defaults
from .clock import SYSTEM_CLOCK, Clock

__all__ = ["CredentialState", "Fleet", "LimitSettings", "Limiter", "RetryBudgetLike", "try_spend"]


class Limiter(Protocol):
    """At most ``limit`` requests of one credential in any window, in order of arrival.

    The contract of :mod:`edu_async_core.ratelimit`: a slot is taken by ``acquire()``
    before a request is sent, held while it is in flight, and after ``release()`` counts
    against the window from that moment. A task cancelled in ``acquire()`` holds nothing.
    """

    @property
    def limit(self) -> int:
        """Requests allowed per window."""
        ...

    def lower_limit(self, limit: int) -> None:
        """Tighten the limit (the strictest of the sessions sharing the limiter wins)."""
        ...

    async def acquire(self, deadline: float | None = None) -> float:
        """Take a slot, waiting for it; return the seconds waited.

        A 429 pause lasting past ``deadline`` (on the limiter's monotonic clock) raises
        :class:`~edu_async_core.ratelimit.PausedPastDeadline` without waiting.
        """
        ...

    def release(self) -> None:
        """The request of one slot has finished (answered, failed or cancelled)."""
        ...

    def pause(self, seconds: float) -> None:
        """Hold every grant for ``seconds`` (the server answered 429)."""
        ...

    @property
    def paused_for(self) -> float:
        """Seconds the key is still paused by a 429 (0 when it is not)."""
        ...


class RetryBudgetLike(Protocol):
    """The retry quota of one credential (see :class:`~edu_async_core.retry.RetryBudget`).

    ``try_spend`` answers at once in one process; a budget kept in a shared store answers
    with an awaitable instead (one round trip), which :func:`try_spend` awaits.
    """

    def try_spend(self, cost: int) -> bool | Awaitable[bool]:
        """Take ``cost`` tokens if there are that many; say whether a retry may happen."""
        ...

    def refund(self, amount: int) -> None:
        """Put tokens back after a success (never above the capacity)."""
        ...


async def try_spend(budget: RetryBudgetLike, cost: int) -> bool:
    """Spend from ``budget``, whether it answers at once or after a round trip."""
    allowed = budget.try_spend(cost)
    if isinstance(allowed, bool):
        return allowed
    return await allowed


class CredentialState:
    """What every session using one credential shares: its limiter and its retry budget."""

    __slots__ = ("__weakref__", "budget", "limiter")

    def __init__(self, limiter: Limiter | None, budget: RetryBudgetLike) -> None:
        self.limiter = limiter
        self.budget = budget


@attrs.frozen(kw_only=True)
class LimitSettings:
    """What a transport asks a :class:`Fleet` for, taken from its ``TransportConfig``.

    ``limit`` is None when the session asked for no rate limiting (another session of the
    key may still have asked for one). ``request_timeout`` bounds how long one request can
    hold its slot; a fleet's leases are derived from it.
    """

    limit: int | None
    window: float = defaults.RATE_LIMIT_WINDOW
    margin: float = defaults.RATE_LIMIT_MARGIN
    budget_capacity: int = defaults.RETRY_BUDGET_CAPACITY
    request_timeout: float = defaults.REQUEST_TIMEOUT
    clock: Clock = SYSTEM_CLOCK
    logger: logging.Logger | None = attrs.field(default=None, eq=False)
    label: str = ""


class Fleet(Protocol):
    """Shares each credential's limiter, retry budget and 429 pause beyond one process.

    Pass the same kind of fleet (configured alike) to every session of every process that
    uses the key. ``cred_id`` is :func:`~edu_async_core.ratelimit.credential_id`, a hash:
    a fleet names its shared state by it and never sees the secret.
    """

    def credential_state(self, cred_id: str, settings: LimitSettings) -> CredentialState:
        """The state of ``cred_id`` for the running event loop, created on first use."""
        ...
