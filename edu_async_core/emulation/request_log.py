"""The bounded log of requests an emulator received, for tests to assert on."""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

__all__ = ["RequestLog"]

R = TypeVar("R")


class RequestLog(Generic[R]):
    """The most recent ``limit`` records, oldest first; the oldest is dropped when full."""

    def __init__(self, limit: int) -> None:
        self._records: deque[R] = deque(maxlen=limit)

    @property
    def enabled(self) -> bool:
        """Whether anything is kept at all (``limit`` above 0): skip building records if not."""
        return self._records.maxlen != 0

    def append(self, record: R) -> None:
        """Keep ``record`` as the newest entry."""
        self._records.append(record)

    def snapshot(self) -> list[R]:
        """A copy of the kept records, oldest first."""
        return list(self._records)
