"""``session.expansions``: create an expansion job, read its status and its result."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from edu_async_core.errors import SDKError
from edu_async_core.reading import ModelReader, Response

from . import defaults, idempotency
from .checks import path_segment, shown, str_list
from .errors import FAMILY, InvalidArgumentError
from .models import (
    OUTPUT_PRIORITY,
    ExpansionJob,
    ExpansionResult,
    SourceType,
    converter,
    normalize_job,
    normalize_result,
)

if TYPE_CHECKING:
    from edu_async_core.transport import Transport

EXPANSIONS_PATH = "/v1/content/integrations/expansions"

# Ids as the server issues them: characters that URL quoting leaves alone, short enough
# for any length rule. Such an id is its own path segment; anything else is checked and
# quoted by ``path_segment`` (``.``/``..`` included, as they must be refused).
_PLAIN_ID = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9_.~-]{0,127}").fullmatch


def job_segment(job_id: object) -> str:
    """``job_id`` as one checked, quoted path segment (see ``path_segment``)."""
    if type(job_id) is str and _PLAIN_ID(job_id):
        return job_id
    return path_segment(job_id, "job_id")


def check_payload(payload: object) -> Mapping[str, Any]:
    """The source JSON: a non-empty object that survives JSON encoding (unknown fields kept)."""
    if not isinstance(payload, Mapping):
        raise InvalidArgumentError(
            "payload", f"expected a JSON object (dict), got {type(payload).__name__}"
        )
    if not payload:
        raise InvalidArgumentError("payload", "must not be empty")
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError("payload", f"is not JSON-serialisable: {exc}") from None
    except RecursionError:
        raise InvalidArgumentError("payload", "is nested too deeply to encode as JSON") from None
    return payload


def check_outputs(requested_outputs: Sequence[str] | None) -> list[str]:
    """Known output types, each once, in the server's priority order."""
    if requested_outputs is None:
        return list(defaults.TUTORFLOW_DEFAULT_OUTPUTS)
    items = str_list(requested_outputs, "requested_outputs", allowed=OUTPUT_PRIORITY)
    if not items:
        raise InvalidArgumentError("requested_outputs", "must name at least one output")
    wanted = set(items)
    return [o for o in OUTPUT_PRIORITY if o in wanted]


def check_source_type(source_type: object) -> str:
    allowed = [s.value for s in SourceType]
    if source_type not in allowed:
        raise InvalidArgumentError(
            "source_type", f"unknown value {shown(source_type)}; expected one of {allowed!r}"
        )
    return str(source_type)


def prepare_create(
    payload: object,
    requested_outputs: Sequence[str] | None,
    source_type: object,
    idempotency_key: str | None,
) -> tuple[dict[str, Any], str]:
    """The checked request body of a create and its idempotency key (pure, no I/O).

    Raises ``InvalidArgumentError`` naming the argument at fault.
    """
    body_payload = check_payload(payload)
    outputs = check_outputs(requested_outputs)
    source = check_source_type(source_type)
    key = (
        idempotency.check_key(idempotency_key)
        if idempotency_key is not None
        else idempotency.expansion_key(body_payload, outputs, source)
    )
    body = {
        "payload": body_payload,
        "requestedOutputs": outputs,
        "sourceType": source,
        "idempotencyKey": key,
    }
    return body, key


_JOB = ModelReader(converter, ExpansionJob, FAMILY)
_RESULT = ModelReader(converter, ExpansionResult, FAMILY)


def read_job(response: Response) -> ExpansionJob:
    """A job from a create or status answer, in either documented shape; anything else is
    the SDK's ``BadResponseError``."""
    document = response.json_object("an expansion job", FAMILY)
    # Every poll comes here. The document was parsed for this call and is seen by no
    # one else (a result's is: it becomes ``raw``), so the job is completed in place.
    return _JOB.read(normalize_job(document, in_place=True), response)


def read_result(response: Response, what: str = "an expansion result") -> ExpansionResult:
    """The result endpoint's answer (the whole document kept in ``raw``); an export answers
    the same shape (``what`` names it in the error)."""
    document = response.json_object(what, FAMILY)
    result = _RESULT.read(normalize_result(document), response)
    object.__setattr__(result, "raw", document)
    return result


class Expansions:
    """Expansion jobs: turn source JSON into modules, videos and quizzes."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(
        self,
        payload: Mapping[str, Any],
        *,
        requested_outputs: Sequence[str] | None = None,
        source_type: str = defaults.TUTORFLOW_DEFAULT_SOURCE_TYPE,
        idempotency_key: str | None = None,
    ) -> ExpansionJob:
        """Start an expansion job (or find the one this key already started).

        The idempotency key is fixed before the first attempt and sent with every retry,
        so a retried create never makes a second job. Without one, a key is derived from
        ``(source_type, requested_outputs, payload)``: the same input always names the
        same job; change the input (or pass a new key) to make a new one.
        """
        body, key = prepare_create(payload, requested_outputs, source_type, idempotency_key)
        return await self.create_prepared(body, key)

    async def create_prepared(self, body: dict[str, Any], key: str) -> ExpansionJob:
        """Send a create built by :func:`prepare_create` (the bulk runner checks its
        journal between the two)."""
        response = await self._transport.request(
            "POST",
            EXPANSIONS_PATH,
            json_body=body,
            idempotency_key=key,
            require_document=True,
            operation="expansions.create",
        )
        return read_job(response)

    async def get(
        self, job_id: str, *, on_retry: Callable[[SDKError], None] | None = None
    ) -> ExpansionJob:
        """The job's current status and its output rows (``on_retry`` hears each failure
        the transport is about to retry)."""
        path = f"{EXPANSIONS_PATH}/{job_segment(job_id)}"
        response = await self._transport.request(
            "GET", path, require_document=True, on_retry=on_retry, operation="expansions.get"
        )
        return read_job(response)

    async def result(
        self, job_id: str, *, on_retry: Callable[[SDKError], None] | None = None
    ) -> ExpansionResult:
        """The job, its outputs with manifests, and the combined manifest.

        Also where a failed job's ``job.error`` and ``outputs[].error`` are read.
        """
        path = f"{EXPANSIONS_PATH}/{job_segment(job_id)}/result"
        response = await self._transport.request(
            "GET", path, require_document=True, on_retry=on_retry, operation="expansions.result"
        )
        return read_result(response)
