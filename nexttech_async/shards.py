"""A walk split into date windows that run concurrently, merged back in order.

Each window is an ordinary :class:`~nexttech_async.walk.Walk` over whole seconds, so
every guarantee of the sequential walk holds inside it; windows meet at second
boundaries and each keeps only its own seconds, so no item falls between two windows or
lands in both, whatever the server's bound semantics.

The range is cut into several windows per shard. Up to ``shards`` windows are walked at
once, newest first; a window's slot passes to the next window only once the consumer
has read it, so memory stays bounded by ``shards`` windows' buffers while the walk
stays pipelined (one large window per shard would stall: the later shards fill their
buffers and wait while the first is read).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import attrs

from .cursor import Bound, CursorState, WalkRange
from .errors import CursorError
from .walk import AsyncWalk, Position, Walk, encode_token

M = TypeVar("M")

#: Items one window may hold ahead of the consumer before it waits (bounds memory).
SHARD_BUFFER = 2_000
#: Windows per shard: small windows keep every shard busy while the consumer reads in order.
WINDOWS_PER_SHARD = 8

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


class ShardedWalk(AsyncWalk[M]):
    """Walk several windows at once; yield newest first (``ordered``) or as items come.

    An ordered sharded walk has a ``resume_token`` like a sequential one: it resumes as a
    sequential walk from the last item handed out down to the start of the range.
    """

    def __init__(
        self,
        walks: list[Walk[M]],
        rng: WalkRange,
        *,
        ordered: bool = True,
        concurrency: int | None = None,
        buffer: int = SHARD_BUFFER,
    ) -> None:
        self._walks = walks
        self._range = rng
        self._ordered = ordered
        self._concurrency = concurrency or len(walks)
        self._slots = asyncio.Semaphore(self._concurrency)
        self._queues: list[asyncio.Queue[Any]] = [asyncio.Queue(buffer) for _ in walks]
        self._tasks: list[asyncio.Task[None]] = []
        self._iter: AsyncIterator[M] | None = None
        self._current = 0
        self._position = Position(CursorState())

    @property
    def shards(self) -> int:
        """How many windows are walked at once."""
        return self._concurrency

    @property
    def windows(self) -> int:
        return len(self._walks)

    async def __anext__(self) -> M:
        if self._iter is None:
            self._start()
            self._iter = self._ordered_items() if self._ordered else self._unordered_items()
        try:
            return await anext(self._iter)
        except BaseException:
            await self.aclose()
            raise

    @property
    def resume_token(self) -> str:
        if not self._ordered:
            raise CursorError(
                "an unordered sharded walk has no single position to resume from; "
                "use ordered=True to get resume tokens"
            )
        shard = self._walks[min(self._current, len(self._walks) - 1)]
        rest = WalkRange(after=self._range.after, before=shard.range.before)
        state = self._position.state(shard.state)
        if self._current >= len(self._walks):
            state = attrs.evolve(state, done=True)
        return encode_token(shard.kind, rest, shard.filters, state)

    def _start(self) -> None:
        for walk, queue in zip(self._walks, self._queues, strict=True):
            self._tasks.append(asyncio.create_task(self._pump(walk, queue)))

    async def _pump(self, walk: Walk[M], queue: asyncio.Queue[Any]) -> None:
        # Slots are taken in window order (the semaphore is fair) and given back by the
        # consumer once it has read the window.
        await self._slots.acquire()
        try:
            while True:
                await queue.put(await walk.next_with_ref())
        except StopAsyncIteration:
            await queue.put(_DONE)
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put(exc)

    async def _ordered_items(self) -> AsyncIterator[M]:
        for index, queue in enumerate(self._queues):
            self._current, self._position = index, Position(CursorState())
            while (entry := await queue.get()) is not _DONE:
                if isinstance(entry, Exception):
                    raise entry
                item, ref = entry
                self._position.handed_out(ref)
                yield item
            self._slots.release()
        self._current = len(self._queues)

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
                    entry = task.result()
                    if entry is _DONE:
                        live.discard(i)
                        self._slots.release()
                    elif isinstance(entry, Exception):
                        raise entry
                    else:
                        yield entry[0]
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
