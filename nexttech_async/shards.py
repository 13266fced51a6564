"""A walk split into date windows that run concurrently, merged back in order.

Each window is an ordinary :class:`~nexttech_async.walk.Walk` over whole seconds, so
every guarantee of the sequential walk holds inside it; windows meet at second
boundaries and each keeps only its own seconds, so no item falls between two windows or
lands in both, whatever the server's bound semantics.

The range is cut into several windows per shard. Up to ``shards`` windows are walked at
once, newest first; a window's slot passes to the next window only once the consumer
has read it, so memory stays bounded by ``shards`` windows' buffers while the walk
stays pipelined (a window holding more than a buffer would stall: the later shards fill
their buffers and wait while the first is read).

How many windows is a trade: every window ends with a request whose answer mostly lies
in the next window (only what an answer contains can close a window, never its length:
each window asks with the whole range's lower bound, so that answer reaches below its
cut), so many small windows waste requests, and windows larger than a buffer stall. The walk
therefore reads the newest page of the whole range first and estimates from it how many
items the range holds, then cuts windows of about half a buffer each, between
``SHARD_MIN_WINDOWS`` and ``SHARD_MAX_WINDOWS`` per shard (see ``defaults``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import attrs

from edu_async_core.responses import Response

from . import defaults
from .cursor import Bound, CursorState, Query, WalkRange
from .errors import CursorError
from .filters import Filters
from .resume_token import encode_token
from .walk import AsyncWalk, Position, Walk, page_refs

M = TypeVar("M")

OpenWindow = Callable[[WalkRange], Walk[M]]
"""Makes the walk of one window (a sequential ``Walk`` over that range)."""
SamplePage = Callable[[WalkRange], Awaitable[tuple[Query, list[Any], Response]]]
"""The range's newest page: the query sent, its items and the response."""

_DONE: Any = object()


def window_count(sample: Sequence[int], rng: WalkRange, shards: int) -> int:
    """How many windows to cut ``rng`` into, given the seconds of its newest page.

    The page's items per second over the seconds it spans, times the range's span,
    estimates the items in range; the windows are sized to ``defaults.SHARD_ITEMS_PER_WINDOW``, in
    whole multiples of ``shards``.
    """
    least = shards * defaults.SHARD_MIN_WINDOWS
    most = shards * defaults.SHARD_MAX_WINDOWS
    if len(sample) < 2:
        return least  # at most one item: the range is all but empty
    assert rng.after is not None and rng.before is not None
    span = max(1, rng.before.edge_ms - rng.after.edge_ms) / 1000
    covered = max(sample) - min(sample) + 1
    estimate = len(sample) * span / covered
    wanted = -(-int(estimate) // defaults.SHARD_ITEMS_PER_WINDOW)
    # Whole rounds of windows: a last round of a few windows would leave shards idle.
    wanted = -(-wanted // shards) * shards
    return max(least, min(most, wanted))


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
    # Each window asks with the whole range's lower bound, so the answer that closes a
    # window reaches into the next one: items it drops, which prove it finished.
    return [
        WalkRange(after=lo, before=up, floor=rng.after if lo.is_own else None)
        for up, lo in zip(uppers, lowers, strict=True)
    ]


class ShardedWalk(AsyncWalk[M]):
    """Walk several windows at once; yield newest first (``ordered``) or as items come.

    The windows are planned at the first ``anext()`` (see :func:`window_count`): until
    then no request is sent. An ordered sharded walk has a ``resume_token`` like a
    sequential one: it resumes as a sequential walk from the last item handed out down
    to the start of the range.
    """

    def __init__(
        self,
        open_window: OpenWindow[M],
        rng: WalkRange,
        *,
        kind: str,
        filters: Filters,
        shards: int,
        ordered: bool = True,
        sample: SamplePage | None = None,
        buffer: int = defaults.SHARD_BUFFER,
    ) -> None:
        self._open_window = open_window
        self._range = rng
        self._kind = kind
        self._filters = filters
        self._ordered = ordered
        self._concurrency = shards
        self._sample = sample
        self._buffer = buffer
        self._slots = asyncio.Semaphore(shards)
        self._walks: list[Walk[M]] = []
        self._queues: list[asyncio.Queue[Any]] = []
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
        """How many windows the range was cut into (0 until the walk has started)."""
        return len(self._walks)

    async def __anext__(self) -> M:
        try:
            if self._iter is None:
                await self._start()
                self._iter = self._ordered_items() if self._ordered else self._unordered_items()
            return await anext(self._iter)
        except BaseException:
            await self.aclose()
            raise

    @property
    def resume_token(self) -> str:
        """Where to go on from: pass it to ``iterate(resume_token=...)`` later.

        The token resumes as a sequential walk from just after the last item handed out
        down to the start of the range (before the first ``anext()``: the whole range).
        Raises ``CursorError`` for an unordered walk (``ordered=False``), whose shards
        have no single position.
        """
        if not self._ordered:
            raise CursorError(
                "an unordered sharded walk has no single position to resume from; "
                "use ordered=True to get resume tokens"
            )
        if not self._walks:  # not started: the whole range is still ahead
            return encode_token(self._kind, self._range, self._filters, CursorState())
        shard = self._walks[min(self._current, len(self._walks) - 1)]
        rest = WalkRange(after=self._range.after, before=shard.range.before)
        state = self._position.state(shard.state)
        if self._current >= len(self._walks):
            state = attrs.evolve(state, done=True)
        return encode_token(self._kind, rest, self._filters, state)

    async def _start(self) -> None:
        answer = await self._sample(self._range) if self._sample is not None else None
        seconds = [ref.second for ref in page_refs(answer[1], answer[2])] if answer else []
        count = window_count(seconds, self._range, self._concurrency)
        self._walks = [self._open_window(part) for part in split_range(self._range, count)]
        if answer is not None:
            # The newest window's first query is the planning one (it asks with the whole
            # range's lower bound): it reads that answer instead of asking again.
            self._walks[0].prime(*answer)
        self._queues = [asyncio.Queue(self._buffer) for _ in self._walks]
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
