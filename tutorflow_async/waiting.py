"""Waiting for expansion jobs: one shared poller per session, resumable waits.

Many concurrent waits do not each sleep and poll on their own. Every wait registers
with the session's :class:`ExpansionPoller`, which keeps a single heap of due polls,
runs at most ``POLL_CONCURRENCY`` polls at once, and sends every request through the
key's shared rate limiter. Waits for the same job share one schedule. When a webhook
receiver is attached, a job's terminal event ends its waits at once (the result is
then fetched once) and polling only runs, slowly, as the fallback for lost events.

The decision "when do I ask next" is the pure :func:`next_poll_delay`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import heapq
import json
import logging
import random
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from edu_async_core import defaults
from edu_async_core.errors import InvalidArgumentError, SDKError
from edu_async_core.validation import positive_number, require_str

from .errors import (
    APIConnectionError,
    APITimeoutError,
    BadResponseError,
    ExpansionFailed,
    ExpansionTimeoutError,
    InternalServerError,
    RateLimitExceededError,
)
from .models import ExpansionResult, JobStatus

if TYPE_CHECKING:
    from .expansions import Expansions

logger = logging.getLogger("tutorflow_async")

#: Errors after which polling goes on (the transport already retried them).
TRANSIENT = (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    RateLimitExceededError,
    BadResponseError,
)


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


class EventSource(Protocol):
    """What a webhook receiver offers a poller: a future per job's terminal event."""

    def subscribe(self, job_id: str) -> asyncio.Future[Any]: ...


@attrs.define(eq=False)
class _Watch:
    job_id: str
    poll_interval: float
    max_interval: float
    waiters: set[asyncio.Future[ExpansionResult]] = attrs.field(factory=set)
    polls: int = 0
    errors: int = 0
    due: float = 0.0
    last_status: str | None = None
    event_arrived: bool = False
    busy: bool = False


@attrs.frozen
class PollerStats:
    """Counters of one poller, for progress displays and benchmarks."""

    watched: int
    polls: int
    result_fetches: int
    events: int
    transient_errors: int


