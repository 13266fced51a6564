"""What the Next Tech emulator observed: the request log's entries and the running totals."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import attrs

__all__ = ["EmulatorCounters", "LoggedRequest"]


class LoggedRequest(NamedTuple):
    """One received request: its path, its raw (still percent-encoded) query string, and
    when it arrived, in ``time.monotonic()`` seconds."""

    path: str
    query_string: str
    at: float


@attrs.define
class EmulatorCounters:
    """Running totals since the emulator was built (or since :meth:`reset`).

    ``by_status`` counts answered requests only: a ``reset`` fault sends no status.
    """

    requests: int = 0
    by_path: Counter[str] = attrs.field(factory=Counter)
    by_status: Counter[int] = attrs.field(factory=Counter)
    faults_injected: int = 0
    items_served: int = 0

    def reset(self) -> None:
        """Set every total back to zero."""
        self.requests = 0
        self.by_path.clear()
        self.by_status.clear()
        self.faults_injected = 0
        self.items_served = 0
