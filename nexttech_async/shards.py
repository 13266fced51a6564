"""A walk split into date windows that run concurrently, merged back in order.

Each shard is an ordinary :class:`~nexttech_async.walk.Walk` over a window of whole
seconds, so every guarantee of the sequential walk holds inside it; windows meet at
second boundaries and each keeps only its own seconds, so no item falls between two
shards or lands in both, whatever the server's bound semantics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from .cursor import Bound, WalkRange
from .walk import Walk

M = TypeVar("M")

#: Items a shard may run ahead of the consumer before it waits (bounds memory).
SHARD_BUFFER = 2_000

_DONE: Any = object()


def split_range(rng: WalkRange, shards: int) -> list[WalkRange]:
    """``[after, before)`` cut at second boundaries into up to ``shards`` windows, newest first."""
    assert rng.after is not None and rng.before is not None
    low = rng.after.edge_ms // 1000
    high = -(-rng.before.edge_ms // 1000)  # the first second not wholly below `before`
    span = max(1, high - low)
    count = max(1, min(shards, span))
    cuts = [low + (span * i) // count for i in range(1, count)]
    uppers: list[Bound] = [rng.before] + [Bound.own(c) for c in reversed(cuts)]
    lowers: list[Bound] = [Bound.own(c) for c in reversed(cuts)] + [rng.after]
    return [WalkRange(after=lo, before=up) for up, lo in zip(uppers, lowers, strict=True)]


class ShardedWalk(Generic[M]):
    """Walk several windows at once; yield newest first (``ordered``) or as items come."""

    def __init__(self, walks: list[Walk[M]], *, ordered: bool = True, buffer: int = SHARD_BUFFER):
        self._walks = walks
        self._ordered = ordered
        self._queues: list[asyncio.Queue[Any]] = [asyncio.Queue(buffer) for _ in walks]
        self._tasks: list[asyncio.Task[None]] = []
        self._iter: AsyncIterator[M] | None = None

    @property
    def shards(self) -> int:
        return len(self._walks)

    def __aiter__(self) -> ShardedWalk[M]:
        return self

    async def __anext__(self) -> M:
        if self._iter is None:
            self._start()
            self._iter = self._ordered_items() if self._ordered else self._unordered_items()
        try:
            return await anext(self._iter)
        except BaseException:
            await self.aclose()
            raise

    def _start(self) -> None:
        for walk, queue in zip(self._walks, self._queues, strict=True):
            self._tasks.append(asyncio.create_task(self._pump(walk, queue)))

    @staticmethod
    async def _pump(walk: Walk[M], queue: asyncio.Queue[Any]) -> None:
        try:
            async for item in walk:
                await queue.put(item)
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put(exc)
            return
        await queue.put(_DONE)

    async def _ordered_items(self) -> AsyncIterator[M]:
        for queue in self._queues:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise item
                yield item

    async def _unordered_items(self) -> AsyncIterator[M]:
        live = set(range(len(self._queues)))
        getters: dict[asyncio.Task[Any], int] = {}
        try:
            while live:
                for i in live - set(getters.values()):
                    getters[asyncio.create_task(self._queues[i].get())] = i
                done, _ = await asyncio.wait(getters, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    i = getters.pop(task)
                    item = task.result()
                    if item is _DONE:
                        live.discard(i)
                    elif isinstance(item, Exception):
                        raise item
                    else:
                        yield item
        finally:
            for task in getters:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*getters, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop every shard (also done when the walk ends, fails or is cancelled)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
