"""The emulator's endpoints as plain functions from a parsed request to a reply.

No aiohttp here: the server glue (``_emulator.py``) reads the request, applies faults and
the rate limit, and turns a :class:`Reply` into a response. Keeping the endpoints pure makes
"run the handler, then replace its answer" (``after_commit`` faults) trivial. It is over 400
lines because it holds every documented endpoint, one small function each.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from tutorflow_async.testing import _auth, _wire
from tutorflow_async.testing._config import EmulatorConfig
from tutorflow_async.testing._routing import Template
from tutorflow_async.testing._state import (
    OUTPUT_RESOURCE_TYPES,
    SOURCE_TYPES,
    WEBHOOK_EVENTS,
    ApiKeyRecord,
    ConflictError,
    EmulatorState,
    ExpansionRequest,
    NotFoundError,
)

AuthKind = Literal["none", "admin", "key"]
MAX_IDEMPOTENCY_KEY_LENGTH = 255


class BadRequestError(Exception):
    """The request body or parameters are invalid (400)."""


@attrs.frozen
class Reply:
    """A response before it becomes an aiohttp one."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def json_reply(status: int, value: object, *, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A JSON answer."""
    return Reply(status, _wire.dumps(value), "application/json", headers)


def error_reply(status: int, message: str, *, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """The documented error envelope with the code of this status."""
    return json_reply(status, _wire.error_body(status, message), headers=headers)


@attrs.frozen
class Call:
    """One authenticated request as the endpoints see it."""

    params: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    now: float
    """The emulator's job clock (epoch seconds, moved by ``advance``)."""
    organization_id: str | None = None
    """The caller's organization: the admin's, or the content key's."""
    key: ApiKeyRecord | None = None


Handler = Callable[[Call], Reply]


@attrs.frozen
class Route:
    """One endpoint: method, template, which credential it takes, and its handler."""

    method: str
    template: Template
    auth: AuthKind
    handler: Handler


# -- request parsing -------------------------------------------------------------------
#
# Exactly as strict as the request schemas of ``openapi/tutorflow.yaml`` (the decisions per
# field are in ``openapi/README.md``): unknown top-level fields are refused where the
# schema says ``additionalProperties: false``, ``null`` is a value of the wrong type (never
# "absent"), and every pattern below is the document's own, matched the same way.

#: "Not blank": at least one character other than ASCII white space. The document's
#: ``NonBlankString`` / ``IdempotencyKey`` pattern, spelled out character by character so
#: that Python, ECMA-262 and Rust regex engines agree on it (their ``\s`` differ).
NON_BLANK = re.compile(r"[^\t\n\v\f\r ]")
#: ``CreateWebhookRequest.url``: an absolute http(s) URL with a DNS name or a bracketed
#: IPv6 literal (hex groups; a literal ``urlsplit`` and ``ipaddress`` both accept), an
#: optional port, and printable ASCII after it (no spaces, no controls). The document's
#: pattern is this text exactly (a test compares them).
_HEX = "[0-9A-Fa-f]{1,4}"
_IPV6 = "|".join(
    (
        f"(?:{_HEX}:){{7}}{_HEX}",
        f"(?:{_HEX}:){{1,7}}:",
        f"(?:{_HEX}:){{1,6}}:{_HEX}",
        f"(?:{_HEX}:){{1,5}}(?::{_HEX}){{1,2}}",
        f"(?:{_HEX}:){{1,4}}(?::{_HEX}){{1,3}}",
        f"(?:{_HEX}:){{1,3}}(?::{_HEX}){{1,4}}",
        f"(?:{_HEX}:){{1,2}}(?::{_HEX}){{1,5}}",
        f"{_HEX}:(?::{_HEX}){{1,6}}",
        f":(?:(?::{_HEX}){{1,7}}|:)",
    )
)
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
WEBHOOK_URL = re.compile(
    rf"^https?://(?:{_LABEL}(?:\.{_LABEL})*|\[(?:{_IPV6})\])(?::[0-9]{{1,5}})?(?:[/?#][!-~]*)?$"
)
_ABSENT: Any = object()


def _json_object(
    body: bytes, allowed: frozenset[str] | None = None, *, required: bool = True
) -> dict[str, Any]:
    """The body as a JSON object; with ``allowed``, no other top-level field."""
    if not body.strip():
        if required:
            raise BadRequestError("request body must be a JSON object")
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequestError("request body must be a JSON object")
    if allowed is not None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise BadRequestError(
                f"unknown field(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
    return value


def _present(holder: Mapping[str, Any], name: str, what: str | None = None) -> Any:
    """The field's value, or ``_ABSENT``; an explicit ``null`` is refused."""
    if name not in holder:
        return _ABSENT
    value = holder[name]
    if value is None:
        raise BadRequestError(f"{what or name} must not be null (leave it out instead)")
    return value


def _is_non_blank(value: object) -> bool:
    return isinstance(value, str) and NON_BLANK.search(value) is not None


def _non_empty_string(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not _is_non_blank(value):
        raise BadRequestError(f"{name} must be a non-empty string")
    assert isinstance(value, str)
    return value


def _optional_string(body: Mapping[str, Any], name: str) -> str | None:
    value = _present(body, name)
    if value is _ABSENT:
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{name} must be a string")
    return value


def _integer(value: object) -> int | None:
    """A JSON integer (``1.0`` is one, as JSON Schema says; ``true`` is not), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _positive_int(body: Mapping[str, Any], name: str, default: int) -> int:
    value = _present(body, name)
    if value is _ABSENT:
        return default
    number = _integer(value)
    if number is None or number < 1:
        raise BadRequestError(f"{name} must be a positive integer")
    return number


def _seconds(holder: Mapping[str, Any], name: str) -> float | None:
    value = _present(holder, name, f"payload._emulator.{name}")
    if value is _ABSENT:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise BadRequestError(f"payload._emulator.{name} must be a non-negative number")
    return float(value)


def _checked_idempotency_key(value: object, source: str) -> str:
    if not _is_non_blank(value):
        raise BadRequestError(f"{source} must be a non-empty string")
    assert isinstance(value, str)
    if len(value) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise BadRequestError(f"{source} must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    return value


def _idempotency_key(headers: Mapping[str, str], body: Mapping[str, Any]) -> str | None:
    """The header wins over the body field, as the guides prefer it; both are checked."""
    in_body = _present(body, "idempotencyKey")
    if in_body is not _ABSENT:
        in_body = _checked_idempotency_key(in_body, "idempotencyKey")
    header = headers.get("Idempotency-Key")
    if header is not None:
        return _checked_idempotency_key(header, "Idempotency-Key header")
    return None if in_body is _ABSENT else str(in_body)


EXPANSION_FIELDS = frozenset({"payload", "requestedOutputs", "sourceType", "idempotencyKey"})
LOGIN_FIELDS = frozenset({"email", "password", "timezone"})
KEY_FIELDS = frozenset({"name", "rateLimitPerMinute"})
EXPORT_FIELDS = frozenset({"lessonId", "idempotencyKey"})
WEBHOOK_FIELDS = frozenset({"url", "events"})


def _requested_outputs(body: Mapping[str, Any]) -> tuple[str, ...]:
    raw = _present(body, "requestedOutputs")
    if raw is _ABSENT:
        return ("interactive_module",)
    if not isinstance(raw, list) or not raw:
        raise BadRequestError("requestedOutputs must be a non-empty array")
    # Strings only before any lookup: an object or array is unhashable, and a dict lookup
    # of one raised TypeError (a 500) instead of refusing the request.
    unknown = [o for o in raw if not isinstance(o, str) or o not in OUTPUT_RESOURCE_TYPES]
    if unknown:
        raise BadRequestError(
            f"requestedOutputs has unknown values {unknown!r}; "
            f"allowed: {sorted(OUTPUT_RESOURCE_TYPES)}"
        )
    # Priority order, duplicates folded: the order the outputs are produced in.
    return tuple(o for o in OUTPUT_RESOURCE_TYPES if o in raw)


def parse_expansion(headers: Mapping[str, str], body_bytes: bytes) -> ExpansionRequest:
    """Validate an expansion create request and apply its defaults."""
    body = _json_object(body_bytes, EXPANSION_FIELDS)
    payload = body.get("payload")
    if not isinstance(payload, dict) or not payload:
        raise BadRequestError("payload must be a non-empty JSON object")
    outputs = _requested_outputs(body)

    source_type = _present(body, "sourceType")
    if source_type is _ABSENT:
        source_type = "source_json"
    elif not isinstance(source_type, str) or source_type not in SOURCE_TYPES:
        raise BadRequestError(f"sourceType must be one of {list(SOURCE_TYPES)}")

    knobs = _present(payload, "_emulator", "payload._emulator")
    if knobs is _ABSENT:
        knobs = {}
    elif not isinstance(knobs, dict):
        raise BadRequestError("payload._emulator must be an object")
    fail = _present(knobs, "fail", "payload._emulator.fail")
    if fail is _ABSENT:
        fail = False
    elif not isinstance(fail, bool):
        raise BadRequestError("payload._emulator.fail must be a boolean")

    return ExpansionRequest(
        payload=payload,
        requested_outputs=outputs,
        source_type=source_type,
        idempotency_key=_idempotency_key(headers, body),
        queued_seconds=_seconds(knobs, "queued_seconds"),
        processing_seconds=_seconds(knobs, "processing_seconds"),
        force_failure=fail,
    )


def _http_url(body: Mapping[str, Any]) -> str:
    url = body.get("url")
    if not isinstance(url, str) or WEBHOOK_URL.fullmatch(url) is None:
        raise BadRequestError(
            "url must be an absolute http or https URL: a host name or a bracketed IPv6 "
            "literal, an optional port, then printable ASCII without spaces"
        )
    return url


def _events(body: Mapping[str, Any]) -> list[str]:
    events = body.get("events")
    if (
        not isinstance(events, list)
        or not events
        or any(not isinstance(e, str) or e not in WEBHOOK_EVENTS for e in events)
    ):
        raise BadRequestError(f"events must be a non-empty subset of {list(WEBHOOK_EVENTS)}")
    return list(dict.fromkeys(events))


# -- endpoints -------------------------------------------------------------------------


class Endpoints:
    """Every endpoint of the TutorFlow Content Integration API, over one state."""

    def __init__(
        self, state: EmulatorState, config: EmulatorConfig, tokens: _auth.AdminTokens
    ) -> None:
        self.state = state
        self.config = config
        self.tokens = tokens
        org = "/v1/content/organizations/{organizationId}"
        expansions = "/v1/content/integrations/expansions"
        table: tuple[tuple[str, str, AuthKind, Handler], ...] = (
            ("POST", "/auth/login", "none", self.login),
            ("POST", f"{org}/api-keys", "admin", self.create_key),
            ("GET", f"{org}/api-keys", "admin", self.list_keys),
            ("POST", f"{org}/api-keys/{{keyId}}/rotate", "admin", self.rotate_key),
            ("POST", f"{org}/api-keys/{{keyId}}/revoke", "admin", self.revoke_key),
            ("POST", expansions, "key", self.create_expansion),
            ("GET", f"{expansions}/{{jobId}}", "key", self.get_expansion),
            ("GET", f"{expansions}/{{jobId}}/result", "key", self.get_result),
            (
                "POST",
                "/v1/content/classrooms/{classroomId}/integrations/exports",
                "admin",
                self.create_export,
            ),
            ("POST", f"{org}/webhooks", "admin", self.create_webhook),
            ("GET", f"{org}/webhooks", "admin", self.list_webhooks),
            ("DELETE", f"{org}/webhooks/{{webhookId}}", "admin", self.delete_webhook),
        )
        self.routes = tuple(
            Route(method, Template(text), auth, handler) for method, text, auth, handler in table
        )

    def dispatch(self, route: Route, call: Call) -> Reply:
        """Run an endpoint and map the store's refusals to error replies."""
        try:
            return route.handler(call)
        except BadRequestError as exc:
            return error_reply(400, str(exc))
        except NotFoundError as exc:
            return error_reply(404, str(exc))
        except ConflictError as exc:
            return error_reply(409, str(exc))

    # -- credentials --------------------------------------------------------------------

    def authorize(
        self, route: Route, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[str | None, ApiKeyRecord | None] | Reply:
        """``(organization id, key)`` of the caller, or the error reply that refuses it."""
        if route.auth == "none":
            return None, None
        bearer = _auth.bearer_token(headers.get("Authorization"))
        if route.auth == "key":
            # An admin cookie does not open the content surface; only a live key does.
            key = self.state.authenticate(bearer) if bearer else None
            if key is None:
                return error_reply(401, "missing, invalid or revoked content API key")
            return key.organization_id, key

        token = _auth.admin_token_from_cookies(_auth.parse_cookie_header(headers.get("Cookie")))
        admin_org = self.tokens.verify(token) if token else None
        if admin_org is None:
            if bearer is not None:
                # A content key can never manage anything, valid or not.
                return error_reply(403, "content API keys cannot call admin endpoints")
            return error_reply(401, "admin session required (cookie jwt)")
        path_org = params.get("organizationId")
        if path_org is not None and path_org != admin_org:
            return error_reply(403, "this admin session belongs to another organization")
        return admin_org, None

    # -- handlers -------------------------------------------------------------------------

    def login(self, call: Call) -> Reply:
        """``POST /auth/login``: check the admin credentials and set the session cookie."""
        body = _json_object(call.body, LOGIN_FIELDS)
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str) or not isinstance(password, str):
            raise BadRequestError("email and password must be strings")
        _optional_string(body, "timezone")
        if not (
            hmac.compare_digest(email.encode(), self.config.admin_email.encode())
            and hmac.compare_digest(password.encode(), self.config.admin_password.encode())
        ):
            return error_reply(401, "invalid email or password")
        token = self.tokens.issue(email, self.config.organization_id, int(call.now))
        return json_reply(
            200,
            {"user": {"email": email, "organizationId": self.config.organization_id}},
            headers=(("Set-Cookie", f"jwt={token}; HttpOnly; Path=/"),),
        )

    def _org(self, call: Call) -> str:
        assert call.organization_id is not None
        return call.organization_id

    def create_key(self, call: Call) -> Reply:
        """Create a content API key; the secret is in this answer only."""
        body = _json_object(call.body, KEY_FIELDS)
        name = _non_empty_string(body, "name")
        rate = _positive_int(body, "rateLimitPerMinute", self.config.default_rate_limit_per_minute)
        record, secret = self.state.issue_key(self._org(call), name, rate, call.now)
        return json_reply(201, _wire.issued_key_json(record, secret))

    def list_keys(self, call: Call) -> Reply:
        """Key metadata of the organization, as a bare array."""
        keys = self.state.list_keys(self._org(call))
        return json_reply(200, [_wire.key_metadata_json(k) for k in keys])

    def rotate_key(self, call: Call) -> Reply:
        """A new secret for the same key id; the old one stops working at once."""
        record, secret = self.state.rotate_key(self._org(call), call.params["keyId"])
        return json_reply(200, _wire.issued_key_json(record, secret))

    def revoke_key(self, call: Call) -> Reply:
        """Revoke a key; 200 with no body."""
        self.state.revoke_key(self._org(call), call.params["keyId"])
        return Reply(200)

    def _view(self, *, overridden: bool) -> _wire.StatusView:
        """Statuses in the configured case; per-job overrides only where they apply."""
        if overridden:
            return _wire.StatusView(self.config.status_case, self.state.status_overrides)
        return _wire.StatusView(self.config.status_case)

    def create_expansion(self, call: Call) -> Reply:
        """Create (or, for a known idempotency key, find) an expansion job; 200 either way.

        Per-job status overrides do not apply here, replays included.
        """
        request = parse_expansion(call.headers, call.body)
        job, _created = self.state.create_expansion(self._org(call), request, call.now)
        return json_reply(200, _wire.status_json(job, call.now, self._view(overridden=False)))

    def get_expansion(self, call: Call) -> Reply:
        """Job status and output rows."""
        job = self.state.get_job(self._org(call), call.params["jobId"])
        return json_reply(200, _wire.status_json(job, call.now, self._view(overridden=True)))

    def get_result(self, call: Call) -> Reply:
        """Job, outputs with manifests (once completed) and the combined manifest.

        During ``result_lag_seconds`` after completion: ``result_lag_status`` (404 or 409)
        with the documented error envelope instead, whatever a status override says.
        """
        job = self.state.get_job(self._org(call), call.params["jobId"])
        if job.result_pending(call.now):
            return error_reply(
                self.config.result_lag_status,
                f"the result of job {job.id!r} is not ready yet",
            )
        return json_reply(200, _wire.result_json(job, call.now, self._view(overridden=True)))

    def create_export(self, call: Call) -> Reply:
        """An already-completed job for UI-authored content; 201 new, 200 replayed."""
        body = _json_object(call.body, EXPORT_FIELDS)
        lesson_id = _non_empty_string(body, "lessonId")
        job, created = self.state.create_export(
            self._org(call),
            call.params["classroomId"],
            lesson_id,
            _idempotency_key(call.headers, body),
            call.now,
        )
        view = self._view(overridden=False)
        return json_reply(201 if created else 200, _wire.result_json(job, call.now, view))

    def create_webhook(self, call: Call) -> Reply:
        """Register a webhook; its signing secret is in this answer only."""
        body = _json_object(call.body, WEBHOOK_FIELDS)
        hook = self.state.add_webhook(self._org(call), _http_url(body), _events(body), call.now)
        return json_reply(201, _wire.webhook_json(hook, with_secret=True))

    def list_webhooks(self, call: Call) -> Reply:
        """Webhooks of the organization, without secrets."""
        hooks = self.state.list_webhooks(self._org(call))
        return json_reply(200, [_wire.webhook_json(h, with_secret=False) for h in hooks])

    def delete_webhook(self, call: Call) -> Reply:
        """Remove a webhook; 200 with no body."""
        self.state.delete_webhook(self._org(call), call.params["webhookId"])
        return Reply(200)
