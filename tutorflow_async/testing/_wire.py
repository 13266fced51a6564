"""How the emulator's records look on the wire: camelCase JSON, ISO 8601 UTC times."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import attrs

from tutorflow_async.testing._config import StatusCase
from tutorflow_async.testing._state import (
    GENERATION_FAILED,
    MISSING,
    OUTPUT_RESOURCE_TYPES,
    ApiKeyRecord,
    Job,
    StatusOverride,
    Webhook,
)

JSON = dict[str, Any]

ERROR_CODES: dict[int, str] = {
    400: "content_invalid_request",
    401: "content_invalid_api_key",
    403: "content_forbidden",
    404: "content_not_found",
    409: "content_conflict",
    429: "content_rate_limit_exceeded",
    500: "content_internal_error",
}
SHARE_BASE = "https://tutorflow.io/share"


def error_code(status: int) -> str:
    """The documented error code for a status; undocumented ones get the nearest family."""
    if status in ERROR_CODES:
        return ERROR_CODES[status]
    return "content_internal_error" if status >= 500 else "content_invalid_request"


def error_body(status: int, message: str) -> JSON:
    """The documented error envelope."""
    return {"error": {"code": error_code(status), "message": message, "status": status}}


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def iso(timestamp: float | None) -> str | None:
    """ISO 8601 UTC with milliseconds and a ``Z``, or ``None``."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def cased(status: str, case: StatusCase) -> str:
    """A job status spelled as ``EmulatorConfig.status_case`` asks."""
    if case == "upper":
        return status.upper()
    if case == "title":
        return status.title()
    return status


_NO_OVERRIDES: Mapping[str, StatusOverride] = MappingProxyType({})


@attrs.frozen
class StatusView:
    """How job statuses are rendered in one answer.

    ``case`` applies to every job and output-row status; ``overrides`` (by job id)
    replace the job object's ``status`` as is and leave everything else of the answer to
    the job's real state.
    """

    case: StatusCase = "lower"
    overrides: Mapping[str, StatusOverride] = _NO_OVERRIDES


DOCUMENTED = StatusView()


def _token(job: Job, output_type: str, purpose: str) -> str:
    # Derived rather than random so the same job always shows the same ids and URLs.
    digest = hashlib.sha256(f"{purpose}:{job.id}:{output_type}".encode()).hexdigest()
    return digest[:24]


def _title(job: Job) -> str:
    if job.lesson_id is not None:
        return f"Lesson {job.lesson_id}"
    payload = job.payload or {}
    for holder in (payload.get("level"), payload):
        if isinstance(holder, dict):
            title = holder.get("title")
            if isinstance(title, str) and title:
                return title
    return "Untitled content"


def job_json(job: Job, now: float, view: StatusView = DOCUMENTED) -> JSON:
    """The ``job`` object as of ``now``."""
    status = job.status_at(now)
    shown: StatusOverride = view.overrides.get(job.id, cased(status, view.case))
    body: JSON = {
        "id": job.id,
        "sourceType": job.source_type,
        "status": shown,
        "requestedOutputs": list(job.requested_outputs),
        "idempotencyKey": job.idempotency_key,
        "createdAt": iso(job.created_at),
        "updatedAt": iso(job.updated_at(now)),
        "completedAt": iso(job.completed_at(now)),
    }
    if shown is MISSING:
        del body["status"]
    if job.classroom_id is not None:
        body["classroomId"] = job.classroom_id
        body["lessonId"] = job.lesson_id
    if status == "failed":
        body["error"] = {
            "code": GENERATION_FAILED,
            "message": "the emulator was told to fail this job",
        }
    return body


def _resource_id(job: Job, output_type: str) -> str:
    return f"{OUTPUT_RESOURCE_TYPES[output_type]}_{_token(job, output_type, 'resource')}"


