"""When to poll a job next: a growing interval with jitter (pure: no I/O, no clock)."""

from __future__ import annotations

import random
from collections.abc import Callable

from . import defaults


def next_poll_delay(
    polls: int,
    *,
    poll_interval: float,
    max_interval: float,
    backoff: float = defaults.POLL_BACKOFF,
    jitter: float = defaults.POLL_JITTER,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next poll of a job already polled ``polls`` times (pure).

    The interval grows by ``backoff`` per poll up to ``max_interval``, and is spread by
    ``jitter`` either way so that waits started together do not poll together.
    """
    base = min(max_interval, poll_interval * backoff ** max(0, polls))
    return max(0.0, base * (1.0 + jitter * (2.0 * rand() - 1.0)))