class ExpansionPoller:
    """Serves every wait of one session from one schedule (see the module docstring)."""

    def __init__(
        self,
        expansions: Expansions,
        *,
        concurrency: int = defaults.POLL_CONCURRENCY,
        webhook_fallback: float = defaults.WEBHOOK_FALLBACK_INTERVAL,
    ) -> None:
        self._expansions = expansions
        self._watches: dict[str, _Watch] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self._events: EventSource | None = None
        self._webhook_fallback = webhook_fallback
        self._polls = self._fetches = self._event_count = self._transient = 0
        # Last status seen per job, kept past the end of its waits (a timed-out wait
        # reports it), bounded so a long-lived session does not grow without end.
        self._statuses: collections.OrderedDict[str, str] = collections.OrderedDict()

    @property
    def stats(self) -> PollerStats:
        return PollerStats(
            len(self._watches), self._polls, self._fetches, self._event_count, self._transient
        )

    def attach_events(
        self, source: EventSource | None, *, fallback_interval: float | None = None
    ) -> None:
        """Let terminal webhook events end waits (``None`` detaches); with events, a job
        is first polled after ``fallback_interval`` seconds, in case its event is lost."""
        self._events = source
        if fallback_interval is not None:
            self._webhook_fallback = positive_number(fallback_interval, "fallback_interval")

    def last_status(self, job_id: str) -> str | None:
        return self._statuses.get(job_id)

    def _saw(self, watch: _Watch, status: str) -> None:
        watch.last_status = status
        self._statuses[watch.job_id] = status
        self._statuses.move_to_end(watch.job_id)
        if len(self._statuses) > defaults.POLL_STATUS_MEMORY:
            self._statuses.popitem(last=False)

    def watch(
        self, job_id: str, *, poll_interval: float, max_interval: float
    ) -> asyncio.Future[ExpansionResult]:
        """A future resolved with the job's result (or its failure) once it is terminal."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ExpansionResult] = loop.create_future()
        watch = self._watches.get(job_id)
        if watch is None:
            watch = _Watch(job_id, poll_interval, max_interval)
            self._watches[job_id] = watch
            if self._events is not None:
                first = self._webhook_fallback
            else:
                first = next_poll_delay(0, poll_interval=poll_interval, max_interval=max_interval)
            self._schedule(watch, time.monotonic() + first)
            if self._events is not None:
                self._events.subscribe(job_id).add_done_callback(
                    functools.partial(self._on_event, watch)
                )
        watch.waiters.add(future)
        future.add_done_callback(functools.partial(self._forget, watch))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="tutorflow-poller")
        return future

    def _forget(self, watch: _Watch, future: asyncio.Future[ExpansionResult]) -> None:
        watch.waiters.discard(future)
        if not watch.waiters and self._watches.get(watch.job_id) is watch:
            del self._watches[watch.job_id]

    def _on_event(self, watch: _Watch, event: asyncio.Future[Any]) -> None:
        if event.cancelled() or event.exception() is not None:
            return
        self._event_count += 1
        if self._watches.get(watch.job_id) is watch:
            watch.event_arrived = True
            self._schedule(watch, 0.0)

    def _schedule(self, watch: _Watch, when: float) -> None:
        watch.due = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, watch.job_id))
        self._wake.set()

    async def _run(self) -> None:
        try:
            while self._watches or self._inflight:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    when, _, job_id = heapq.heappop(self._heap)
                    watch = self._watches.get(job_id)
                    if watch is None or watch.busy or when != watch.due:
                        continue  # finished, already polling, or rescheduled since
                    watch.busy = True
                    await self._slots.acquire()
                    task = asyncio.create_task(self._poll(watch))
                    self._inflight.add(task)
                    task.add_done_callback(self._poll_done)
                self._wake.clear()
                delay = self._heap[0][0] - time.monotonic() if self._heap else None
                if delay is None and not self._inflight:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
        finally:
            self._task = None

    def _poll_done(self, task: asyncio.Task[None]) -> None:
        # The loop is woken here, once the task has left ``_inflight``: woken from inside
        # the task, it could see the last poll still in flight and wait with no timeout
        # for a wake that never comes (the poller would idle until the session closed).
        self._inflight.discard(task)
        self._wake.set()

    async def _poll(self, watch: _Watch) -> None:
        try:
            await self._poll_once(watch)
        finally:
            watch.busy = False
            self._slots.release()

    async def _poll_once(self, watch: _Watch) -> None:
        if not watch.waiters:
            return
        event_first = watch.event_arrived
        result: ExpansionResult | None
        try:
            if event_first:
                result = await self._fetch_result(watch)
            else:
                self._polls += 1
                job = await self._expansions.get(watch.job_id)
                watch.polls += 1
                self._saw(watch, job.status)
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug(
                        "poll job=%s status=%s polls=%d waiters=%d",
                        watch.job_id,
                        job.status,
                        watch.polls,
                        len(watch.waiters),
                    )
                result = await self._fetch_result(watch) if job.is_terminal else None
        except TRANSIENT as exc:
            self._transient += 1
            watch.errors += 1
            logger.debug("poll job=%s failed (%s); polling on", watch.job_id, type(exc).__name__)
            self._reschedule(watch)
            return
        except SDKError as exc:
            self._settle(watch, exc)
            return
        if result is None or not result.job.is_terminal:
            if event_first or not watch.event_arrived:
                watch.event_arrived = False
                self._reschedule(watch)
            else:
                self._schedule(watch, 0.0)  # the event came while we were polling
            return
        if result.job.status == JobStatus.FAILED:
            self._settle(watch, failure(result))
        else:
            self._settle(watch, result)

    async def _fetch_result(self, watch: _Watch) -> ExpansionResult:
        self._fetches += 1
        result = await self._expansions.result(watch.job_id)
        self._saw(watch, result.job.status)
        return result

    def _reschedule(self, watch: _Watch) -> None:
        if not watch.waiters:
            return
        interval = watch.poll_interval
        max_interval = watch.max_interval
        if self._events is not None:
            interval = max_interval = max(self._webhook_fallback, watch.max_interval)
        delay = next_poll_delay(watch.polls, poll_interval=interval, max_interval=max_interval)
        logger.debug("next poll of job=%s in %.2fs", watch.job_id, delay)
        self._schedule(watch, time.monotonic() + delay)

    def _settle(self, watch: _Watch, outcome: ExpansionResult | BaseException) -> None:
        for future in list(watch.waiters):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        if self._watches.get(watch.job_id) is watch:
            del self._watches[watch.job_id]

    async def aclose(self) -> None:
        """Stop polling; pending waits are cancelled."""
        for watch in list(self._watches.values()):
            for future in watch.waiters:
                future.cancel()
        self._watches.clear()
        tasks = [t for t in (self._task, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def failure(result: ExpansionResult) -> ExpansionFailed:
    """The typed error of a failed job, with its own and its outputs' error details."""
    output_errors = tuple(o.error for o in result.outputs if o.error is not None)
    return ExpansionFailed(result.job.id, result, result.job.error, output_errors)


