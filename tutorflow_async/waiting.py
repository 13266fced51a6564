"""Waiting for expansion jobs: one shared poller per session, resumable waits.

Many concurrent waits do not each sleep and poll on their own. Every wait registers
with the session's :class:`ExpansionPoller`, which keeps a single heap of due polls,
runs at most ``POLL_CONCURRENCY`` polls at once, and sends every request through the
key's shared rate limiter. Waits for the same job share one schedule. When a webhook
receiver is attached, a job's terminal event ends its waits at once (the result is
then fetched once) and polling only runs, slowly, as the fallback for lost events.

When to ask next is decided by the pure
:func:`~tutorflow_async.poll_schedule.next_poll_delay`; one wait is an
:class:`~tutorflow_async.waiter.ExpansionWaiter`, and what lets another process go on
with it a :class:`~tutorflow_async.wait_token.WaitToken`. Those names are also
importable from here, as they were before they got modules of their own. What is left
here is the poller alone, one state machine around one heap of due polls; it stays one
module (over 400 lines) because its parts all read and write the same watch records.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import heapq
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from edu_async_core.clock import SYSTEM_CLOCK, Clock
from edu_async_core.errors import SDKError
from edu_async_core.hooks import Hooks, PollDecision

from . import defaults
from .checks import check_wait_arguments, positive_number
from .errors import (
    APIConnectionError,
    APITimeoutError,
    BadResponseError,
    ConflictError,
    ExpansionEnded,
    ExpansionFailed,
    InternalServerError,
    NotFoundError,
    RateLimitExceededError,
)
from .models import ExpansionResult
from .poll_schedule import next_poll_delay
from .statuses import StatusMeaning, meaning
from .statuses import ended_statuses as ended_statuses_set
from .wait_token import WaitToken
from .waiter import ExpansionWaiter

if TYPE_CHECKING:
    from .expansions import Expansions

__all__ = [
    "TRANSIENT",
    "EventSource",
    "ExpansionPoller",
    "ExpansionWaiter",
    "PollerStats",
    "WaitToken",
    "check_wait_arguments",
    "failure",
    "next_poll_delay",
]

logger = logging.getLogger("tutorflow_async")

#: Errors after which polling goes on (the transport already retried them).
TRANSIENT = (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    RateLimitExceededError,
    BadResponseError,
)


class EventSource(Protocol):
    """What a webhook receiver offers a poller: a future per job's terminal event.

    Cancelling the future unsubscribes (a wait that ends otherwise cancels it, so a
    long-running receiver keeps nothing for it)."""

    def subscribe(self, job_id: str) -> asyncio.Future[Any]:
        """A future that gets ``job_id``'s terminal event (cancel it to unsubscribe)."""
        ...


@attrs.define(eq=False)
class _Watch:
    job_id: str
    poll_interval: float
    max_interval: float
    waiters: set[asyncio.Future[ExpansionResult]] = attrs.field(factory=set)
    polls: int = 0
    errors: int = 0
    due: float = 0.0
    event_arrived: bool = False
    busy: bool = False
    task: asyncio.Task[None] | None = None
    subscription: asyncio.Future[Any] | None = None
    warned: bool = False
    # Set once a completed status was seen but its result was not there yet.
    result_since: float | None = None
    # The job was last said to be completed (a poll or an event): a 404/409 from its
    # result is then taken as "not there yet". A failed job's is not waited for.
    said_completed: bool = False
    result_tries: int = 0
    on_retry: Callable[[SDKError], None] | None = None


@attrs.frozen
class PollerStats:
    """Counters of one poller, for progress displays and benchmarks."""

    watched: int
    polls: int
    result_fetches: int
    events: int
    transient_errors: int


@attrs.define
class _Seen:
    """What a timed-out wait reports of its job: the last status exactly as sent, and the
    last failure of its polls (cleared by the next answer that could be read)."""

    status: str | None = None
    error: BaseException | None = None
    # When the poll still waiting for its answer was sent (monotonic), if one is.
    asked: float | None = None


