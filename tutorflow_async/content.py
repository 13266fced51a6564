"""``ContentSession``: the Content API key's side of TutorFlow."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

import aiohttp
import attrs

from edu_async_core import defaults as core_defaults
from edu_async_core.clock import SYSTEM_CLOCK, Clock
from edu_async_core.hooks import Hook, Hooks, as_hooks
from edu_async_core.limits import Fleet
from edu_async_core.redaction import Secret
from edu_async_core.session import BaseSession, with_user_agent
from edu_async_core.transport import Transport, TransportConfig

from . import bulk, defaults
from .checks import from_env, path_segment, positive_int, secret_value
from .errors import FAMILY, InvalidArgumentError
from .expansions import Expansions
from .models import ExpansionResult
from .waiting import (
    EventSource,
    ExpansionPoller,
    ExpansionWaiter,
    WaitToken,
    check_wait_arguments,
)

logger: Final = logging.getLogger("tutorflow_async")


class ContentSession(BaseSession):
    """A session authenticated with a Content API key (``Authorization: Bearer ...``).

    ``api_key`` and ``base_url`` default to ``$TUTORFLOW_CONTENT_API_KEY`` and
    ``$TUTORFLOW_API_BASE_URL`` (then ``https://api.tutorflow.io``). Every session of the
    same key in this process shares one rate limiter of ``rate_limit_per_minute``
    (``None`` turns our limiting off; the server still limits) and one retry budget.
    ``fleet`` (e.g. :class:`~edu_async_core.fleet.redis.RedisFleet`), handed to every
    session of every process using the key, shares them, and 429 pauses, across processes.

    Pass ``session=`` to reuse your own ``aiohttp.ClientSession``; it is then yours to
    close. Otherwise the session creates one and closes it in ``close()``/``async with``.

    ``webhooks`` (a :class:`~tutorflow_async.webhooks.WebhookReceiver`, or anything with
    ``subscribe(job_id)``) lets terminal events end waits without polling.
    ``poll_interval``/``max_interval`` are the polling of every wait (and bulk run) that
    does not pass its own. ``ended_statuses`` are the statuses (any case) that end a wait at
    once with :class:`~tutorflow_async.ExpansionEnded`, beside ``completed`` and ``failed``
    (default ``defaults.TUTORFLOW_ENDED_STATUSES``: ``canceled``, ``cancelled``,
    ``expired``, ...). ``hooks`` are callables (or a shared
    :class:`~edu_async_core.hooks.Hooks`) that hear every event of the session: attempts,
    retries, rate-limit waits, polls, waits and bulk runs.
    """

    def __init__(
        self,
        api_key: str | Secret | None = None,
        *,
        base_url: str | None = None,
        rate_limit_per_minute: int | None = core_defaults.RATE_LIMIT_PER_MINUTE,
        session: aiohttp.ClientSession | None = None,
        config: TransportConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        webhooks: EventSource | None = None,
        poll_interval: float = defaults.POLL_INTERVAL,
        max_interval: float = defaults.POLL_MAX_INTERVAL,
        ended_statuses: Iterable[str] = defaults.TUTORFLOW_ENDED_STATUSES,
        hooks: Hooks | Iterable[Hook] | Hook | None = None,
        fleet: Fleet | None = None,
    ) -> None:
        check_wait_arguments(1.0, poll_interval, max_interval)
        if isinstance(ended_statuses, str) or not all(
            isinstance(status, str) and status for status in ended_statuses
        ):
            raise InvalidArgumentError(
                "ended_statuses", "expected a collection of non-empty status strings"
            )
        #: Polling of waits that do not set their own: the first interval, then the
        #: longest one the backoff grows to (a test harness sets them short).
        self.poll_interval = float(poll_interval)
        self.max_interval = float(max_interval)
        key = secret_value(from_env(api_key, defaults.TUTORFLOW_ENV_API_KEY, "api_key"), "api_key")
        url = from_env(
            base_url,
            defaults.TUTORFLOW_ENV_BASE_URL,
            "base_url",
            default=defaults.TUTORFLOW_BASE_URL,
        )
        if rate_limit_per_minute is not None:
            positive_int(rate_limit_per_minute, "rate_limit_per_minute")
        transport_config = attrs.evolve(
            with_user_agent(config, defaults.TUTORFLOW_USER_AGENT),
            rate_limit_per_minute=rate_limit_per_minute,
        )
        self.key_prefix = key.prefix
        self._transport = Transport(
            base_url=url,
            auth_headers={"Authorization": f"Bearer {key.reveal()}"},
            secret_for_identity=key.reveal(),
            key_prefix=key.prefix,
            logger=logger,
            errors=FAMILY,
            config=transport_config,
            session=session,
            clock=clock,
            hooks=FAMILY.checked(as_hooks)(hooks),
            fleet=fleet,
        )
        self.expansions = Expansions(self._transport)
        self._clock = clock
        self._poller = ExpansionPoller(
            self.expansions,
            clock=clock,
            ended_statuses=ended_statuses,
            hooks=self._transport.hooks,
        )
        if webhooks is not None:
            self._poller.attach_events(webhooks)

    def attach_webhooks(
        self,
        receiver: EventSource | None,
        *,
        fallback_interval: float = defaults.WEBHOOK_FALLBACK_INTERVAL,
    ) -> None:
        """Let a webhook receiver's terminal events end waits at once; ``None`` detaches.

        Polling stays as the fallback for lost events: a job is first polled after
        ``fallback_interval`` seconds, then at the backed-off interval.
        """
        self._poller.attach_events(receiver, fallback_interval=fallback_interval)

    @property
    def poller(self) -> ExpansionPoller:
        """The scheduler all waits of this session share (its ``stats`` count polls)."""
        return self._poller

    def expansion_waiter(
        self,
        job_id: str,
        *,
        timeout: float = defaults.WAIT_TIMEOUT,
        poll_interval: float | None = None,
        max_interval: float | None = None,
    ) -> ExpansionWaiter:
        """A wait for ``job_id`` you can ``await`` and take a ``continuation_token()`` of."""
        path_segment(job_id, "job_id")
        poll_interval, max_interval = self.intervals(poll_interval, max_interval)
        check_wait_arguments(timeout, poll_interval, max_interval)
        now = self._clock.time()
        token = WaitToken(job_id=job_id, started_at=now, deadline=now + timeout)
        return ExpansionWaiter(
            self._poller,
            token,
            poll_interval=poll_interval,
            max_interval=max_interval,
            created=self._clock.monotonic(),
        )

    async def wait_for_expansion(
        self,
        job_id: str,
        *,
        timeout: float = defaults.WAIT_TIMEOUT,  # noqa: ASYNC109 (a deadline, named as users expect)
        poll_interval: float | None = None,
        max_interval: float | None = None,
    ) -> ExpansionResult:
        """Wait until the job is terminal and return its result.

        A completed job gives its :class:`ExpansionResult`; a failed one raises
        :class:`ExpansionFailed` with the job's and outputs' errors. Past ``timeout``
        seconds it raises :class:`ExpansionTimeoutError` (job id, last status). Polls back
        off from ``poll_interval`` to ``max_interval`` with jitter, are shared with every
        other wait of this session, go through the key's rate limiter, and ride out
        transient errors. Cancelling the wait stops it cleanly.
        """
        waiter = self.expansion_waiter(
            job_id, timeout=timeout, poll_interval=poll_interval, max_interval=max_interval
        )
        return await waiter.result()

    def resume_wait(
        self,
        token: str,
        *,
        poll_interval: float | None = None,
        max_interval: float | None = None,
    ) -> ExpansionWaiter:
        """Go on with a wait from its ``continuation_token()`` (same job, same deadline)."""
        poll_interval, max_interval = self.intervals(poll_interval, max_interval)
        check_wait_arguments(1.0, poll_interval, max_interval)
        return ExpansionWaiter(
            self._poller,
            WaitToken.loads(token),
            poll_interval=poll_interval,
            max_interval=max_interval,
        )

    def intervals(
        self, poll_interval: float | None, max_interval: float | None
    ) -> tuple[float, float]:
        """The polling a wait uses: what it asked for, else this session's."""
        return (
            self.poll_interval if poll_interval is None else poll_interval,
            self.max_interval if max_interval is None else max_interval,
        )

    expand_many = bulk.expand_many

    async def close(self) -> None:
        """Stop the session's poller (pending waits end with ``SessionClosedError``), then
        close the HTTP session if this session made it."""
        await self._poller.aclose()
        await super().close()

    def __repr__(self) -> str:
        return f"ContentSession(base_url={self.base_url!r}, key={self.key_prefix!r})"
