"""``ExpansionWaiter``: one wait for one job, served by the session's poller."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import attrs

from .errors import ExpansionTimeoutError
from .models import ExpansionResult
from .wait_token import WaitToken

if TYPE_CHECKING:
    from .waiting import ExpansionPoller


class ExpansionWaiter:
    """One wait for one job: ``await`` it for the result; ask it for a continuation token.

    Completed jobs give their :class:`ExpansionResult`; failed ones raise
    :class:`ExpansionFailed` (:class:`ExpansionEnded` for a job that ended without a
    result, e.g. ``canceled``); a wait past its deadline raises
    :class:`ExpansionTimeoutError` (the job itself goes on and can be waited for again).
    The deadline is wall-clock time (it travels in the token); how long the wait took is
    measured on the session's monotonic clock.
    """

    def __init__(
        self,
        poller: ExpansionPoller,
        token: WaitToken,
        *,
        poll_interval: float,
        max_interval: float,
        created: float | None = None,
    ) -> None:
        self._poller = poller
        self._token = token
        self._poll_interval = poll_interval
        self._max_interval = max_interval
        # When the wait began on this process's monotonic clock; None for a wait resumed
        # from a token, whose start is only known as wall-clock time.
        self._created = created

    @property
    def job_id(self) -> str:
        """The job this wait is for."""
        return self._token.job_id

    def _last_status(self) -> str | None:
        last = self._poller.last_status(self.job_id)
        return self._token.last_status if last is None else last

    def continuation_token(self) -> str:
        """Job id, start, deadline (epoch seconds) and last status seen, as JSON."""
        return attrs.evolve(self._token, last_status=self._last_status()).dumps()

    def __await__(self) -> Generator[Any, None, ExpansionResult]:
        return self.result().__await__()

    async def result(self) -> ExpansionResult:
        """Wait for the job's end and return its result (what ``await waiter`` does).

        Raises:
            ExpansionFailed: the job failed (``ExpansionEnded`` when it ended without a
                result, e.g. ``canceled``).
            ExpansionTimeoutError: the wait's deadline passed first.
        """
        clock = self._poller.clock
        begun = clock.monotonic()
        if self._created is not None:
            remaining = self._token.deadline - self._token.started_at - (begun - self._created)
            before = begun - self._created
        else:
            # Resumed: time before this process took the wait over is only known as wall
            # time (it may come from another machine).
            now = clock.time()
            remaining = self._token.deadline - now
            before = max(0.0, now - self._token.started_at)
        hooks = self._poller.hooks
        if not hooks.active:
            return await self._wait(begun, remaining, before)
        operation = hooks.start("wait_for_expansion", clock.monotonic, job_id=self.job_id)
        try:
            result = await self._wait(begun, remaining, before)
        except BaseException as exc:
            operation.end(exc, status=self._last_status() or "")
            raise
        operation.end(None, status=str(result.job.status))
        return result

    async def _wait(self, begun: float, remaining: float, before: float) -> ExpansionResult:
        clock = self._poller.clock
        future = self._poller.watch(
            self.job_id, poll_interval=self._poll_interval, max_interval=self._max_interval
        )
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races with the result, and a cancelled wait must stay cancelled.
            async with asyncio.timeout(max(0.0, remaining)):
                return await future
        except TimeoutError:
            last = self._last_status()
            self._token = attrs.evolve(self._token, last_status=last)
            waited = before + clock.monotonic() - begun
            raise ExpansionTimeoutError(
                self.job_id, last, waited, self._poller.last_error(self.job_id)
            ) from None