def _output_manifest(job: Job, output_type: str) -> JSON:
    resource_type = OUTPUT_RESOURCE_TYPES[output_type]
    return {
        "title": f"{_title(job)} ({output_type.replace('_', ' ')})",
        "urls": {"publicUrl": f"{SHARE_BASE}/{resource_type}/{_token(job, output_type, 'share')}"},
    }


def outputs_json(
    job: Job, now: float, *, manifests: bool, view: StatusView = DOCUMENTED
) -> list[JSON]:
    """The output rows, in priority order; manifests only on completed rows when asked.

    A row's status is the job's real one (in ``view.case``); overrides never reach rows.
    """
    status = job.status_at(now)
    rows: list[JSON] = []
    for output_type in job.requested_outputs:
        row: JSON = {
            "outputType": output_type,
            "resourceType": OUTPUT_RESOURCE_TYPES[output_type],
            "resourceId": _resource_id(job, output_type) if status == "completed" else None,
            "status": cased(status, view.case),
        }
        if status == "failed":
            row["error"] = {
                "code": GENERATION_FAILED,
                "message": f"{output_type} could not be generated",
            }
        elif status == "completed" and manifests:
            row["manifest"] = _output_manifest(job, output_type)
        rows.append(row)
    return rows


def status_json(job: Job, now: float, view: StatusView = DOCUMENTED) -> JSON:
    """Body of the status endpoint (and of create)."""
    return {
        "job": job_json(job, now, view),
        "outputs": outputs_json(job, now, manifests=False, view=view),
    }


def result_json(job: Job, now: float, view: StatusView = DOCUMENTED) -> JSON:
    """Body of the result endpoint: manifests once completed, errors once failed.

    A job that ended with another status (``final_status``) has neither.
    """
    body: JSON = {
        "job": job_json(job, now, view),
        "outputs": outputs_json(job, now, manifests=True, view=view),
    }
    if job.status_at(now) == "completed":
        body["manifest"] = {
            "title": _title(job),
            "outputs": [
                {
                    "outputType": row["outputType"],
                    "resourceType": row["resourceType"],
                    "resourceId": row["resourceId"],
                    "publicUrl": row["manifest"]["urls"]["publicUrl"],
                }
                for row in body["outputs"]
            ],
        }
    return body


def issued_key_json(record: ApiKeyRecord, secret: str) -> JSON:
    """Create/rotate answer: the only place the secret is ever shown."""
    return {
        "apiKey": secret,
        "keyId": record.id,
        "keyPrefix": record.key_prefix,
        "name": record.name,
        "rateLimitPerMinute": record.rate_limit_per_minute,
    }


def key_metadata_json(record: ApiKeyRecord) -> JSON:
    """A key as listed: metadata only, never the secret (``id``, not ``keyId``, as documented)."""
    return {
        "id": record.id,
        "name": record.name,
        "keyPrefix": record.key_prefix,
        "status": record.status,
        "organizationId": record.organization_id,
        "rateLimitPerMinute": record.rate_limit_per_minute,
        "lastUsedAt": iso(record.last_used_at),
        "expiresAt": None,
    }


def webhook_json(hook: Webhook, *, with_secret: bool) -> JSON:
    """A webhook; the secret only in the create answer."""
    body: JSON = {
        "id": hook.id,
        "organizationId": hook.organization_id,
        "url": hook.url,
        "events": list(hook.events),
        "status": hook.status,
        "createdAt": iso(hook.created_at),
    }
    if with_secret:
        body["secret"] = hook.secret
    return body


def webhook_event_body(event: str, job: Job, case: StatusCase = "lower") -> bytes:
    """The raw bytes of a delivery; the signature is computed over exactly these.

    ``status`` is the status the job ended with, in ``case``; per-job overrides do not
    reach deliveries.
    """
    return dumps(
        {
            "event": event,
            "jobId": job.id,
            "status": cased(job.final, case),
            "sourceType": job.source_type,
            "requestedOutputs": list(job.requested_outputs),
            "completedAt": iso(job.terminal_at),
        }
    )
