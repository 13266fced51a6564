"""What a fleet does while its coordinator (Redis) cannot be reached: the policy, and the
one record per event loop of the outage in progress (pure: no Redis client here).

Two policies, chosen with ``RedisFleet(on_unavailable=...)``:

- ``"fail"`` (fail closed, the default): a call waits for the coordinator, asking again
  with a growing pause, for at most ``unavailable_timeout`` seconds (and never past its
  own deadline), then raises :class:`~edu_async_core.errors.FleetUnavailableError`
  without sending anything; once an outage is older than that, a call tries once and
  fails at once. No request leaves a process that cannot count it.
- ``"local"``: each process goes on alone, at ``limit // expected_processes`` requests
  per window (and a retry budget cut the same way), at once, while a background probe
  asks the coordinator again every ``probe_interval`` seconds. For one window after the
  coordinator is back, a process keeps its local limit as well as the shared one,
  because the coordinator did not see the requests sent meanwhile (a restarted Redis
  has forgotten everything).

Either way the first failure of an outage is logged at WARNING (once, not per call) and
the recovery at INFO with the outage's length; :class:`Outage` keeps the figures.
"""

from __future__ import annotations

import enum
import logging
from typing import Final

from ..clock import Clock

__all__ = ["OnUnavailable", "Outage", "fallback_share"]

_log: Final = logging.getLogger("edu_async_core.fleet")


class OnUnavailable(enum.StrEnum):
    """What a fleet does while Redis cannot be reached (see the module docstring)."""

    FAIL = "fail"
    LOCAL = "local"


def fallback_share(total: int, expected_processes: int) -> int:
    """One process's share of ``total`` (a limit or a budget) while it is on its own."""
    return max(1, total // expected_processes)


class Outage:
    """Whether the coordinator is reachable, as this event loop last found it."""

    def __init__(self, clock: Clock, probe_interval: float) -> None:
        self._clock = clock
        self.probe_interval = probe_interval
        #: When the outage in progress began (monotonic), or None while reachable.
        self.since: float | None = None
        self._next_probe = 0.0
        #: Outages seen so far, and how long the last one lasted (seconds).
        self.count = 0
        self.last_duration: float | None = None
        #: Until when (monotonic) a recovered process still keeps its local limit too, and
        #: for how long after a recovery (the longest window of the limiters using it).
        self.local_until = 0.0
        self.settle = 0.0

    @property
    def active(self) -> bool:
        """Whether an outage is in progress (the last call to the coordinator failed)."""
        return self.since is not None

    def probe_due(self) -> bool:
        """Whether to ask the coordinator now (always when reachable)."""
        return self.since is None or self._clock.monotonic() >= self._next_probe

    def failed(self, error: BaseException, what: str) -> None:
        """A call to the coordinator failed with ``error``: note it, warn once."""
        now = self._clock.monotonic()
        self._next_probe = now + self.probe_interval
        if self.since is None:
            self.since = now
            self.count += 1
            _log.warning(
                "fleet: Redis unreachable (%s: %s) during %s",
                type(error).__name__,
                error,
                what,
                extra={"fleet_call": what, "error": type(error).__name__},
            )
        else:
            _log.debug("fleet: Redis still unreachable during %s", what)

    def reached(self) -> None:
        """A call to the coordinator succeeded: end the outage if there was one.

        Whichever call finds it back first, local limits stay for ``settle`` seconds
        (the longest window) and two probe intervals.
        """
        if self.since is None:
            return
        now = self._clock.monotonic()
        self.last_duration = now - self.since
        self.since = None
        # Other processes find Redis back up to a probe interval later (more on a busy
        # machine): until they all have, some still send on their own shares unseen.
        self.local_until = now + self.settle + 2 * self.probe_interval
        _log.info(
            "fleet: Redis reachable again after %.1fs",
            self.last_duration,
            extra={"outage": self.last_duration},
        )

    def keeps_local(self) -> bool:
        """Whether grants must also pass the local limit (outage, or just after one)."""
        return self.since is not None or self._clock.monotonic() < self.local_until