class ExpansionPoller:
    """Serves every wait of one session from one schedule (see the module docstring)."""

    def __init__(
        self,
        expansions: Expansions,
        *,
        concurrency: int = defaults.POLL_CONCURRENCY,
        webhook_fallback: float = defaults.WEBHOOK_FALLBACK_INTERVAL,
        clock: Clock = SYSTEM_CLOCK,
        ended_statuses: Iterable[str] = defaults.TUTORFLOW_ENDED_STATUSES,
        result_grace: float = defaults.RESULT_GRACE,
        hooks: Hooks | None = None,
    ) -> None:
        self._expansions = expansions
        #: The session's event hooks: each poll's decision, and each wait as an operation.
        self.hooks = hooks if hooks is not None else Hooks()
        self.clock = clock
        self._ended = ended_statuses_set(ended_statuses)
        self._result_grace = result_grace
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
        # What was last seen per job, kept past the end of its waits (a timed-out wait
        # reports it), bounded so a long-lived session does not grow without end.
        self._seen: collections.OrderedDict[str, _Seen] = collections.OrderedDict()

    @property
    def stats(self) -> PollerStats:
        """Counts so far: jobs watched now, status polls, result fetches, webhook events
        used, and transient poll failures ridden out."""
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
        """The job's status exactly as the server last sent it (``None``: none yet)."""
        seen = self._seen.get(job_id)
        return None if seen is None else seen.status

    def last_error(self, job_id: str) -> BaseException | None:
        """The failure of the job's last poll, if it failed; for a poll still waiting for
        its answer, a timeout saying since when."""
        seen = self._seen.get(job_id)
        if seen is None:
            return None
        if seen.error is None and seen.asked is not None:
            waited = self.clock.monotonic() - seen.asked
            return APITimeoutError(f"the poll sent {waited:.1f}s ago got no answer")
        return seen.error

    def _record(self, job_id: str) -> _Seen:
        seen = self._seen.get(job_id)
        if seen is None:
            seen = self._seen[job_id] = _Seen()
            if len(self._seen) > defaults.POLL_STATUS_MEMORY:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(job_id)
        return seen

    def _saw(self, watch: _Watch, status: str) -> None:
        seen = self._record(watch.job_id)
        seen.status, seen.error, seen.asked = status, None, None

    def _failed(self, watch: _Watch, error: BaseException) -> None:
        seen = self._record(watch.job_id)
        seen.error, seen.asked = error, None

    def watch(
        self, job_id: str, *, poll_interval: float, max_interval: float
    ) -> asyncio.Future[ExpansionResult]:
        """A future resolved with the job's result (or its failure) once it is terminal."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ExpansionResult] = loop.create_future()
        watch = self._watches.get(job_id)
        if watch is None:
            watch = _Watch(job_id, poll_interval, max_interval)
            # A poll's retried failures are heard at once: a wait that ends mid-retry
            # can still say what went wrong.
            watch.on_retry = functools.partial(self._failed, watch)
            self._watches[job_id] = watch
            if self._events is not None:
                first = self._webhook_fallback
            else:
                first = next_poll_delay(0, poll_interval=poll_interval, max_interval=max_interval)
            self._schedule(watch, self.clock.monotonic() + first)
            if self._events is not None:
                watch.subscription = self._events.subscribe(job_id)
                watch.subscription.add_done_callback(functools.partial(self._on_event, watch))
        watch.waiters.add(future)
        future.add_done_callback(functools.partial(self._forget, watch))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="tutorflow-poller")
        return future

    def _forget(self, watch: _Watch, future: asyncio.Future[ExpansionResult]) -> None:
        watch.waiters.discard(future)
        if not watch.waiters:
            self._drop(watch)

    def _drop(self, watch: _Watch) -> None:
        """Nobody waits for the job any more: stop everything done on its behalf."""
        if self._watches.get(watch.job_id) is watch:
            del self._watches[watch.job_id]
        # A poll nobody waits for would hold a slot (and a rate-limit slot) until the
        # server answered, starving the waits still running.
        if watch.task is not None and not watch.task.done():
            watch.task.cancel()
        subscription, watch.subscription = watch.subscription, None
        if subscription is not None and not subscription.done():
            subscription.cancel()
        self._wake.set()  # the loop ends (or sleeps less) once nothing is left to poll

    def _on_event(self, watch: _Watch, event: asyncio.Future[Any]) -> None:
        if event.cancelled() or event.exception() is not None:
            return
        self._event_count += 1
        if self._watches.get(watch.job_id) is watch:
            watch.event_arrived = True
            watch.said_completed = bool(getattr(event.result(), "is_completed", True))
            self._schedule(watch, 0.0)

    def _schedule(self, watch: _Watch, when: float) -> None:
        watch.due = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, watch.job_id))
        self._wake.set()

    async def _run(self) -> None:
        try:
            while self._watches or self._inflight:
                now = self.clock.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    when, _, job_id = heapq.heappop(self._heap)
                    watch = self._watches.get(job_id)
                    if watch is None or watch.busy or when != watch.due:
                        continue  # finished, already polling, or rescheduled since
                    watch.busy = True
                    await self._slots.acquire()
                    task = asyncio.create_task(self._poll(watch))
                    watch.task = task
                    self._inflight.add(task)
                    task.add_done_callback(functools.partial(self._poll_done, watch))
                self._wake.clear()
                delay = self._heap[0][0] - self.clock.monotonic() if self._heap else None
                if delay is None and not self._inflight:
                    break
                await self._idle(delay)
        finally:
            self._task = None
            if not self._watches:
                self._heap.clear()  # only entries of finished watches are left

    async def _idle(self, delay: float | None) -> None:
        """Until woken (a new wait, an event, a poll done) or ``delay`` seconds on the
        session's clock have passed."""
        if delay is None:
            await self._wake.wait()
            return
        waker = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        try:
            await asyncio.wait({waker, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waker, sleeper):
                task.cancel()
            await asyncio.gather(waker, sleeper, return_exceptions=True)

    def _poll_done(self, watch: _Watch, task: asyncio.Task[None]) -> None:
        # Here, not in the task: a task cancelled before it ran never runs its ``finally``
        # (its slot would be lost for good). The loop is woken once the task has left
        # ``_inflight``: woken from inside the task, it could see the last poll still in
        # flight and wait with no timeout for a wake that never comes.
        watch.busy = False
        if watch.task is task:
            watch.task = None
        seen = self._seen.get(watch.job_id)
        if seen is not None:
            seen.asked = None  # answered, failed or cancelled: no poll is waiting any more
        self._slots.release()
        self._inflight.discard(task)
        self._wake.set()

    async def _poll(self, watch: _Watch) -> None:
        self._record(watch.job_id).asked = self.clock.monotonic()
        try:
            await self._poll_once(watch)
        except asyncio.CancelledError:
            if watch.waiters:  # the poller itself is closing
                raise
        except Exception as exc:  # not the SDK's: end the waits with it, never lose it
            self._settle(watch, exc)

    async def _poll_once(self, watch: _Watch) -> None:
        if not watch.waiters:
            return
        fetch_result = watch.event_arrived or watch.result_since is not None
        event_first = watch.event_arrived
        result: ExpansionResult | None = None
        polled: str | None = None  # the status this poll read, for the hooks
        try:
            if not fetch_result:
                self._polls += 1
                job = await self._expansions.get(watch.job_id, on_retry=watch.on_retry)
                watch.polls += 1
                self._saw(watch, job.status)
                status = meaning(job.status, self._ended)
                polled = job.status
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug(
                        "poll job=%s status=%s polls=%d waiters=%d",
                        watch.job_id,
                        job.status,
                        watch.polls,
                        len(watch.waiters),
                        extra={"job_id": watch.job_id, "status": job.status},
                    )
                if status is StatusMeaning.ENDED:
                    self._decided(watch, job.status, None)
                    self._settle(watch, ExpansionEnded(watch.job_id, job.status, job))
                    return
                if status is StatusMeaning.UNKNOWN:
                    self._warn_unknown(watch, job.status)
                fetch_result = status in (StatusMeaning.COMPLETED, StatusMeaning.FAILED)
                if fetch_result:
                    self._decided(watch, job.status, None)
                watch.said_completed = status is StatusMeaning.COMPLETED
            if fetch_result:
                result = await self._fetch_result(watch)
        except (NotFoundError, ConflictError) as exc:
            if fetch_result and watch.said_completed and self._result_lags(watch, exc):
                return
            self._settle(watch, exc)
            return
        except TRANSIENT as exc:
            if not getattr(exc, "transient", True):
                self._settle(watch, exc)  # e.g. a redirect refused: asking again changes nothing
                return
            self._transient += 1
            watch.errors += 1
            self._failed(watch, exc)
            logger.debug(
                "poll job=%s failed (%s); polling on",
                watch.job_id,
                type(exc).__name__,
                extra={"job_id": watch.job_id, "error": type(exc).__name__},
            )
            self._reschedule(watch)
            return
        except SDKError as exc:
            self._settle(watch, exc)
            return
        watch.result_since = None
        done = None if result is None else meaning(result.job.status, self._ended)
        if done not in (StatusMeaning.COMPLETED, StatusMeaning.FAILED, StatusMeaning.ENDED):
            if event_first or not watch.event_arrived:
                watch.event_arrived = False
                delay = self._reschedule(watch)
            else:
                delay = 0.0
                self._schedule(watch, 0.0)  # the event came while we were polling
            if polled is not None:
                self._decided(watch, polled, delay)
            return
        assert result is not None
        if done is StatusMeaning.FAILED:
            self._settle(watch, failure(result))
        elif done is StatusMeaning.ENDED:
            self._settle(watch, ExpansionEnded(watch.job_id, result.job.status, result.job))
        else:
            self._settle(watch, result)

    def _decided(self, watch: _Watch, status: str, delay: float | None) -> None:
        """Tell the hooks what a poll decided: done (``delay`` None) or poll again."""
        if self.hooks.active:
            self.hooks.emit(PollDecision(watch.job_id, status, watch.polls, delay is None, delay))

    def _warn_unknown(self, watch: _Watch, status: str) -> None:
        if watch.warned:
            return
        watch.warned = True
        logger.warning(
            "job %s has the undocumented status %r; taken as still running",
            watch.job_id,
            status,
            extra={"job_id": watch.job_id, "status": status},
        )

    def _result_lags(self, watch: _Watch, error: SDKError) -> bool:
        """The job said it finished but its result is not there yet (404/409): ask again
        soon, for up to ``result_grace`` seconds. False once the grace is over."""
        now = self.clock.monotonic()
        if watch.result_since is None:
            watch.result_since = now
        if now - watch.result_since >= self._result_grace:
            return False
        self._failed(watch, error)
        watch.result_tries += 1
        delay = next_poll_delay(
            watch.result_tries - 1,
            poll_interval=defaults.RESULT_RETRY_INTERVAL,
            max_interval=defaults.RESULT_RETRY_MAX_INTERVAL,
        )
        logger.info(
            "job %s finished but its result answered %s; asking again in %.2fs",
            watch.job_id,
            error.status,
            delay,
            extra={"job_id": watch.job_id, "status": error.status, "delay": delay},
        )
        self._schedule(watch, now + delay)
        return True

    async def _fetch_result(self, watch: _Watch) -> ExpansionResult:
        self._fetches += 1
        result = await self._expansions.result(watch.job_id, on_retry=watch.on_retry)
        self._saw(watch, result.job.status)
        return result

    def _reschedule(self, watch: _Watch) -> float | None:
        """Schedule the next poll; returns its delay (None: nobody waits any more)."""
        if not watch.waiters:
            return None
        interval = watch.poll_interval
        max_interval = watch.max_interval
        if self._events is not None:
            interval = max_interval = max(self._webhook_fallback, watch.max_interval)
        # Failed polls count too: a server that keeps failing is asked less and less often.
        delay = next_poll_delay(
            watch.polls + watch.errors, poll_interval=interval, max_interval=max_interval
        )
        logger.debug(
            "next poll of job=%s in %.2fs",
            watch.job_id,
            delay,
            extra={"job_id": watch.job_id, "delay": delay},
        )
        self._schedule(watch, self.clock.monotonic() + delay)
        return delay

    def _settle(self, watch: _Watch, outcome: ExpansionResult | BaseException) -> None:
        for future in list(watch.waiters):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        self._drop(watch)

    async def aclose(self) -> None:
        """Stop polling; pending waits are cancelled."""
        for watch in list(self._watches.values()):
            for future in watch.waiters:
                future.cancel()
            self._drop(watch)
        self._watches.clear()
        tasks = [t for t in (self._task, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def failure(result: ExpansionResult) -> ExpansionFailed:
    """The typed error of a failed job, with its own and its outputs' error details."""
    output_errors = tuple(o.error for o in result.outputs if o.error is not None)
    return ExpansionFailed(result.job.id, result, result.job.error, output_errors)


