"""A local, in-memory stand-in for the Next Tech API (``GET /v1/contents``, ``GET /v1/grades``).

The emulator is an independent reference server for tests and benchmarks: it shares no
code with the SDK (only the emulator support in ``edu_async_core.emulation``), listens on
loopback only and keeps everything in memory.

Wire behaviour, and the choices made where Next Tech's documentation is silent:

* **Auth.**  Every ``/v1`` route needs ``Authorization: Basic base64("<token>:<secret>")``.
  Missing or wrong credentials answer **401** with ``{"detail": "Invalid credentials"}``
  and a ``WWW-Authenticate: Basic`` header.  Next Tech's error body is undocumented; every
  error here uses the same ``{"detail": "..."}`` shape.  A request carrying ``secret_key``
  in its query string is refused with **400** before credentials are even looked at,
  because a secret in a URL leaks into logs whatever the answer.
* **Lists.**  200 with a bare JSON array, newest ``created_at`` first, ties broken by
  ``id`` descending, cut to the first n matches, n being the page size of that request:
  ``page_size``, or what ``page_schedule`` (:class:`~nexttech_async.testing.PageSchedule`)
  gives the i-th list request that reached the listing.  There are no paging headers
  or parameters: a client pages by moving ``before`` (see the API contract).
* **Hidden items and filtering after the LIMIT.**  An item may be hidden from the caller
  (``hidden=True``, or drawn with ``hidden_fraction``, at most ``max_hidden_run`` in a
  row): it is in no answer and in no snapshot, and nothing rendered says it exists.  By
  default hidden and non-matching items are dropped before the page is cut.  With
  ``filter_after_limit`` the server cuts first (the first n items of the date window)
  and drops them afterwards, as the vendor docs allow: a page may then come back short,
  or **empty**, while older matching items remain.  So a run of k hidden (or
  non-matching) items in a row makes any request whose n <= k, starting at that run,
  answer an empty page; a date-cursor client reads an empty page as "nothing older", so
  no client can see items behind such a run.  To keep walks exact, keep
  ``max_hidden_run`` below the smallest page size (``PageSchedule.smallest``) and add
  items oldest first, as the samples and the pytest plugin's seeding do (the cap counts
  insertion order, which is then time order).
* **Times.**  Stored as epoch milliseconds (whole seconds in ``"second"`` resolution),
  rendered as integer epoch seconds (floor).  ``before``/``after`` are compared at
  millisecond precision; each is exclusive unless configured inclusive.
* **Filters.**  See :mod:`nexttech_async.testing._query` (parsing, strictness) and
  :mod:`nexttech_async.testing._store` (contents need *all* metadata pairs, grades *any*).
* **Errors.**  A malformed query answers 400; an unknown route 404, a wrong method on a
  known one (HEAD and OPTIONS included: only the documented GET is served) 405 with an
  ``Allow`` header, all with a JSON ``detail``.  The query is exactly as strict as
  ``openapi/nexttech.yaml`` (see ``openapi/README.md`` for the decisions per parameter).
* **Order of checks for a /v1 request.**  Wait ``latency``; run ``on_request`` callbacks;
  inject a fault if one is armed; refuse ``secret_key`` in the query; route (404, 405);
  check credentials; answer.  Faults come before auth because they stand for failures in
  front of the API (proxies, networks), which do not care about credentials.  The in-transit kinds
  (``slow_body``, ``truncated``) are the exception: the request is answered as usual and
  that answer is what gets damaged on its way out.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import inspect
import logging
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, NamedTuple

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import MatchInfoError

from edu_async_core.emulation import (
    AppServer,
    AsyncServerContext,
    RequestLog,
    ResetResponse,
    reset,
    send_damaged,
)

from ._config import NextTechEmulatorConfig
from ._faults import IN_TRANSIT_KINDS, Fault, FaultPlan
from ._pages import PageSchedule, as_page_schedule
from ._query import Filters, QueryError, parse_filters
from ._store import Bounds, ItemStore, Kind, MetadataInput, clone_json, metadata_pairs
from ._time import TimeInput, parse_iso_millis, seconds_from_millis, to_millis, truncate_to_second

__all__ = ["EmulatorCounters", "LoggedRequest", "NextTechEmulator", "RequestCallback"]

logger = logging.getLogger(__name__)

RequestCallback = Callable[["NextTechEmulator", int], object]
"""Called as ``callback(emulator, request_number)`` before a ``/v1`` request is answered.

