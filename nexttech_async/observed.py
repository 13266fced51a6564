"""A walk framed as one operation for the session's hooks (only built when one listens)."""

from __future__ import annotations

from typing import TypeVar

from edu_async_core.clock import Clock
from edu_async_core.hooks import Hooks, Operation

from .walk import AsyncWalk

M = TypeVar("M")


class ObservedWalk(AsyncWalk[M]):
    """``walk`` as it was, plus :class:`~edu_async_core.hooks.OperationStarted` at its
    first item request and :class:`~edu_async_core.hooks.OperationEnded` at its end, its
    failure, or ``aclose()`` (with ``stopped_early``), carrying the items handed out."""

    def __init__(
        self, walk: AsyncWalk[M], hooks: Hooks, clock: Clock, *, kind: str, shards: int
    ) -> None:
        self._walk = walk
        self._hooks = hooks
        self._clock = clock
        self._attributes: dict[str, str | int | float | bool] = {"kind": kind, "shards": shards}
        self._operation: Operation | None = None
        self.items = 0

    @property
    def inner(self) -> AsyncWalk[M]:
        """The walk being observed (a ``Walk`` or a ``ShardedWalk``)."""
        return self._walk

    async def __anext__(self) -> M:
        if self._operation is None:
            self._operation = self._hooks.start("walk", self._clock.monotonic, **self._attributes)
        try:
            item = await self._walk.__anext__()
        except StopAsyncIteration:
            self._operation.end(None, items=self.items, stopped_early=False)
            raise
        except BaseException as exc:
            self._operation.end(exc, items=self.items, stopped_early=False)
            raise
        self.items += 1
        return item

    @property
    def resume_token(self) -> str:
        return self._walk.resume_token

    async def aclose(self) -> None:
        """Close the walk; an operation still open ends here, marked ``stopped_early``."""
        await self._walk.aclose()
        if self._operation is not None:
            self._operation.end(None, items=self.items, stopped_early=True)
