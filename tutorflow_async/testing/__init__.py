"""A local TutorFlow Content Integration API emulator for tests, demos and benchmarks.

It is an independent reference server: it shares no code with the SDK client (only the
emulator support in ``edu_async_core.emulation``), so the client's tests check it against
behaviour, not against itself.

Where the vendor's pages are silent, the emulator picks one behaviour:

- Errors are always ``{"error": {"code", "message", "status"}}`` in JSON, the code chosen
  by status (every 401 is ``content_invalid_api_key``, also a failed login). Unknown paths
  answer 404 ``content_not_found``; a known path asked with another method answers 405
  (``content_invalid_request``) with an ``Allow`` header, both before any credential check.
- Request bodies are exactly as strict as ``openapi/tutorflow.yaml``: unknown top-level
  fields, ``null`` values and blank strings are 400 ``content_invalid_request``.
- Paths are matched on the raw request path, split on ``/`` before each segment is
  percent-decoded, so an encoded ``/`` in an id never reaches another endpoint.
- Admin endpoints take the ``jwt`` (or ``tutorflow_admin_session``) cookie, an HS256 JWT
  issued by ``POST /auth/login``. A Bearer key there is 403, never 401: a content key can
  never manage keys. Content endpoints take only a live Bearer key; a cookie does not help.
- Create answers 200 for expansions (201 for key, webhook and new export creation, 200 for
  an export replayed by idempotency key). The same idempotency key with the same request
  (defaults applied) returns the existing job in its current state; with another request,
  409 ``content_conflict``. Keys are scoped per organization, and separately for
  expansions and exports.
- Job status is a pure function of the emulator's clock: ``queued`` for
  ``queued_seconds``, ``processing`` for ``processing_seconds``, then ``completed`` or
  ``failed`` (decided at creation by a seeded RNG against ``failure_rate``, or by
  ``payload._emulator.fail``). ``advance()`` moves that clock, not the rate-limit one.
- Rate limit: per key, a sliding window of ``rate_limit_window`` seconds (real monotonic
  time) over every Bearer-authenticated content call; 429 with an integer ``Retry-After``
  of at least 1. Admin calls are not limited.
- Rotating a revoked key is 409: revocation is final.
- Webhook deliveries go to webhooks active when the job turned terminal, signed with hex
  HMAC-SHA256 of the raw body, retried with doubling delays on non-2xx or connection errors,
  never redirected. Only to loopback hosts by default (``127.0.0.0/8``, ``::1``,
  ``localhost``, judged on the URL's text without any name lookup): a delivery to any other
  host is recorded in ``failed_webhook_deliveries`` with its reason and never sent, unless
  ``EmulatorConfig(webhook_allow_any_host=True)``.

It can also misbehave the ways those thin pages allow, all off by default (see
:class:`EmulatorConfig`): expansion jobs that end with an undocumented status
(``final_status``, announced as ``content.failed``), statuses in another case
(``status_case``), a ``/result`` that answers 404/409 for a while after the job reads
``completed`` (``result_lag_seconds``, ``result_lag_status``), and, per job,
``TutorFlowEmulator.override_status(job_id, value)`` with a string, ``None`` or
:data:`MISSING`. Hanging polls and huge ``Retry-After`` values are :class:`Fault` kinds.
"""

from tutorflow_async.testing._config import EmulatorConfig, StatusCase
from tutorflow_async.testing._emulator import TutorFlowEmulator
from tutorflow_async.testing._faults import Fault, FaultKind
from tutorflow_async.testing._observations import Counters, FailedDelivery, IssuedKey, RequestRecord
from tutorflow_async.testing._state import MISSING, Missing

__all__ = [
    "MISSING",
    "Counters",
    "EmulatorConfig",
    "FailedDelivery",
    "Fault",
    "FaultKind",
    "IssuedKey",
    "Missing",
    "RequestRecord",
    "StatusCase",
    "TutorFlowEmulator",
]
