"""The endpoint groups of :class:`~tutorflow_async.AdminSession`: keys, webhooks, exports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from edu_async_core import defaults as core_defaults
from edu_async_core.reading import ModelReader, Response, ensure_json_object

from . import defaults, idempotency
from .checks import from_env, path_segment, positive_int, require_str, str_list
from .errors import FAMILY, InvalidArgumentError
from .expansions import read_result
from .models import (
    ApiKey,
    CreatedApiKey,
    CreatedWebhook,
    ExpansionResult,
    Webhook,
    WebhookEvent,
    converter,
    normalize_key,
    without_secrets,
)

if TYPE_CHECKING:
    from edu_async_core.transport import Transport

T = TypeVar("T")

_API_KEY = ModelReader(converter, ApiKey, FAMILY)
_CREATED_API_KEY = ModelReader(converter, CreatedApiKey, FAMILY)
_WEBHOOK = ModelReader(converter, Webhook, FAMILY)
_CREATED_WEBHOOK = ModelReader(converter, CreatedWebhook, FAMILY)

_LIST_KEYS = ("data", "items", "results", "apiKeys", "webhooks")


def _list_items(response: Response, what: str) -> list[Any]:
    """A listing: a bare array (documented) or an array under a common wrapper key.

    Listings never carry secrets; should a server send one anyway, it is dropped here so
    that no model's ``raw`` keeps it.
    """
    value = response.json(FAMILY)
    if value is None:
        return []
    if isinstance(value, dict):
        value = next((value[n] for n in _LIST_KEYS if isinstance(value.get(n), list)), value)
    if not isinstance(value, list):
        raise FAMILY.bad_response(
            f"expected a list of {what}, got {type(value).__name__}",
            status=response.status,
            context=response.context,
        )
    return [without_secrets(item) if isinstance(item, dict) else item for item in value]


def _with_secret(response: Response, reader: ModelReader[T], document: dict[str, Any]) -> T:
    """Read a secret-bearing model, keeping the secret out of its ``raw``."""
    obj = reader.read(document, response)
    object.__setattr__(obj, "raw", without_secrets(document))
    return obj


class ApiKeys:
    """Content API keys of the organization. Secrets are returned once, as ``Secret``."""

    def __init__(self, transport: Transport, org_path: Callable[[], str]) -> None:
        self._transport = transport
        self._org_path = org_path

    async def create(
        self, name: str, *, rate_limit_per_minute: int = core_defaults.RATE_LIMIT_PER_MINUTE
    ) -> CreatedApiKey:
        """Create a key; ``created.api_key.reveal()`` is the only time you see it."""
        body = {
            "name": require_str(name, "name"),
            "rateLimitPerMinute": positive_int(rate_limit_per_minute, "rate_limit_per_minute"),
        }
        response = await self._transport.request(
            "POST", f"{self._org_path()}/api-keys", json_body=body, operation="api_keys.create"
        )
        document = normalize_key(ensure_json_object(response, "a created key", FAMILY))
        return _with_secret(response, _CREATED_API_KEY, document)

    async def list(self) -> list[ApiKey]:
        """Metadata of every key (never the secrets)."""
        response = await self._transport.request(
            "GET", f"{self._org_path()}/api-keys", operation="api_keys.list"
        )
        return [
            _API_KEY.read(normalize_key(item) if isinstance(item, dict) else item, response)
            for item in _list_items(response, "API keys")
        ]

    async def rotate(self, key_id: str) -> CreatedApiKey:
        """Issue a new secret for ``key_id``; the old one stops working. Never retried."""
        path = f"{self._org_path()}/api-keys/{path_segment(key_id, 'key_id')}/rotate"
        response = await self._transport.request("POST", path, operation="api_keys.rotate")
        document = normalize_key(ensure_json_object(response, "a rotated key", FAMILY))
        if document.get("id") is None:
            document["id"] = document["keyId"] = key_id
        return _with_secret(response, _CREATED_API_KEY, document)

    async def revoke(self, key_id: str) -> None:
        """Revoke ``key_id``; requests with it fail with ``InvalidApiKeyError`` from now on."""
        path = f"{self._org_path()}/api-keys/{path_segment(key_id, 'key_id')}/revoke"
        await self._transport.request("POST", path, operation="api_keys.revoke")


class Webhooks:
    """Webhook subscriptions of the organization."""

    def __init__(self, transport: Transport, org_path: Callable[[], str]) -> None:
        self._transport = transport
        self._org_path = org_path

    async def create(
        self, url: str, *, events: Sequence[str] = tuple(WebhookEvent)
    ) -> CreatedWebhook:
        """Subscribe ``url``; ``hook.secret.reveal()`` (the signing secret) is shown once."""
        target = require_str(url, "url")
        if not target.startswith(("https://", "http://")):
            raise InvalidArgumentError("url", "must be an absolute http(s) URL")
        wanted = str_list(events, "events", allowed=[e.value for e in WebhookEvent])
        if not wanted:
            raise InvalidArgumentError("events", "must name at least one event")
        response = await self._transport.request(
            "POST",
            f"{self._org_path()}/webhooks",
            json_body={"url": target, "events": list(dict.fromkeys(wanted))},
            operation="webhooks.create",
        )
        document = ensure_json_object(response, "a created webhook", FAMILY)
        return _with_secret(response, _CREATED_WEBHOOK, document)

    async def list(self) -> list[Webhook]:
        """Every webhook subscription of the organization (never the signing secrets).

        A bare JSON array and one wrapped under a common key are both accepted; anything
        else raises ``BadResponseError``.
        """
        response = await self._transport.request(
            "GET", f"{self._org_path()}/webhooks", operation="webhooks.list"
        )
        return [_WEBHOOK.read(item, response) for item in _list_items(response, "webhooks")]

    async def delete(self, webhook_id: str) -> None:
        """Delete the subscription ``webhook_id``: no more deliveries go to its URL.

        An unknown id raises ``NotFoundError``; an empty or malformed id (not a string,
        ``..``, control characters) raises ``InvalidArgumentError`` before any request.
        """
        path = f"{self._org_path()}/webhooks/{path_segment(webhook_id, 'webhook_id')}"
        await self._transport.request("DELETE", path, operation="webhooks.delete")


class Exports:
    """Export of UI-authored lessons: an already-completed result per lesson."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(
        self,
        classroom_id: str | None = None,
        *,
        lesson_id: str,
        idempotency_key: str | None = None,
    ) -> ExpansionResult:
        """Export ``lesson_id`` of ``classroom_id`` (default ``$TUTORFLOW_CLASSROOM_ID``).

        Like expansions, the idempotency key is derived from the input when not given,
        so a retried or repeated export returns the same result.
        """
        classroom = require_str(
            from_env(classroom_id, defaults.TUTORFLOW_ENV_CLASSROOM_ID, "classroom_id"),
            "classroom_id",
        )
        lesson = require_str(lesson_id, "lesson_id")
        key = (
            idempotency.check_key(idempotency_key)
            if idempotency_key is not None
            else idempotency.derive_key({"classroomId": classroom, "lessonId": lesson})
        )
        path = (
            f"/v1/content/classrooms/{path_segment(classroom, 'classroom_id')}/integrations/exports"
        )
        response = await self._transport.request(
            "POST",
            path,
            json_body={"lessonId": lesson, "idempotencyKey": key},
            idempotency_key=key,
            require_document=True,
            operation="exports.create",
        )
        return read_result(response, "an export result")
