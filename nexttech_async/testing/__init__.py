"""A local emulator of the Next Tech API, for tests and benchmarks.

Start one with ``async with NextTechEmulator(NextTechEmulatorConfig(...)) as emu:`` and point
a client at ``emu.base_url`` with ``emu.api_token`` / ``emu.secret_key`` as Basic credentials.
A :class:`PageSchedule` varies the page size per request; hidden items and
``filter_after_limit`` make pages short or empty as a real server may.

The emulator is an independent reference server: it shares no code with the SDK client
(only the emulator support in ``edu_async_core.emulation``), listens on loopback only and
keeps everything in memory.

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
* **Filters.**  Contents need *all* the given metadata pairs, grades *any* of them; how
  strictly the query is parsed is under **Errors**.
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

from ._config import NextTechEmulatorConfig, TimeResolution
from ._emulator import NextTechEmulator, RequestCallback
from ._faults import Fault, FaultKind
from ._observations import EmulatorCounters, LoggedRequest
from ._pages import PageSchedule
from ._store import Bounds, UnknownItemError

__all__ = [
    "Bounds",
    "EmulatorCounters",
    "Fault",
    "FaultKind",
    "LoggedRequest",
    "NextTechEmulator",
    "NextTechEmulatorConfig",
    "PageSchedule",
    "RequestCallback",
    "TimeResolution",
    "UnknownItemError",
]
