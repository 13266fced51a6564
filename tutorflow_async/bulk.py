"""``ContentSession.expand_many``: many inputs, bounded concurrency, one outcome each.

Every input yields exactly one :class:`ExpansionOutcome`, in completion order: bad inputs
as ``invalid`` (the run goes on), creates that failed after their retries as ``error``,
waits past their deadline as ``timeout``, and jobs as ``completed`` or ``failed``. With a
journal, a re-run after a crash reports finished inputs from it and creates no job for
an input it already created (see ``journal.py``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import attrs

from edu_async_core.clock import Clock
from edu_async_core.errors import SDKError
from edu_async_core.hooks import Hooks

from . import defaults
from .checks import positive_int, positive_number
from .errors import ExpansionFailed, ExpansionTimeoutError, InvalidArgumentError
from .expansions import prepare_create
from .journal import Journal
from .models import ErrorDetail, ExpansionJob, ExpansionResult

logger = logging.getLogger("tutorflow_async")


class _Creates(Protocol):
    async def create_prepared(self, body: dict[str, Any], key: str) -> ExpansionJob: ...


class _Clocked(Protocol):
    @property
    def clock(self) -> Clock: ...


class BulkSession(Protocol):
    """What a bulk run needs of a session; ``ContentSession`` is one.

    The run creates through ``expansions``, waits with ``wait_for_expansion``, takes the
    polling it was not given from ``intervals``, reports on ``hooks`` and times itself on
    the poller's clock. Nothing here imports the session class, so this module stays below
    ``content`` (which offers ``expand_many`` as ``ContentSession.expand_many``).
    """

    @property
    def expansions(self) -> _Creates:
        """Creates jobs from bodies built by ``prepare_create``."""
        ...

    @property
    def poller(self) -> _Clocked:
        """The session's poller; the run reads its ``clock``."""
        ...

    @property
    def hooks(self) -> Hooks:
        """The session's event hooks, told when the run starts and ends."""
        ...

    def intervals(
        self, poll_interval: float | None, max_interval: float | None
    ) -> tuple[float, float]:
        """The polling a wait uses: what it asked for, else the session's."""
        ...

    async def wait_for_expansion(
        self,
        job_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 (the wait's deadline, as ContentSession names it)
        poll_interval: float | None,
        max_interval: float | None,
    ) -> ExpansionResult:
        """Wait until the job is terminal and return its result (or raise its failure)."""
        ...


@attrs.frozen
class ExpansionRequest:
    """One input of a bulk run. ``label`` is yours (a file name, a row id)."""

    payload: Mapping[str, Any]
    requested_outputs: Sequence[str] | None = None
    source_type: str = defaults.TUTORFLOW_DEFAULT_SOURCE_TYPE
    idempotency_key: str | None = None
    label: str | None = None


class OutcomeStatus(enum.StrEnum):
    """How one input of a bulk run ended: its job ``completed`` or ``failed``, its wait
    hit the ``timeout``, an ``error`` stopped it (the exception is on the outcome), or the
    input was ``invalid`` (no request was sent for it)."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    ERROR = "error"
    INVALID = "invalid"


@attrs.frozen
class ExpansionOutcome:
    """What became of one input: its place in the input, its job, and how it ended."""

    index: int
    status: OutcomeStatus
    label: str | None = None
    idempotency_key: str | None = None
    job_id: str | None = None
    result: ExpansionResult | None = None
    error: BaseException | None = None
    from_journal: bool = False

    @property
    def ok(self) -> bool:
        """True when the input's job completed (``result`` is then set)."""
        return self.status == OutcomeStatus.COMPLETED


@attrs.define
class BulkProgress:
    """Running counts of a bulk run (a snapshot is passed to ``on_progress``)."""

    started: int = 0
    created: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    errors: int = 0
    from_journal: int = 0

    @property
    def done(self) -> int:
        """Inputs finished so far, whatever the outcome: completed, failed or errors."""
        return self.completed + self.failed + self.errors


def _as_request(item: object, index: int) -> ExpansionRequest:
    if isinstance(item, ExpansionRequest):
        return item
    if isinstance(item, Mapping):
        return ExpansionRequest(payload=item)
    raise InvalidArgumentError(
        f"requests[{index}]",
        f"expected an ExpansionRequest or a payload dict, got {type(item).__name__}",
    )


def _error_summary(error: BaseException) -> dict[str, Any]:
    summary: dict[str, Any] = {"type": type(error).__name__, "message": str(error)[:300]}
    if isinstance(error, ExpansionFailed) and isinstance(error.error, ErrorDetail):
        summary["code"] = error.error.code
        summary["message"] = error.error.message
    elif isinstance(error, SDKError) and error.code:
        summary["code"] = error.code
    return summary


class _Run:
    def __init__(
        self,
        session: BulkSession,
        requests: Iterable[ExpansionRequest | Mapping[str, Any]],
        *,
        concurrency: int,
        journal: Journal | None,
        timeout: float,
        poll_interval: float,
        max_interval: float,
        on_progress: Callable[[BulkProgress], None] | None,
    ) -> None:
        self._session = session
        self._inputs: Iterator[tuple[int, object]] = enumerate(requests)
        self._concurrency = concurrency
        self._journal = journal
        self._wait = {
            "timeout": timeout,
            "poll_interval": poll_interval,
            "max_interval": max_interval,
        }
        self._on_progress = on_progress
        self.progress = BulkProgress()
        self._closing = False
        # Bounded: a slow consumer holds the workers back instead of piling up results.
        self._outcomes: asyncio.Queue[ExpansionOutcome | None] = asyncio.Queue(concurrency)

    def _report(self) -> None:
        if self._on_progress is not None:
            self._on_progress(attrs.evolve(self.progress))

    async def outcomes(self) -> AsyncGenerator[ExpansionOutcome, None]:
        hooks = self._session.hooks
        operation = (
            hooks.start(
                "expand_many", self._session.poller.clock.monotonic, concurrency=self._concurrency
            )
            if hooks.active
            else None
        )
        workers = [asyncio.create_task(self._worker()) for _ in range(self._concurrency)]
        remaining = len(workers)
        error: BaseException | None = None
        try:
            while remaining:
                outcome = await self._outcomes.get()
                if outcome is None:
                    remaining -= 1
                    continue
                yield outcome
        except BaseException as exc:  # GeneratorExit too: the caller stopped reading
            error = exc
            raise
        finally:
            await self._stop(workers)
            if self._journal is not None:
                self._journal.close()
            if operation is not None:
                progress = self.progress
                operation.end(
                    None if isinstance(error, GeneratorExit) else error,
                    inputs=progress.started,
                    completed=progress.completed,
                    failed=progress.failed,
                    errors=progress.errors,
                    from_journal=progress.from_journal,
                    stopped_early=isinstance(error, GeneratorExit),
                )

    async def _stop(self, workers: list[asyncio.Task[None]]) -> None:
        """Cancel the workers and wait for them, draining what they still hand over so
        that none can block on a full queue whose reader has gone."""
        self._closing = True
        pending = {t for t in workers if not t.done()}
        while pending:
            for task in pending:
                task.cancel()
            while not self._outcomes.empty():
                self._outcomes.get_nowait()
            _, pending = await asyncio.wait(pending, timeout=0.05)

    async def _worker(self) -> None:
        for index, item in self._inputs:  # shared: each input is taken once
            self.progress.started += 1
            try:
                outcome = await self._one(index, item)
            except Exception as exc:  # a bug of ours must cost one input, never the run
                logger.warning(
                    "bulk input %d failed unexpectedly: %s",
                    index,
                    type(exc).__name__,
                    extra={"index": index, "error": type(exc).__name__},
                )
                outcome = ExpansionOutcome(index, OutcomeStatus.ERROR, None, None, error=exc)
            if outcome.status == OutcomeStatus.COMPLETED:
                self.progress.completed += 1
            elif outcome.status == OutcomeStatus.FAILED:
                self.progress.failed += 1
            else:
                self.progress.errors += 1
            self._report()
            if self._closing:
                return
            await self._outcomes.put(outcome)
        await self._outcomes.put(None)  # this worker is done (not sent when cancelled)

    async def _one(self, index: int, item: object) -> ExpansionOutcome:
        label = key = job_id = None
        try:
            request = _as_request(item, index)
            label = request.label
            body, key = prepare_create(
                request.payload,
                request.requested_outputs,
                request.source_type,
                request.idempotency_key,
            )
        except InvalidArgumentError as exc:
            return ExpansionOutcome(index, OutcomeStatus.INVALID, label, key, error=exc)
        entry = self._journal.lookup(key) if self._journal is not None else None
        if entry is not None and entry.finished:
            self.progress.from_journal += 1
            return self._from_journal(index, label, key, entry.job_id, entry.status, entry.error)
        running = False
        try:
            if entry is not None and entry.job_id:
                job_id = entry.job_id  # created by an earlier run: wait, never create again
            else:
                job = await self._session.expansions.create_prepared(body, key)
                job_id = job.id
                self.progress.created += 1
                if self._journal is not None:
                    self._journal.created(key, job_id, index)
            self.progress.running += 1
            running = True
            self._report()
            result = await self._session.wait_for_expansion(job_id, **self._wait)
        except ExpansionFailed as exc:
            self._finish(key, job_id, OutcomeStatus.FAILED, exc)
            return ExpansionOutcome(
                index,
                OutcomeStatus.FAILED,
                label,
                key,
                job_id,
                result=exc.result if isinstance(exc.result, ExpansionResult) else None,
                error=exc,
            )
        except ExpansionTimeoutError as exc:
            return ExpansionOutcome(index, OutcomeStatus.TIMEOUT, label, key, job_id, error=exc)
        except InvalidArgumentError as exc:
            return ExpansionOutcome(index, OutcomeStatus.INVALID, label, key, job_id, error=exc)
        except Exception as exc:  # after retries; the run reports it and goes on
            logger.debug("bulk input %d failed: %s", index, type(exc).__name__)
            return ExpansionOutcome(index, OutcomeStatus.ERROR, label, key, job_id, error=exc)
        finally:
            if running:
                self.progress.running -= 1
        self._finish(key, job_id, OutcomeStatus.COMPLETED, None)
        return ExpansionOutcome(index, OutcomeStatus.COMPLETED, label, key, job_id, result=result)

    def _finish(
        self, key: str, job_id: str | None, status: OutcomeStatus, error: BaseException | None
    ) -> None:
        if self._journal is not None:
            summary = _error_summary(error) if error is not None else None
            self._journal.finished(key, job_id, status.value, summary)

    @staticmethod
    def _from_journal(
        index: int,
        label: str | None,
        key: str,
        job_id: str | None,
        status: str | None,
        error: dict[str, Any] | None,
    ) -> ExpansionOutcome:
        if status == OutcomeStatus.COMPLETED:
            return ExpansionOutcome(
                index, OutcomeStatus.COMPLETED, label, key, job_id, from_journal=True
            )
        detail = ErrorDetail(
            code=(error or {}).get("code"), message=(error or {}).get("message"), raw=error or {}
        )
        failed = ExpansionFailed(job_id or "?", None, detail, ())
        return ExpansionOutcome(
            index, OutcomeStatus.FAILED, label, key, job_id, error=failed, from_journal=True
        )


def expand_many(
    session: BulkSession,
    requests: Iterable[ExpansionRequest | Mapping[str, Any]],
    *,
    concurrency: int = defaults.BULK_CONCURRENCY,
    journal: str | os.PathLike[str] | Journal | None = None,
    timeout: float = defaults.WAIT_TIMEOUT,
    poll_interval: float | None = None,
    max_interval: float | None = None,
    on_progress: Callable[[BulkProgress], None] | None = None,
) -> AsyncGenerator[ExpansionOutcome, None]:
    """Expand many inputs, ``concurrency`` at a time; yield one outcome per input.

    (This is ``ContentSession.expand_many``; ``session`` is the session.) Outcomes come
    in completion order, each with the input's ``index``, ``label``, idempotency key, job
    id, status and result or typed error. Nothing is lost: a bad input is an ``invalid``
    outcome, a create that failed after retries an ``error`` one. With ``journal`` (a
    file path), a re-run of the same inputs reports finished ones from the journal and
    waits for created ones without creating them again. ``on_progress`` receives a
    :class:`BulkProgress` snapshot after each change. Argument errors are raised here,
    before any request. To stop early, ``await outcomes.aclose()`` (or use
    ``contextlib.aclosing``): it cancels the inputs in progress.
    """
    positive_int(concurrency, "concurrency")
    positive_number(timeout, "timeout")
    poll_interval, max_interval = session.intervals(poll_interval, max_interval)
    positive_number(poll_interval, "poll_interval")
    positive_number(max_interval, "max_interval")
    if isinstance(requests, Mapping | str | bytes):
        raise InvalidArgumentError("requests", "expected an iterable of inputs, not one input")
    opened = journal if isinstance(journal, Journal) or journal is None else Journal(journal)
    run = _Run(
        session,
        requests,
        concurrency=concurrency,
        journal=opened,
        timeout=timeout,
        poll_interval=poll_interval,
        max_interval=max_interval,
        on_progress=on_progress,
    )
    return run.outcomes()
