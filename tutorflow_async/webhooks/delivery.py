"""Webhook deliveries: read a delivery's body into a typed :class:`WebhookDelivery`.

TutorFlow posts ``content.completed`` and ``content.failed`` events; the sender retries
failed deliveries and may deliver one event more than once. :func:`parse_delivery` is a
tolerant reader of the payload's undocumented fields (camelCase or snake_case names, the
job id at the top or in a nested ``job`` object, the status read from the event when
missing); it raises :class:`WebhookPayloadError` only for a body that is no usable event.

Pure: no aiohttp, no I/O, and no signature check; verify the raw bytes first
(:mod:`tutorflow_async.webhooks.signature`), then parse them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from edu_async_core.reading import to_datetime

from ..errors import TutorFlowError
from ..models import TERMINAL_STATUSES, JobStatus, WebhookEvent

__all__ = ["WebhookDelivery", "WebhookPayloadError", "parse_delivery"]

logger: Final = logging.getLogger("tutorflow_async")

# When a payload has no ``status``, its event says which terminal status the job reached.
_STATUS_OF_EVENT: Final[Mapping[str, str]] = {
    WebhookEvent.CONTENT_COMPLETED: JobStatus.COMPLETED,
    WebhookEvent.CONTENT_FAILED: JobStatus.FAILED,
}

DeliveryKey = tuple[str, str | None, str | None]


class WebhookPayloadError(TutorFlowError, ValueError):
    """A signed delivery whose body is not a usable event (not JSON, no job id)."""


@attrs.frozen
class WebhookDelivery:
    """One event as delivered: which job, which event, and the job's terminal state.

    ``status`` and ``event`` stay plain strings (compare with :class:`JobStatus` and
    :class:`WebhookEvent`) so an undocumented value cannot break a receiver. ``raw`` is the
    whole JSON object, unknown fields included.
    """

    event: str | None
    job_id: str
    status: str | None = None
    source_type: str | None = None
    requested_outputs: tuple[str, ...] = ()
    completed_at: dt.datetime | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def key(self) -> DeliveryKey:
        """What identifies a delivery for de-duplication: ``(job_id, event, status)``."""
        return (self.job_id, self.event, self.status)

    @property
    def is_terminal(self) -> bool:
        """The job is ``completed`` or ``failed``: its result can be fetched now."""
        return self.status is not None and self.status.lower() in TERMINAL_STATUSES

    @property
    def is_completed(self) -> bool:
        """Whether the delivery says the job completed (its status, in any case)."""
        return self.status is not None and self.status.lower() == JobStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        """Whether the delivery says the job failed (its status, in any case)."""
        return self.status is not None and self.status.lower() == JobStatus.FAILED


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _pick(sources: Sequence[Mapping[str, Any]], *names: str) -> Any:
    """The first non-null value of any of ``names`` in any of ``sources``, in order."""
    for source in sources:
        for name in names:
            value = source.get(name)
            if value is not None:
                return value
    return None


def _job_id(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return _text(value)


def _timestamp(value: object) -> dt.datetime | None:
    # Tolerant on purpose: a bad completion time must not lose the event (it stays in raw).
    if value is None:
        return None
    try:
        return to_datetime(value)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def parse_delivery(
    body: bytes | str | Mapping[str, Any], *, event_header: str | None = None
) -> WebhookDelivery:
    """Read a delivery's JSON (bytes, text, or an already parsed object) tolerantly.

    The documented payload is ``{"event","jobId","status","sourceType","requestedOutputs",
    "completedAt"}``; ``id``/``job_id`` (or a nested ``job`` object) are accepted for the
    job id and snake_case names for the rest. ``event_header`` (the
    ``X-Content-Integration-Event`` value) names the event when the body does not; the
    body wins when both do, because only the body is signed. A missing ``status`` is read
    from the event. Raises :class:`WebhookPayloadError` for malformed JSON, a non-object,
    or a missing job id.
    """
    if isinstance(body, Mapping):
        document: object = body
    else:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, nesting
            raise WebhookPayloadError("malformed JSON") from None
    if not isinstance(document, Mapping):
        raise WebhookPayloadError(f"expected a JSON object, got {type(document).__name__}")
    nested = document.get("job")
    sources: list[Mapping[str, Any]] = [document]
    if isinstance(nested, Mapping):
        sources.append(nested)

    job_id = _job_id(_pick(sources, "jobId", "job_id", "id"))
    if job_id is None:
        raise WebhookPayloadError("missing job id")
    body_event = _text(document.get("event"))
    header_event = _text(event_header)
    if body_event and header_event and body_event != header_event:
        logger.debug(
            "webhook job=%r: event header %r differs from the signed body's %r; using the body",
            job_id,
            header_event,
            body_event,
        )
    event = body_event or header_event
    status = _text(_pick(sources, "status"))
    if status is None and event is not None:
        status = _STATUS_OF_EVENT.get(event)
    outputs = _pick(sources, "requestedOutputs", "requested_outputs")
    return WebhookDelivery(
        event=event,
        job_id=job_id,
        status=status,
        source_type=_text(_pick(sources, "sourceType", "source_type")),
        requested_outputs=(
            tuple(o for o in outputs if isinstance(o, str))
            if isinstance(outputs, list | tuple)
            else ()
        ),
        completed_at=_timestamp(_pick(sources, "completedAt", "completed_at")),
        raw=dict(document),
    )