``request_number`` counts every request the emulator has received, starting at 1.  If the
callback returns an awaitable it is awaited.
"""

_MALFORMED_BODY = b'[{"created_at": 1567018961, "updated_at": 15670'
_HTML_BODY = (
    "<html><head><title>{status} {phrase}</title></head>"
    "<body><center><h1>{status} {phrase}</h1></center><hr><center>nginx</center></body></html>"
)


class LoggedRequest(NamedTuple):
    """One received request: its path, its raw (still percent-encoded) query string, and
    when it arrived, in ``time.monotonic()`` seconds."""

    path: str
    query_string: str
    at: float


@attrs.define
class EmulatorCounters:
    """Running totals since the emulator was built (or since :meth:`reset`).

    ``by_status`` counts answered requests only: a ``reset`` fault sends no status.
    """

    requests: int = 0
    by_path: Counter[str] = attrs.field(factory=Counter)
    by_status: Counter[int] = attrs.field(factory=Counter)
    faults_injected: int = 0
    items_served: int = 0

    def reset(self) -> None:
        """Set every total back to zero."""
        self.requests = 0
        self.by_path.clear()
        self.by_status.clear()
        self.faults_injected = 0
        self.items_served = 0


class NextTechEmulator(AsyncServerContext):
    """A running (once started) emulated Next Tech account.

    Use as ``async with NextTechEmulator(config) as emu:`` or call :meth:`start` and
    :meth:`close`.  Items may be added before or after starting, and while a client is
    walking the lists (see :meth:`on_request`).
    """

    def __init__(self, config: NextTechEmulatorConfig | None = None) -> None:
        self.config = config if config is not None else NextTechEmulatorConfig()
        self.api_token: str = self.config.api_token or secrets.token_hex(16)
        self.secret_key: str = self.config.secret_key or secrets.token_urlsafe(24)
        self.counters = EmulatorCounters()
        self._expected_credentials = f"{self.api_token}:{self.secret_key}".encode()
        self._log: RequestLog[LoggedRequest] = RequestLog(self.config.request_log_limit)
        self._store = ItemStore(
            self.config.seed,
            hidden_fraction=self.config.hidden_fraction,
            max_hidden_run=self.config.max_hidden_run,
        )
        self._faults = FaultPlan(self.config.seed)
        self._callbacks: list[RequestCallback] = []
        self._page_size = self.config.page_size
        self._page_schedule = self.config.page_schedule
        self._page_rng = self._new_page_rng()
        self._page_index = 0
        # Bounded like the request log: a long benchmark must not grow it without end.
        self._page_sizes: deque[int] = deque(maxlen=self.config.request_log_limit)
        self._bounds = Bounds(self.config.before_inclusive, self.config.after_inclusive)
        self._latency = self.config.latency
        self._server = AppServer()
        self._base_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the configured host and port and start answering."""
        if self._server.running:
            raise RuntimeError("the emulator is already running")
        host, port = await self._server.start(
            self._build_app(),
            self.config.host,
            self.config.port,
            shutdown_timeout=self.config.shutdown_timeout,
        )
        netloc = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{netloc}:{port}/v1"

    async def close(self) -> None:
        """Stop answering and release the port; safe to call more than once."""
        self._base_url = None
        await self._server.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1`` of the running emulator."""
        if self._base_url is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._base_url

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value that this emulator accepts."""
        return "Basic " + base64.b64encode(self._expected_credentials).decode("ascii")

    # -- items -----------------------------------------------------------------------------

    def add_content(
        self,
        created_at: TimeInput,
        *,
        name: str | None = None,
        metadata: MetadataInput | None = None,
        course_uid: str | None = None,
        remote_user_id: str | None = None,
        draft: bool = False,
        hidden: bool | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Store one content and return a copy of it as the API renders it.

        ``created_at`` is an aware datetime or epoch seconds.  ``course_uid`` and
        ``remote_user_id`` are what the filters of those names match; like on the real
        API they are not part of the rendered item.  ``hidden=True`` hides it from every
        answer and snapshot (independently of ``draft``, which is only a rendered field);
        left ``None`` it is hidden or not as ``hidden_fraction`` draws (not hidden when
        that is 0).  ``extra`` fields are added to the rendered item (overriding defaults
        such as ``editor_owned``), except that ``course_metadata`` is normalised like
        ``metadata`` and becomes what the ``course_metadata`` filter matches, and
        ``updated_at`` may be given as a time.
        """
        return self._store.add_content(
            self._stored_millis(created_at),
            name=name,
            metadata=metadata,
            course_uid=course_uid,
            remote_user_id=remote_user_id,
            draft=draft,
            extra=self._prepare_extra(extra),
            hidden=hidden,
        )

    def add_contents(self, created_ats: Iterable[TimeInput], **common: Any) -> list[dict[str, Any]]:
        """Store one content per created time, each with the same ``common`` fields
        (``hidden`` included)."""
        return [self.add_content(created_at, **common) for created_at in created_ats]

    def add_grade(
        self,
        created_at: TimeInput,
        *,
        course_name: str = "Intro to Python",
        project_metadata: MetadataInput | None = None,
        course_metadata: MetadataInput | None = None,
        course_uid: str | None = None,
        hidden: bool | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Store one grade and return a copy of it as the API renders it.

        ``hidden`` as for :meth:`add_content`.  ``extra`` fields are added to (or override
        defaults of) the rendered grade, e.g. ``project_name`` or ``lesson_uid``.
        """
        return self._store.add_grade(
            self._stored_millis(created_at),
            course_name=course_name,
            project_metadata=project_metadata,
            course_metadata=course_metadata,
            course_uid=course_uid,
            extra=self._prepare_extra(extra),
            hidden=hidden,
        )

    def remove_content(self, item_id: int) -> dict[str, Any]:
        """Delete a content; later requests no longer see it.  A copy of it as rendered.

        Safe from an :meth:`on_request` callback, so a test can delete items mid-walk.

        Raises:
            UnknownItemError: (a ``KeyError``) if no content has ``item_id``.
        """
        return self._store.remove("contents", item_id)

    def remove_grade(self, item_id: int) -> dict[str, Any]:
        """Delete a grade; see :meth:`remove_content`."""
        return self._store.remove("grades", item_id)

    def hidden_ids(self, kind: Kind) -> list[int]:
        """Ids of the hidden ``"contents"`` or ``"grades"`` still stored, in insertion order.

        For tests that need to know where the hidden runs are; answers never show them.
        """
        return self._store.hidden_ids(kind)

    def contents_snapshot(
        self,
        *,
        after: TimeInput | str | None = None,
        before: TimeInput | str | None = None,
        remote_user_id: str | None = None,
        course_uid: str | Iterable[str] | None = None,
        project_metadata: MetadataInput | None = None,
        course_metadata: MetadataInput | None = None,
    ) -> list[dict[str, Any]]:
        """Every visible content matching the filters, newest first, ignoring the page size.

        The ground truth a complete walk must reproduce: hidden items are left out, and
        ``filter_after_limit`` plays no part (there is no LIMIT).  Bounds follow the
        emulator's current inclusivity; a string bound is parsed like the query parameter.
        """
        filters = _snapshot_filters(
            after, before, remote_user_id, course_uid, project_metadata, course_metadata
        )
        return self._snapshot("contents", filters)

    def grades_snapshot(
        self,
        *,
        after: TimeInput | str | None = None,
        before: TimeInput | str | None = None,
        course_uid: str | Iterable[str] | None = None,
        project_metadata: MetadataInput | None = None,
        course_metadata: MetadataInput | None = None,
    ) -> list[dict[str, Any]]:
        """Every grade matching the filters, newest first; see :meth:`contents_snapshot`."""
        filters = _snapshot_filters(
            after, before, None, course_uid, project_metadata, course_metadata
        )
        return self._snapshot("grades", filters)

    # -- behaviour knobs -------------------------------------------------------------------

    def on_request(self, callback: RequestCallback) -> None:
        """Call ``callback(emulator, request_number)`` before each ``/v1`` request is answered.

        Callbacks run in registration order, after the configured latency and before any
        fault or auth check, so a test can insert items at a known point of a walk.  A
        callback that raises turns that request into a 500.
        """
        self._callbacks.append(callback)

    def clear_request_callbacks(self) -> None:
        """Forget every :meth:`on_request` callback."""
        self._callbacks.clear()

    @property
    def page_size(self) -> int:
        """How many items a list request returns at most, while no page schedule is set."""
        return self._page_size

    def set_page_size(self, page_size: int) -> None:
        """Change the fixed page size; takes effect from the next request.

        A page schedule, while set, still decides instead; ``set_page_schedule(None)``
        returns to this size.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._page_size = page_size

    @property
    def page_schedule(self) -> PageSchedule | None:
        """The schedule deciding each list request's page size, if any."""
        return self._page_schedule

    def set_page_schedule(self, schedule: PageSchedule | str | None) -> None:
        """Use ``schedule`` (or its text form, e.g. ``"20..30"``) from the next list request.

        The request index starts again at 0 and the random generator at its seed, so what
        a schedule serves from here depends only on the seed and the requests that follow.
        ``None`` returns to the fixed ``page_size``.
        """
        self._page_schedule = as_page_schedule(schedule)
        self._page_index = 0
        self._page_rng = self._new_page_rng()

    @property
    def page_sizes_served(self) -> list[int]:
        """The page size each list request was cut at, oldest first.

        One entry per request that reached the listing (the ones a schedule counts),
        whatever the page held; only the most recent ``request_log_limit`` are kept.
        """
        return list(self._page_sizes)

    @property
    def bounds(self) -> Bounds:
        """Current inclusivity of ``before`` and ``after``."""
        return self._bounds

    def set_bounds(
        self, *, before_inclusive: bool | None = None, after_inclusive: bool | None = None
    ) -> None:
        """Make ``before`` and/or ``after`` inclusive or exclusive; ``None`` leaves one as is."""
        self._bounds = Bounds(
            self._bounds.before_inclusive if before_inclusive is None else before_inclusive,
            self._bounds.after_inclusive if after_inclusive is None else after_inclusive,
        )

    @property
    def latency(self) -> float:
        """Seconds every ``/v1`` response waits before it is answered."""
        return self._latency

    def set_latency(self, seconds: float) -> None:
        """Change the latency; takes effect from the next request."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self._latency = seconds

    def add_fault(self, fault: Fault) -> None:
        """Arm ``fault``; faults are tried in the order added, one per request at most."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults that may still fire."""
        return self._faults.pending

    @property
    def request_log(self) -> list[LoggedRequest]:
        """The most recent requests (up to ``request_log_limit``), oldest first."""
        return self._log.snapshot()

    # -- internals -------------------------------------------------------------------------

    def _stored_millis(self, created_at: TimeInput) -> int:
        millis = to_millis(created_at)
        if self.config.time_resolution == "second":
            millis = truncate_to_second(millis)
        return millis

    def _prepare_extra(self, extra: dict[str, Any]) -> dict[str, Any]:
        if "updated_at" in extra and not isinstance(extra["updated_at"], int):
            extra["updated_at"] = seconds_from_millis(to_millis(extra["updated_at"]))
        return extra

    def _new_page_rng(self) -> random.Random:
        return random.Random(f"nexttech-emulator-pages:{self.config.seed}")

    def _next_page_size(self) -> int:
        """The page size of the list request being answered; advances the request index."""
        schedule = self._page_schedule
        if schedule is None:
            size = self._page_size
        else:
            size = schedule.size_at(self._page_index, self._page_rng)
        self._page_index += 1
        self._page_sizes.append(size)
        return size

    def _snapshot(self, kind: Kind, filters: Filters) -> list[dict[str, Any]]:
        return clone_json(self._store.query(kind, filters, self._bounds, limit=None))

    def _build_app(self) -> web.Application:
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
        if self._latency > 0:
            await asyncio.sleep(self._latency)
        for callback in list(self._callbacks):
            outcome = callback(self, number)
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
        if not self._authorized(request.headers.get("Authorization")):
            return _error(401, "Invalid credentials", {"WWW-Authenticate": 'Basic realm="api"'})
        return await handler(request)

    def _authorized(self, header: str | None) -> bool:
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
        return hmac.compare_digest(presented, self._expected_credentials)

    async def _list_contents(self, request: web.Request) -> web.StreamResponse:
        return self._list(request, "contents")

    async def _list_grades(self, request: web.Request) -> web.StreamResponse:
        return self._list(request, "grades")

    def _list(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        try:
            filters = parse_filters(request.query)
        except QueryError as exc:
            return _error(400, str(exc))
        items = self._store.query(
            kind,
            filters,
            self._bounds,
            limit=self._next_page_size(),
            filter_after_limit=self.config.filter_after_limit,
        )
        self.counters.items_served += len(items)
        return web.json_response(items)


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


def _snapshot_bound(value: TimeInput | str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_iso_millis(value)
    return to_millis(value)


def _snapshot_filters(
    after: TimeInput | str | None,
    before: TimeInput | str | None,
    remote_user_id: str | None,
    course_uid: str | Iterable[str] | None,
    project_metadata: MetadataInput | None,
    course_metadata: MetadataInput | None,
) -> Filters:
    uids: frozenset[str] | None
    if course_uid is None:
        uids = None
    elif isinstance(course_uid, str):
        uids = frozenset({course_uid})
    else:
        uids = frozenset(course_uid)
    return Filters(
        before_ms=_snapshot_bound(before),
        after_ms=_snapshot_bound(after),
        remote_user_id=remote_user_id,
        course_uids=uids,
        project_metadata=tuple((k, str(v)) for k, v in metadata_pairs(project_metadata)),
        course_metadata=tuple((k, str(v)) for k, v in metadata_pairs(course_metadata)),
    )
