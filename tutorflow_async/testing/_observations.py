"""What the emulator observed and handed out: counters, request records, failed webhook
deliveries and issued keys, the records tests assert on."""

from __future__ import annotations

from collections import Counter

import attrs

from tutorflow_async.testing._faults import Fault

__all__ = ["Counters", "FailedDelivery", "IssuedKey", "RequestRecord"]


@attrs.define
class Counters:
    """Running totals since the emulator started."""

    requests: int = 0
    """HTTP requests received, faulted ones included."""
    by_route: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    """Requests per ``(method, route template)``; unknown paths count as ``"<unmatched>"``."""
    by_status: Counter[int] = attrs.field(factory=Counter)
    """Responses per status code (connection resets answer nothing and are not counted)."""
    rate_limited: int = 0
    """429s answered by the rate limiter (injected 429 faults not included)."""
    faults_injected: int = 0
    webhook_deliveries: int = 0
    """Webhook POSTs the receiver acknowledged with a 2xx (duplicates included)."""
    webhook_failures: int = 0
    """Webhook POST attempts that failed (non-2xx, timeout or connection error)."""
    webhook_dropped: int = 0
    """Deliveries deliberately lost through ``drop_webhooks``."""
    webhook_refused: int = 0
    """Deliveries never sent because their host is not loopback (also in ``webhook_failures``)."""


@attrs.frozen
class FailedDelivery:
    """A webhook delivery that was given up, or refused before any attempt."""

    url: str
    event: str
    reason: str
    attempts: int
    """HTTP attempts made: 0 when refused (the URL's host is not loopback)."""


_SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie"})


def _redacted_headers(headers: dict[str, str]) -> str:
    # Records end up in assertion messages; keep credentials out of them.
    shown = {k: ("<redacted>" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}
    return repr(shown)


@attrs.frozen
class RequestRecord:
    """One received request, as the emulator saw it on the wire."""

    method: str
    path: str
    """The raw path, still percent-encoded as received, without the query string."""
    query_string: str
    headers: dict[str, str] = attrs.field(repr=_redacted_headers)
    body: bytes = attrs.field(repr=False)
    at: float
    """``time.monotonic()`` at arrival."""
    fault: Fault | None = None
    """The fault that hit this request, if one did: with ``at`` and the headers, it tells
    when, and to which client, an injected answer (a 429, say) went out."""


@attrs.frozen
class IssuedKey:
    """A content API key created through the emulator; ``api_key`` is the one-time secret."""

    api_key: str = attrs.field(repr=False)
    key_id: str
    key_prefix: str
    rate_limit_per_minute: int
