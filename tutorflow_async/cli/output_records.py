"""JSON-safe output records and one-line texts of what the TutorFlow commands print.

Built field by field from the models, never from a model's whole ``raw`` where a secret
could sit (a created key's or webhook's answer carries one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edu_async_core.cli_support import error_record

from ..bulk import ExpansionOutcome
from ..errors import ExpansionFailed
from ..models import ApiKey, CreatedApiKey, CreatedWebhook, ExpansionOutput, Webhook
from ..webhooks import WebhookDelivery


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def output_records(outputs: Sequence[ExpansionOutput]) -> list[dict[str, Any]]:
    records = []
    for output in outputs:
        record: dict[str, Any] = {"output_type": output.output_type, "status": output.status}
        if output.resource_id is not None:
            record["resource_id"] = output.resource_id
        if output.manifest is not None and output.manifest.public_url:
            record["public_url"] = output.manifest.public_url
        if output.error is not None:
            record["error"] = {"code": output.error.code, "message": output.error.message}
        records.append(record)
    return records


def _error_detail(error: BaseException) -> str:
    if isinstance(error, ExpansionFailed) and error.error is not None:
        return f"{error.error.code}: {error.error.message}"
    return f"{type(error).__name__}: {error}"


def outcome_record(outcome: ExpansionOutcome) -> dict[str, Any]:
    record: dict[str, Any] = {
        "index": outcome.index,
        "label": outcome.label,
        "status": str(outcome.status),
        "job_id": outcome.job_id,
        "idempotency_key": outcome.idempotency_key,
        "from_journal": outcome.from_journal,
    }
    if outcome.result is not None:
        record["outputs"] = output_records(outcome.result.outputs)
    if outcome.error is not None:
        record["error"] = error_record(outcome.error)
    return record


def outcome_text(outcome: ExpansionOutcome) -> str:
    detail = ""
    if outcome.result is not None:
        urls = [o.manifest.public_url for o in outcome.result.outputs if o.manifest]
        detail = " ".join(u for u in urls if u)
    elif outcome.error is not None:
        detail = _error_detail(outcome.error)
    label = outcome.label if outcome.label is not None else f"#{outcome.index}"
    journal = " (journal)" if outcome.from_journal else ""
    return f"{outcome.status!s:<9} {label}  {outcome.job_id or '-'}{journal}  {detail}".rstrip()


def wait_record(job_id: str, status: str, outputs: Sequence[ExpansionOutput] = (),
                error: BaseException | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"job_id": job_id, "status": status}
    if outputs:
        record["outputs"] = output_records(outputs)
    if error is not None:
        record["error"] = error_record(error)
    return record


def wait_text(record: dict[str, Any], error: BaseException | None) -> str:
    detail = ""
    if error is not None:
        detail = _error_detail(error)
    elif "outputs" in record:
        detail = " ".join(o.get("public_url", o["output_type"]) for o in record["outputs"])
    return f"{record['status']:<9} {record['job_id']}  {detail}".rstrip()


def key_record(key: ApiKey | CreatedApiKey) -> dict[str, Any]:
    if isinstance(key, CreatedApiKey):
        return {
            "id": key.key_id,
            "name": key.name,
            # The server's prefix when it sends one, else ours: never the secret itself.
            "key_prefix": key.key_prefix or key.api_key.prefix,
            "rate_limit_per_minute": key.rate_limit_per_minute,
        }
    return {
        "id": key.id,
        "name": key.name,
        "key_prefix": key.key_prefix,
        "status": key.status,
        "rate_limit_per_minute": key.rate_limit_per_minute,
        "last_used_at": _iso(key.last_used_at),
    }


def key_text(record: dict[str, Any]) -> str:
    fields = (
        record["id"],
        record.get("name") or "-",
        record.get("key_prefix") or "-",
        record.get("status") or "",
        f"{record['rate_limit_per_minute']}/min" if record.get("rate_limit_per_minute") else "",
    )
    return "  ".join(str(f) for f in fields).rstrip()


def webhook_record(hook: Webhook | CreatedWebhook) -> dict[str, Any]:
    return {"id": hook.id, "url": hook.url, "events": list(hook.events), "status": hook.status}


def webhook_text(record: dict[str, Any]) -> str:
    events = ",".join(record["events"])
    return f"{record['id']}  {record['url']}  {events}  {record['status'] or ''}".rstrip()


def delivery_record(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "event": delivery.event,
        "job_id": delivery.job_id,
        "status": delivery.status,
        "source_type": delivery.source_type,
        "requested_outputs": list(delivery.requested_outputs),
        "completed_at": _iso(delivery.completed_at),
    }


def delivery_text(record: dict[str, Any]) -> str:
    return f"{record['event'] or '-'}  {record['job_id']}  {record['status'] or ''}".rstrip()
