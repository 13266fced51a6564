"""The part of fault injection that does not depend on an API: which armed fault fires."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["ArmedFaults", "FaultLike", "retry_after_value"]


class FaultLike(Protocol):
    """What :class:`ArmedFaults` needs of an emulator's own (frozen) fault description."""

    @property
    def times(self) -> int | None:
        """How many requests the fault may hit; ``None`` for no bound."""
        ...

    @property
    def probability(self) -> float:
        """Chance that an otherwise selected request is hit."""
        ...


F = TypeVar("F", bound=FaultLike)


class _Armed(Generic[F]):
    __slots__ = ("fault", "remaining")

    def __init__(self, fault: F) -> None:
        self.fault = fault
        self.remaining = fault.times


class ArmedFaults(Generic[F]):
    """The ordered faults of one emulator and how many hits each has left.

    Faults are tried in the order they were added and at most one fires per request. A
    fault whose ``probability`` is below 1 fires only when a draw from the plan's own
    seeded generator says so (so a flaky-on-purpose run can be replayed exactly); one that
    does not fire lets the next selected fault have its chance. A fault is disarmed once
    it has used up its ``times``.
    """

    def __init__(self, seed: int | str) -> None:
        self._rng = random.Random(seed)
        self._armed: list[_Armed[F]] = []

    def add(self, fault: F) -> None:
        """Arm ``fault`` after every fault already armed; earlier faults are tried first."""
        self._armed.append(_Armed(fault))

    def clear(self) -> None:
        """Disarm every fault."""
        self._armed.clear()

    @property
    def pending(self) -> list[F]:
        """Faults that may still fire, in the order they are tried."""
        return [armed.fault for armed in self._armed]

    def take(self, selects: Callable[[F], bool]) -> F | None:
        """The first fault that ``selects`` the request and fires, using up one of its hits."""
        for armed in self._armed:
            fault = armed.fault
            if not selects(fault):
                continue
            # Only draw when it matters, so adding a certain fault does not shift the
            # random sequence seen by the probabilistic ones.
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining == 0:
                    self._armed.remove(armed)
            return fault
        return None


def retry_after_value(seconds: float) -> str:
    """A ``Retry-After`` header value for a delay in seconds (whole numbers without ``.0``)."""
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
