"""Retry decisions as plain functions, and the retry budget.

Nothing here does I/O. After every attempt the transport describes what came back (a
usable answer, a redirect, a failure and its kind) and asks :func:`decide` what to do:
return the answer, follow the redirect, retry after a delay at a budget cost, or raise.
It then only carries the decision out (sleeps on its own clock, spends the budget), so
the whole schedule is testable with plain tables, without a server.
"""

from __future__ import annotations

import email.utils
import enum
import math
from collections.abc import Callable
from typing import Final

import attrs
import backoff

from . import defaults

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class Failure(enum.Enum):
    """How an attempt failed, as far as retrying is concerned."""

    STATUS = "status"  # the server answered with an error status
    TIMEOUT = "timeout"  # no complete answer in time; the server may have acted
    CONNECTION = "connection"  # the connection broke; the server may have acted
    NOT_SENT = "not_sent"  # we never connected: the server cannot have acted
    MALFORMED = "malformed"  # a success status with an unreadable body (truncated, garbled)


def is_retryable_status(status: int) -> bool:
    """429 and the 5xx family (but 501 Not Implemented, which will not change)."""
    return status == 429 or (status >= 500 and status != 501)


def is_safe_to_repeat(method: str, has_idempotency_key: bool, failure: Failure) -> bool:
    """Whether sending the request again cannot create a second effect.

    A POST is repeated only when it carries an idempotency key, or when it never left.
    """
    if failure is Failure.NOT_SENT or method.upper() in _IDEMPOTENT_METHODS:
        return True
    return has_idempotency_key


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns ``None`` when the header is absent or unreadable, never a negative number.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - now_wall)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def _ceilings(base: float, cap: float, count: int) -> tuple[float, ...]:
    # backoff's generators expect to be primed by a first next() that yields None.
    gen = backoff.expo(base=2, factor=base, max_value=cap)
    next(gen)
    return tuple(float(next(gen)) for _ in range(count))