@attrs.frozen
class WaitToken:
    """A wait's continuation: enough for another process to go on waiting (JSON-safe)."""

    job_id: str
    started_at: float
    deadline: float
    last_status: str | None = None

    def dumps(self) -> str:
        return json.dumps(attrs.asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: object) -> WaitToken:
        if not isinstance(text, str):
            raise InvalidArgumentError("token", "expected the string from continuation_token()")
        try:
            data = json.loads(text)
            token = cls(
                job_id=require_str(data["job_id"], "token.job_id"),
                started_at=float(data["started_at"]),
                deadline=float(data["deadline"]),
                last_status=data.get("last_status"),
            )
        except InvalidArgumentError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidArgumentError("token", f"not a wait token: {exc}") from None
        return token


class ExpansionWaiter:
    """One wait for one job: ``await`` it for the result; ask it for a continuation token.

    Completed jobs give their :class:`ExpansionResult`; failed ones raise
    :class:`ExpansionFailed`; a wait past its deadline raises
    :class:`ExpansionTimeoutError` (the job itself goes on and can be waited for again).
    """

    def __init__(
        self,
        poller: ExpansionPoller,
        token: WaitToken,
        *,
        poll_interval: float,
        max_interval: float,
    ) -> None:
        self._poller = poller
        self._token = token
        self._poll_interval = poll_interval
        self._max_interval = max_interval

    @property
    def job_id(self) -> str:
        return self._token.job_id

    def continuation_token(self) -> str:
        """Job id, start, deadline (epoch seconds) and last status seen, as JSON."""
        last = self._poller.last_status(self.job_id) or self._token.last_status
        return attrs.evolve(self._token, last_status=last).dumps()

    def __await__(self) -> Generator[Any, None, ExpansionResult]:
        return self.result().__await__()

    async def result(self) -> ExpansionResult:
        remaining = self._token.deadline - time.time()
        future = self._poller.watch(
            self.job_id, poll_interval=self._poll_interval, max_interval=self._max_interval
        )
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races with the result, and a cancelled wait must stay cancelled.
            async with asyncio.timeout(max(0.0, remaining)):
                return await future
        except TimeoutError:
            last = self._poller.last_status(self.job_id) or self._token.last_status
            self._token = attrs.evolve(self._token, last_status=last)
            raise ExpansionTimeoutError(
                self.job_id, last, time.time() - self._token.started_at
            ) from None


def check_wait_arguments(timeout: object, poll_interval: object, max_interval: object) -> None:
    positive_number(timeout, "timeout")
    interval = positive_number(poll_interval, "poll_interval")
    if positive_number(max_interval, "max_interval") < interval:
        raise InvalidArgumentError("max_interval", "must not be shorter than poll_interval")
