"""The Next Tech emulator's HTTP side: every request, from arrival to the answer sent.

:class:`Pipeline` builds the aiohttp application and answers each request in this order:
count and log it; for a ``/v1`` path, wait the latency, run the ``on_request`` callbacks,
inject a fault if one is armed, refuse ``secret_key`` in the query, route (404, 405), check
the Basic credentials, and answer the list. Faults come before auth because they stand for
failures in front of the API (proxies, networks), which do not care about credentials; the
in-transit kinds (``slow_body``, ``truncated``) are the exception: the request is answered
as usual and that answer is what gets damaged on its way out.

The façade (:class:`~nexttech_async.testing.NextTechEmulator`) owns the items, the page
sizes and the bounds, and hands the pipeline one function that cuts a page of them; the
pipeline owns the request-side knobs (latency, callbacks) and shares the counters, the
request log and the fault plan with the façade.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import inspect
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import MatchInfoError

from edu_async_core.emulation import RequestLog, ResetResponse, reset, send_damaged

from ._faults import IN_TRANSIT_KINDS, Fault, FaultPlan
from ._observations import EmulatorCounters, LoggedRequest
from ._query import Filters, QueryError, parse_filters
from ._store import Kind

__all__ = ["PageCutter", "Pipeline", "credentials_match"]

# The logger's name predates this module; log configurations may name it.
logger = logging.getLogger("nexttech_async.testing.emulator")

PageCutter = Callable[[Kind, Filters], list[dict[str, Any]]]
"""``cut(kind, filters)``: the items one list request answers, already cut to its page size."""

_MALFORMED_BODY = b'[{"created_at": 1567018961, "updated_at": 15670'
_HTML_BODY = (
    "<html><head><title>{status} {phrase}</title></head>"
    "<body><center><h1>{status} {phrase}</h1></center><hr><center>nginx</center></body></html>"
)


class Pipeline:
    """Answers the emulator's requests; see the module docstring for the order of checks."""

    def __init__(
        self,
        *,
        counters: EmulatorCounters,
        log: RequestLog[LoggedRequest],
        faults: FaultPlan,
        credentials: bytes,
        latency: float,
        cut_page: PageCutter,
    ) -> None:
        self.counters = counters
        self.latency = latency
        """Seconds every ``/v1`` request waits before anything else happens."""
        self.callbacks: list[Callable[[int], object]] = []
        """Called with the request number, in order, after the latency; may return awaitables."""
        self._log = log
        self._faults = faults
        self._credentials = credentials
        self._cut_page = cut_page

    def build_app(self) -> web.Application:
        """A fresh aiohttp application answering through this pipeline."""

        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._handle(request, handler)

        app = web.Application(middlewares=[middleware])
        # Only the documented GET: HEAD (which add_get adds by default) is a wrong method too.
        app.router.add_get("/v1/contents", self._list_contents, allow_head=False)
        app.router.add_get("/v1/grades", self._list_grades, allow_head=False)
        return app

    async def _handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.counters.requests += 1
        number = self.counters.requests
        self.counters.by_path[request.path] += 1
        self._log.append(
            LoggedRequest(request.path, request.rel_url.raw_query_string, time.monotonic())
        )
        response: web.StreamResponse
        try:
            if request.path == "/v1" or request.path.startswith("/v1/"):
                response = await self._answer_v1(request, handler, number)
            else:
                response = await handler(request)
        except web.HTTPException as exc:
            # The router raises these for unknown routes and wrong methods outside /v1;
            # keep their status but give them the same JSON body as every other error.
            response = _routing_error(request, exc)
        except Exception:
            logger.exception("Next Tech emulator failed while answering %s", request.path)
            response = _error(500, "Internal emulator error")
        if not isinstance(response, ResetResponse):
            # A reset connection answers nothing, so it has no status to count.
            self.counters.by_status[response.status] += 1
        return response

    async def _answer_v1(
        self, request: web.Request, handler: Handler, number: int
    ) -> web.StreamResponse:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        for callback in list(self.callbacks):
            outcome = callback(number)
            if inspect.isawaitable(outcome):
                await outcome
        fault = self._faults.draw(request.path)
        if fault is not None:
            self.counters.faults_injected += 1
            if fault.kind in IN_TRANSIT_KINDS:
                answer = await self._answer_checked(request, handler)
                return await _damaged(request, fault, answer)
            if fault.kind != "delay":
                return _fault_response(request, fault)
            await asyncio.sleep(fault.delay)
        return await self._answer_checked(request, handler)

    async def _answer_checked(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if any(name == "secret_key" or name.startswith("secret_key[") for name in request.query):
            return _error(400, "secret_key must never be sent in a query string")
        match = request.match_info
        if isinstance(match, MatchInfoError):
            # Routing comes before credentials, as in the TutorFlow emulator: an unknown
            # path is 404 and a wrong method on a known one 405 (with Allow), unauthenticated.
            return _routing_error(request, match.http_exception)
        if not credentials_match(request.headers.get("Authorization"), self._credentials):
            return _error(401, "Invalid credentials", {"WWW-Authenticate": 'Basic realm="api"'})
        return await handler(request)

    async def _list_contents(self, request: web.Request) -> web.StreamResponse:
        return self._list(request, "contents")

    async def _list_grades(self, request: web.Request) -> web.StreamResponse:
        return self._list(request, "grades")

    def _list(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        try:
            filters = parse_filters(request.query)
        except QueryError as exc:
            return _error(400, str(exc))
        items = self._cut_page(kind, filters)
        self.counters.items_served += len(items)
        return web.json_response(items)


def credentials_match(header: str | None, expected: bytes) -> bool:
    """Whether an ``Authorization`` header is Basic with exactly ``expected`` (``token:secret``)."""
    if header is None:
        return False
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        presented = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        return False
    # The token cannot contain ":", so equal bytes mean both parts are equal.
    return hmac.compare_digest(presented, expected)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"detail": detail}, status=status, headers=headers)


def _routing_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    """The router's 404 or 405 in the JSON error body; a 405 keeps its ``Allow``."""
    allow = exc.headers.get("Allow")
    if exc.status == 405 and allow:
        detail = f"{request.method} is not allowed on {request.path}; allowed: {allow}"
        return _error(405, detail, {"Allow": allow})
    return _error(exc.status, exc.reason)


async def _damaged(
    request: web.Request, fault: Fault, answer: web.StreamResponse
) -> web.StreamResponse:
    """``answer`` damaged on the wire: its body trickled out slowly, or cut short."""
    if not isinstance(answer, web.Response) or not isinstance(answer.body, bytes):
        return answer
    damaged = web.StreamResponse(status=answer.status, headers=answer.headers)
    return await send_damaged(
        request, damaged, answer.body, kind=fault.kind, delay=fault.delay, chunk=256
    )


def _fault_response(request: web.Request, fault: Fault) -> web.Response:
    if fault.kind == "reset":
        return reset(request)
    if fault.kind == "malformed":
        return web.Response(body=_MALFORMED_BODY, content_type="application/json")
    status = fault.resolved_status()
    retry_after = fault.retry_after_header()
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    if fault.kind == "html":
        return web.Response(
            text=_HTML_BODY.format(status=status, phrase=_reason(status)),
            status=status,
            content_type="text/html",
            headers=headers,
        )
    return _error(status, f"Injected fault: HTTP {status}", headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