@attrs.frozen
class RetryPolicy:
    """Bounded attempts, an overall deadline, exponential backoff with full jitter."""

    max_attempts: int = defaults.MAX_ATTEMPTS
    deadline: float = defaults.RETRY_DEADLINE
    backoff_base: float = defaults.BACKOFF_BASE
    backoff_max: float = defaults.BACKOFF_MAX
    max_retry_after: float = defaults.MAX_RETRY_AFTER
    jitter: Callable[[float], float] = attrs.field(default=backoff.full_jitter, eq=False)
    _ceilings: tuple[float, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        ceilings = _ceilings(self.backoff_base, self.backoff_max, max(1, self.max_attempts))
        object.__setattr__(self, "_ceilings", ceilings)

    def ceiling(self, retry_number: int) -> float:
        """The backoff ceiling before retry number ``retry_number`` (1 = first retry)."""
        index = min(max(retry_number, 1), len(self._ceilings)) - 1
        return self._ceilings[index]

    def retry_delay(self, attempt: int, elapsed: float, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or ``None`` to give up.

        ``attempt`` attempts have been made and ``elapsed`` seconds have passed since the
        first. A ``Retry-After`` is a floor under the jittered backoff, never shortened;
        one longer than ``max_retry_after`` or past the deadline ends the call.
        """
        if attempt >= self.max_attempts:
            return None
        delay = self.jitter(self.ceiling(attempt))
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            delay = max(delay, retry_after)
        if elapsed + delay > self.deadline:
            return None
        return delay


class RetryBudget:
    """A token bucket every task of one credential draws retries from.

    Retries cost tokens; successes put them back. During a real outage the bucket empties
    and calls fail fast with their last error instead of a fleet of tasks multiplying the
    load on a struggling server. A request that succeeds after retrying returns what its
    retries cost, so scattered transient faults never drain the bucket.
    """

    __slots__ = ("_tokens", "capacity")

    def __init__(self, capacity: int = defaults.RETRY_BUDGET_CAPACITY) -> None:
        if capacity < 0:
            raise ValueError("capacity must not be negative")
        self.capacity = capacity
        self._tokens = capacity

    @property
    def tokens(self) -> int:
        return self._tokens

    def try_spend(self, cost: int) -> bool:
        """Take ``cost`` tokens if there are that many; say whether a retry may happen."""
        if cost > self._tokens:
            return False
        self._tokens -= cost
        return True

    def refund(self, amount: int) -> None:
        if self._tokens < self.capacity:  # full, as nearly always: nothing to do
            self._tokens = min(self.capacity, self._tokens + amount)


def retry_cost(failure: Failure) -> int:
    """What one retry after ``failure`` costs from the budget."""
    if failure is Failure.STATUS:
        return defaults.RETRY_COST
    return defaults.RETRY_COST_TIMEOUT


class Action(enum.Enum):
    """What the transport does after an attempt."""

    RETURN = "return"  # a usable answer: hand it back
    FOLLOW = "follow"  # a redirect: ask the new location (not counted as an attempt)
    RETRY = "retry"  # sleep ``delay``, spend ``cost`` from the budget, send again
    RAISE = "raise"  # end the call with the attempt's error


#: Why a call ends with an error it could otherwise have retried (logged at INFO).
GAVE_UP_EXHAUSTED: Final = "retries exhausted"
GAVE_UP_BUDGET: Final = "retry budget empty"
GAVE_UP_REDIRECTS: Final = "too many redirects"


@attrs.frozen
class Decision:
    """The outcome of :func:`decide`.

    ``pause`` is set for a 429: every call on the key waits that long, whatever this call
    does next. ``give_up`` says why a failure that is safe and worth repeating is not
    repeated; it is None when the failure is not one to repeat at all (a 404, a POST
    without an idempotency key that may have reached the server).
    """

    action: Action
    delay: float = 0.0
    cost: int = 0
    pause: float | None = None
    give_up: str | None = None


_RETURN: Final = Decision(Action.RETURN)
_FOLLOW: Final = Decision(Action.FOLLOW)
#: The statuses the transport follows itself (within its origin; see ``transport``).
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})


def decide(
    *,
    policy: RetryPolicy,
    method: str,
    has_idempotency_key: bool,
    failure: Failure | None,
    status: int | None,
    retry_after: float | None,
    attempt: int,
    elapsed: float,
    redirects: int,
    max_redirects: int,
) -> Decision:
    """What to do after attempt number ``attempt`` (1 for the first) of a call.

    ``failure`` is None for an answer with a usable body (``status`` 2xx) and for a
    redirect; otherwise it is how the attempt failed (``status`` is set for
    :attr:`Failure.STATUS`). ``elapsed`` is seconds since the first attempt went out,
    ``redirects`` how many were followed before this answer.
    """
    if failure is None:
        if status is not None and status in REDIRECT_STATUSES:
            if redirects >= max_redirects:
                return Decision(Action.RAISE, give_up=GAVE_UP_REDIRECTS)
            return _FOLLOW
        return _RETURN
    pause: float | None = None
    if failure is Failure.STATUS:
        assert status is not None
        if status == 429:
            # Everyone on the key waits, never longer than any call would (a Retry-After
            # of a day would freeze the key).
            wanted = policy.ceiling(1) if retry_after is None else retry_after
            pause = min(wanted, policy.max_retry_after)
        if not is_retryable_status(status):
            return Decision(Action.RAISE, pause=pause)
    if not is_safe_to_repeat(method, has_idempotency_key, failure):
        return Decision(Action.RAISE, pause=pause)
    delay = policy.retry_delay(attempt, elapsed, retry_after)
    if delay is None:
        return Decision(Action.RAISE, pause=pause, give_up=GAVE_UP_EXHAUSTED)
    return Decision(Action.RETRY, delay=delay, cost=retry_cost(failure), pause=pause)
