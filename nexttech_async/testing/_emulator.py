"""A local, in-memory stand-in for the Next Tech API (``GET /v1/contents``, ``GET /v1/grades``).

The emulator is an independent reference server for tests and benchmarks: it shares no
code with the SDK (only the emulator support in ``edu_async_core.emulation``), listens on
loopback only and keeps everything in memory.

What it answers on the wire is described in the package docstring
(:mod:`nexttech_async.testing`). This module is the façade: it owns the items (``_store``),
the page sizes (``_pages``), the bounds and the knobs, and hands the HTTP side
(``_pipeline``: routing, auth, faults, the list handlers) one function that cuts a page.
It is a little over 400 lines because it is the emulator's whole public API, every method
documented; it holds no HTTP code.
"""

from __future__ import annotations

import base64
import functools
import random
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from edu_async_core.emulation import AppServer, AsyncServerContext, RequestLog

from ._config import NextTechEmulatorConfig
from ._faults import Fault, FaultPlan
from ._observations import EmulatorCounters, LoggedRequest
from ._pages import PageSchedule, as_page_schedule
from ._pipeline import Pipeline
from ._query import Filters
from ._store import Bounds, ItemStore, Kind, MetadataInput, clone_json, metadata_pairs
from ._time import TimeInput, parse_iso_millis, seconds_from_millis, to_millis, truncate_to_second

__all__ = ["NextTechEmulator", "RequestCallback"]

RequestCallback = Callable[["NextTechEmulator", int], object]
"""Called as ``callback(emulator, request_number)`` before a ``/v1`` request is answered.

``request_number`` counts every request the emulator has received, starting at 1.  If the
callback returns an awaitable it is awaited.
"""


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
        self._page_size = self.config.page_size
        self._page_schedule = self.config.page_schedule
        self._page_rng = self._new_page_rng()
        self._page_index = 0
        # Bounded like the request log: a long benchmark must not grow it without end.
        self._page_sizes: deque[int] = deque(maxlen=self.config.request_log_limit)
        self._bounds = Bounds(self.config.before_inclusive, self.config.after_inclusive)
        self._pipeline = Pipeline(
            counters=self.counters,
            log=self._log,
            faults=self._faults,
            credentials=self._expected_credentials,
            latency=self.config.latency,
            cut_page=self._cut_page,
        )
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
        self._pipeline.callbacks.append(functools.partial(callback, self))

    def clear_request_callbacks(self) -> None:
        """Forget every :meth:`on_request` callback."""
        self._pipeline.callbacks.clear()

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
        return self._pipeline.latency

    def set_latency(self, seconds: float) -> None:
        """Change the latency; takes effect from the next request."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self._pipeline.latency = seconds

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

    def _cut_page(self, kind: Kind, filters: Filters) -> list[dict[str, Any]]:
        """The items one list request answers: its page size drawn, the LIMIT applied."""
        return self._store.query(
            kind,
            filters,
            self._bounds,
            limit=self._next_page_size(),
            filter_after_limit=self.config.filter_after_limit,
        )

    def _build_app(self) -> web.Application:
        return self._pipeline.build_app()


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
