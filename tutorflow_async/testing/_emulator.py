"""A local TutorFlow Content Integration API server for tests, demos and benchmarks.

Routes on the raw request path (see ``_routing``), so what the client put on the wire is
what gets matched; endpoints live in ``_handlers`` and the state in ``_state``. It is over
400 lines because it is the whole public face of the emulator (its knobs, fixtures and
observations), with no endpoint logic of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from urllib.parse import unquote

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from edu_async_core.emulation import (
    AppServer,
    AsyncServerContext,
    RequestLog,
    reset,
    retry_after_value,
    send_damaged,
)
from tutorflow_async.testing import _auth, _wire
from tutorflow_async.testing._admission import AdmissionWindow
from tutorflow_async.testing._config import EmulatorConfig
from tutorflow_async.testing._faults import IN_TRANSIT_KINDS, Fault, FaultPlan
from tutorflow_async.testing._handlers import (
    Call,
    Endpoints,
    Reply,
    Route,
    error_reply,
)
from tutorflow_async.testing._observations import Counters, FailedDelivery, IssuedKey, RequestRecord
from tutorflow_async.testing._routing import (
    UNMATCHED,
    decoded_segments,
    split_raw_target,
)
from tutorflow_async.testing._state import MISSING, EmulatorState, Job, StatusOverride
from tutorflow_async.testing._webhooks import WebhookSender

__all__ = ["MISSING", "TutorFlowEmulator"]

logger = logging.getLogger("tutorflow_async.testing")

BAD_GATEWAY_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
# Cut mid-string, so no lenient parser can mistake it for a complete document.
TRUNCATED_JSON = b'{"job": {"id": "job_trunc'


@attrs.frozen
class Routed:
    """Where a request goes: a route (with its parameters), or nowhere.

    ``template`` is the matched path's template, also when only the method is wrong;
    ``allowed`` are the methods that path takes then (answered 405 with ``Allow``).
    """

    route: Route | None = None
    params: dict[str, str] = attrs.field(factory=dict)
    template: str | None = None
    allowed: tuple[str, ...] = ()


class TutorFlowEmulator(AsyncServerContext):
    """The TutorFlow API on ``127.0.0.1``, in memory, with faults and counters.

    Use as ``async with TutorFlowEmulator(EmulatorConfig(...)) as emu:`` or call
    :meth:`start` and :meth:`close` yourself.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        cfg = self.config
        self.counters = Counters()
        self._state = EmulatorState(
            queued_seconds=cfg.queued_seconds,
            processing_seconds=cfg.processing_seconds,
            failure_rate=cfg.failure_rate,
            seed=cfg.seed,
            final_status=cfg.final_status,
            result_lag_seconds=cfg.result_lag_seconds,
        )
        self._tokens = _auth.AdminTokens()
        self._endpoints = Endpoints(self._state, cfg, self._tokens)
        self._faults = FaultPlan(cfg.seed)
        self._limiter = AdmissionWindow(cfg.rate_limit_window)
        self._webhooks = WebhookSender(cfg, self.counters)
        self._log: RequestLog[RequestRecord] = RequestLog(cfg.request_log_limit)
        # The job clock: wall time that advances with the monotonic clock, plus whatever
        # advance() added. Wall-based so timestamps look real; monotonic so they never jump.
        self._wall_base = time.time()
        self._mono_base = time.monotonic()
        self._offset = 0.0
        self._admin_jwt = self._tokens.issue(
            cfg.admin_email, cfg.organization_id, int(self._wall_base)
        )
        self._server = AppServer()
        self._base_url: str | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the server and start the background job watcher."""
        if self._server.running:
            raise RuntimeError("emulator already started")
        self._closing.clear()
        # Every request reaches _handle through a middleware, whatever aiohttp's router makes
        # of its path: a catch-all route ("/{tail:.*}") misses a path whose decoded form
        # holds a newline, and aiohttp then answered its own plain-text 404, skipping the
        # envelope, auth, the request log, the counters and the faults.
        app = web.Application(
            client_max_size=self.config.max_body_bytes, middlewares=[self._every_request]
        )
        host, port = await self._server.start(
            app, self.config.host, self.config.port, shutdown_timeout=self.config.shutdown_timeout
        )
        try:
            await self._webhooks.start()
        except BaseException:
            await self._server.close()
            await self._webhooks.close()
            raise
        self._base_url = f"http://{host}:{port}"
        self._ticker = asyncio.create_task(self._tick(), name="tutorflow-emulator-ticker")

    async def close(self) -> None:
        """Stop serving, cancel background work and close every session. Idempotent."""
        self._closing.set()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self._server.close()
        await self._webhooks.close()

    # -- identity -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        if self._base_url is None:
            raise RuntimeError("emulator not started")
        return self._base_url

    @property
    def organization_id(self) -> str:
        """The organization of the admin and of keys made by :meth:`create_api_key`."""
        return self.config.organization_id

    @property
    def admin_email(self) -> str:
        """Email that ``POST /auth/login`` accepts."""
        return self.config.admin_email

    @property
    def admin_password(self) -> str:
        """Password that ``POST /auth/login`` accepts."""
        return self.config.admin_password

    @property
    def admin_jwt(self) -> str:
        """A valid admin session token, as login would set in the ``jwt`` cookie."""
        return self._admin_jwt

    # -- direct control -------------------------------------------------------------------

    def now(self) -> float:
        """The job clock, in epoch seconds (includes everything :meth:`advance` added)."""
        return self._wall_base + (time.monotonic() - self._mono_base) + self._offset

    def advance(self, seconds: float) -> None:
        """Move the job clock forward; the rate-limit clock is untouched."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self._offset += seconds

    def create_api_key(
        self,
        name: str = "test",
        rate_limit_per_minute: int | None = None,
        *,
        organization_id: str | None = None,
    ) -> IssuedKey:
        """Issue a content key without HTTP; ``organization_id`` defaults to the admin's."""
        if not name:
            raise ValueError("name must be non-empty")
        rate = (
            self.config.default_rate_limit_per_minute
            if rate_limit_per_minute is None
            else rate_limit_per_minute
        )
        if rate < 1:
            raise ValueError(f"rate_limit_per_minute must be >= 1, got {rate}")
        record, secret = self._state.issue_key(
            organization_id or self.config.organization_id, name, rate, self.now()
        )
        return IssuedKey(
            api_key=secret,
            key_id=record.id,
            key_prefix=record.key_prefix,
            rate_limit_per_minute=record.rate_limit_per_minute,
        )

    def override_status(self, job_id: str, value: StatusOverride) -> None:
        """Make ``GET .../expansions/{job_id}`` and ``.../result`` show ``value`` as the
        job's ``status`` until :meth:`clear_status_override`.

        ``value`` is a string (sent as is, ``status_case`` not applied, even ``""``),
        ``None`` (sent as JSON ``null``) or :data:`MISSING` (the job object has no
        ``status`` field at all). Only the job object's ``status`` changes: its output
        rows, manifests, errors and timestamps, the result lag, the create answer (also
        an idempotent replay) and webhook deliveries follow the job's real state. A later
        call replaces an earlier one. ``KeyError`` if the emulator has no such job.
        """
        if job_id not in self._state.jobs:
            raise KeyError(job_id)
        if value is not None and value is not MISSING and not isinstance(value, str):
            raise TypeError(f"value must be a str, None or MISSING, got {value!r}")
        self._state.status_overrides[job_id] = value

    def clear_status_override(self, job_id: str) -> None:
        """Show the job's real status again; nothing happens if it had no override."""
        self._state.status_overrides.pop(job_id, None)

    def add_fault(self, fault: Fault) -> None:
        """Inject ``fault``; faults are consulted in the order they were added."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Remove every fault, spent or not."""
        self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults that can still fire."""
        return self._faults.pending

    def drop_webhooks(self, count: int) -> None:
        """Lose the next ``count`` webhook deliveries entirely (no attempt, no retry)."""
        self._webhooks.drop(count)

    def disturb_webhooks(
        self,
        *,
        lose_rate: float = 0.0,
        duplicate_rate: float | None = None,
        max_delay: float = 0.0,
    ) -> None:
        """Webhook faults from now on: lose ``lose_rate`` of the deliveries entirely, send
        ``duplicate_rate`` of them twice (default: ``config.webhook_duplicate_rate``), and
        hold each copy back ``0..max_delay`` seconds at random, so deliveries arrive out
        of order. Lost deliveries count in ``counters.webhook_dropped``."""
        self._webhooks.disturb(
            lose_rate=lose_rate, duplicate_rate=duplicate_rate, max_delay=max_delay
        )

    @property
    def failed_webhook_deliveries(self) -> list[FailedDelivery]:
        """Deliveries given up after their last attempt, or refused before any (a host that
        is not loopback, unless ``config.webhook_allow_any_host``), each with its reason."""
        return list(self._webhooks.failed)

    async def drain_webhooks(self) -> None:
        """Wait for every scheduled webhook delivery to succeed or give up."""
        await self._webhooks.drain()

    # -- observations ---------------------------------------------------------------------

    @property
    def jobs_created(self) -> int:
        """Jobs ever created, expansions and exports (idempotent replays not included)."""
        return self._state.jobs_created

    def jobs_per_idempotency_key(self) -> dict[str, int]:
        """Distinct jobs per idempotency key; a correct client keeps each at 1."""
        return self._state.jobs_per_idempotency_key()

    def jobs_per_request(self) -> dict[str, int]:
        """Distinct jobs per canonical request (payload, outputs, source type; or lesson).

        Unlike :meth:`jobs_per_idempotency_key`, this also catches a client that makes up
        a new idempotency key on each retry: its retried create shows up here as 2.
        """
        return self._state.jobs_per_fingerprint()

    def max_requests_in_window(self, key_id: str, window: float | None = None) -> int:
        """Most admitted requests of this key in any sliding window (default: the limiter's)."""
        return self._limiter.max_in_window(key_id, window)

    @property
    def request_log(self) -> list[RequestRecord]:
        """The most recent requests (at most ``config.request_log_limit``), oldest first."""
        return self._log.snapshot()

    def job(self, job_id: str) -> Job:
        """The internal record of a job (``KeyError`` if unknown)."""
        return self._state.jobs[job_id]

    def job_status(self, job_id: str) -> str:
        """The job's status right now, in lower case: one of the documented four, or its
        ``final_status`` once ended (before ``status_case`` and per-job overrides)."""
        return self._state.jobs[job_id].status_at(self.now())

    # -- the server -----------------------------------------------------------------------

    def _route(self, method: str, raw_path: str) -> Routed:
        """The route and its decoded parameters, or, for a known path asked with another
        method, the template and the methods it takes (a 405)."""
        try:
            segments = decoded_segments(raw_path)
        except UnicodeDecodeError:
            return Routed()
        template: str | None = None
        allowed: list[str] = []
        for route in self._endpoints.routes:
            params = route.template.match(segments)
            if params is None:
                continue
            if route.method == method:
                return Routed(route, params, route.template.text)
            template = template or route.template.text
            allowed.append(route.method)
        return Routed(template=template, allowed=tuple(sorted(allowed)))

    @web.middleware
    async def _every_request(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """The only handler: the router has no routes (``handler`` is its 404), the
        emulator routes on the raw path itself."""
        del handler
        return await self._handle(request)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        self.counters.requests += 1
        raw_path, query_string = split_raw_target(request.raw_path)
        too_large = False
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body, too_large = b"", True
        headers = CIMultiDict(request.headers)
        routed = self._route(request.method, raw_path)
        template = routed.template or UNMATCHED
        self.counters.by_route[(request.method, template)] += 1

        fault = self._faults.pick(
            request.method, (template, raw_path, unquote(raw_path, errors="replace")), headers
        )
        # Logged once its fault is picked (nothing awaited in between), so the record can
        # say which fault, if any, hit it.
        if self._log.enabled:
            self._log.append(
                RequestRecord(
                    method=request.method,
                    path=raw_path,
                    query_string=query_string,
                    headers=dict(headers),
                    body=body,
                    at=arrived,
                    fault=fault,
                )
            )
        in_transit = fault is not None and fault.kind in IN_TRANSIT_KINDS
        if fault is not None:
            self.counters.faults_injected += 1
            if not fault.after_commit and not in_transit:
                if fault.kind != "delay":
                    return self._inject(request, fault)
                if not await self._pause(fault.delay):
                    return reset(request)

        if too_large:
            reply = error_reply(413, "request body too large")
        else:
            reply = self._answer(routed, headers, body)

        if fault is not None and in_transit:
            return await self._damaged(request, fault, reply)
        if fault is not None and fault.after_commit:
            if fault.kind != "delay":
                return self._inject(request, fault)
            if not await self._pause(fault.delay):
                return reset(request)
        return self._respond(reply)

    def _answer(self, routed: Routed, headers: Mapping[str, str], body: bytes) -> Reply:
        route, params = routed.route, routed.params
        if route is None:
            # Routing comes before credentials: 404 and 405 need no key or session.
            if routed.allowed:
                allow = ", ".join(routed.allowed)
                return error_reply(
                    405,
                    f"this endpoint does not take that method; allowed: {allow}",
                    headers=(("Allow", allow),),
                )
            return error_reply(404, "no such endpoint")
        try:
            granted = self._endpoints.authorize(route, params, headers)
            if isinstance(granted, Reply):
                return granted
            organization_id, key = granted
            if key is not None:
                decision = self._limiter.check(key.id, key.rate_limit_per_minute, time.monotonic())
                if not decision.admitted:
                    self.counters.rate_limited += 1
                    return error_reply(
                        429,
                        f"rate limit of {key.rate_limit_per_minute} requests per "
                        f"{self.config.rate_limit_window:g} s exceeded",
                        headers=(("Retry-After", str(decision.retry_after)),),
                    )
                key.last_used_at = self.now()
            call = Call(
                params=params,
                headers=headers,
                body=body,
                now=self.now(),
                organization_id=organization_id,
                key=key,
            )
            return self._endpoints.dispatch(route, call)
        except Exception:
            # An emulator bug must still look like the API's own 500, not a bare aiohttp one.
            logger.exception("emulator handler failed")
            return error_reply(500, "emulator internal error")

    def _respond(self, reply: Reply) -> web.Response:
        self.counters.by_status[reply.status] += 1
        headers: CIMultiDict[str] = CIMultiDict(reply.headers)
        if reply.content_type is not None:
            headers["Content-Type"] = reply.content_type
        return web.Response(status=reply.status, body=reply.body, headers=headers)

    def _inject(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault.kind == "reset":
            return reset(request)
        if fault.kind == "html":
            return self._respond(Reply(502, BAD_GATEWAY_PAGE, "text/html"))
        if fault.kind == "malformed":
            return self._respond(Reply(200, TRUNCATED_JSON, "application/json"))
        if fault.kind == "empty":
            return self._respond(Reply(200, b"", "application/json"))
        headers: tuple[tuple[str, str], ...] = ()
        if isinstance(fault.retry_after, str):
            headers = (("Retry-After", fault.retry_after),)
        elif fault.retry_after is not None:
            headers = (("Retry-After", retry_after_value(fault.retry_after)),)
        return self._respond(
            error_reply(fault.status, f"injected fault (HTTP {fault.status})", headers=headers)
        )

    async def _damaged(
        self, request: web.Request, fault: Fault, reply: Reply
    ) -> web.StreamResponse:
        """The real answer, damaged on the wire: sent slowly, or cut short."""
        self.counters.by_status[reply.status] += 1
        response = web.StreamResponse(status=reply.status, headers=CIMultiDict(reply.headers))
        if reply.content_type is not None:
            response.content_type = reply.content_type
        return await send_damaged(
            request, response, reply.body, kind=fault.kind, delay=fault.delay, pause=self._pause
        )

    async def _pause(self, seconds: float) -> bool:
        """Sleep, cut short by close(); ``False`` when the emulator is closing."""
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            return True
        return False

    # -- background -----------------------------------------------------------------------

    async def _tick(self) -> None:
        """Job status is lazy, so poll the clock for jobs that just turned terminal."""
        while True:
            await asyncio.sleep(self.config.tick_interval)
            try:
                self._announce_terminal_jobs()
            except Exception:
                logger.exception("emulator ticker failed")

    def _announce_terminal_jobs(self) -> None:
        for job in self._state.pop_newly_terminal(self.now()):
            # A job that ended without a result (final_status) is announced as failed.
            event = job.terminal_event
            subscribers = self._state.subscribers(job.organization_id, event)
            if not subscribers:
                continue
            body = _wire.webhook_event_body(event, job, self.config.status_case)
            for hook in subscribers:
                self._webhooks.send(hook, event, body)
