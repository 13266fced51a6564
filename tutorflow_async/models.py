"""Typed models of TutorFlow responses.

attrs classes with snake_case attributes read from camelCase JSON. Every model keeps the
mapping it was read from in ``raw`` (fields this SDK does not know yet included) except
for secrets, which live only in :class:`~edu_async_core.redaction.Secret` attributes.
The ``normalize_*`` functions absorb the shapes the vendor's pages disagree on before
the converter sees the data.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from edu_async_core.reading import camel_case, make_converter
from edu_async_core.redaction import Secret

from .statuses import StatusMeaning, meaning


class JobStatus(enum.StrEnum):
    """Documented job statuses. Compare with ``job.status == JobStatus.COMPLETED``;
    ``job.status`` itself stays the plain string the server sent, so an undocumented status
    cannot break us. Comparisons ignore case (``"COMPLETED" == JobStatus.COMPLETED``, either
    way round); hashing does not, so do not look statuses up in sets of members."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.value == other.casefold()
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = str.__hash__


TERMINAL_STATUSES = frozenset({"completed", "failed"})
"""The documented terminal statuses, lower case (compare ``status.lower()`` with it)."""
_TERMINAL_MEANINGS = frozenset({StatusMeaning.COMPLETED, StatusMeaning.FAILED, StatusMeaning.ENDED})


class OutputType(enum.StrEnum):
    """``requestedOutputs`` values, in the priority order the server creates them."""

    INTERACTIVE_MODULE = "interactive_module"
    SUMMARY_VIDEO = "summary_video"
    EXPANDED_QUIZ = "expanded_quiz"


OUTPUT_PRIORITY: tuple[str, ...] = tuple(OutputType)


class SourceType(enum.StrEnum):
    """What a create's payload is (``sourceType``): ``source_json`` by default, or ``floco``.

    Pass one as ``expansions.create(..., source_type=...)``; a job made by an admin
    export reports ``ui_authored`` instead, which is not a value a request may send.
    """

    SOURCE_JSON = "source_json"
    FLOCO = "floco"


class WebhookEvent(enum.StrEnum):
    """The events a webhook can subscribe to: a job completed, or a job failed.

    ``admin.webhooks.create(url)`` subscribes to both unless ``events=`` narrows it.
    """

    CONTENT_COMPLETED = "content.completed"
    CONTENT_FAILED = "content.failed"


def _raw() -> Any:
    # The mapping a model was read from: kept, but out of repr and equality.
    return attrs.field(factory=dict, repr=False, eq=False)


# weakref_slot=False on every model read from an answer: without a __weakref__ slot,
# Python 3.11 too lets the generated reader fill a mutable twin and then make it this
# class (edu_async_core/reading/generated.py), about a third cheaper than storing each
# field through its slot. The SDK keeps no weak references to these values.


@attrs.frozen(weakref_slot=False)
class ErrorDetail:
    """``job.error`` or ``outputs[].error`` of a failed job."""

    code: str | None = None
    message: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(weakref_slot=False)
class Manifest:
    """What an output produced: its title and the URLs it can be reached at."""

    title: str | None = None
    urls: Mapping[str, Any] = attrs.field(factory=dict)
    raw: Mapping[str, Any] = _raw()

    @property
    def public_url(self) -> str | None:
        """The manifest's ``publicUrl`` (where learners open the output), if it has one.

        ``None`` when the server sent none or sent something other than a string; the
        other URLs stay in ``urls``.
        """
        url = self.urls.get("publicUrl")
        return url if isinstance(url, str) else None


@attrs.frozen(weakref_slot=False)
class ExpansionOutput:
    """One requested output of a job (a module, a video, a quiz)."""

    output_type: str
    status: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    manifest: Manifest | None = None
    error: ErrorDetail | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(weakref_slot=False)
class ExpansionJob:
    """An expansion job as the status endpoint reports it."""

    id: str
    status: str
    source_type: str | None = None
    requested_outputs: tuple[str, ...] = ()
    idempotency_key: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    error: ErrorDetail | None = None
    outputs: tuple[ExpansionOutput, ...] = ()
    raw: Mapping[str, Any] = _raw()

    @property
    def is_terminal(self) -> bool:
        """Polling this job again would change nothing: ``completed``, ``failed``, or a
        status that says it ended without a result (``canceled``, ``expired``, ...: the
        default ``defaults.TUTORFLOW_ENDED_STATUSES``, whatever a session's
        ``ended_statuses``), in any case. Only ``completed`` and ``failed`` have a result."""
        return meaning(self.status) in _TERMINAL_MEANINGS

    @property
    def is_completed(self) -> bool:
        """Whether the status is ``completed`` (in any case): the result can be fetched."""
        return self.status == JobStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        """Whether the status is ``failed`` (in any case); ``error`` says why, if sent.

        A job that ended some other way without a result (``canceled``, ...) is neither
        completed nor failed: see :attr:`is_terminal`.
        """
        return self.status == JobStatus.FAILED


@attrs.frozen(weakref_slot=False)
class ExpansionResult:
    """The result endpoint's answer: the job, one manifest per output, and a combined one."""

    job: ExpansionJob
    outputs: tuple[ExpansionOutput, ...] = ()
    manifest: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(weakref_slot=False)
class ApiKey:
    """Metadata of a Content API key, as listed (never the secret)."""

    id: str
    name: str | None = None
    key_prefix: str | None = None
    status: str | None = None
    organization_id: str | None = None
    rate_limit_per_minute: int | None = None
    last_used_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(weakref_slot=False)
class CreatedApiKey:
    """A key just created or rotated. ``api_key`` is shown this once: store it now.

    ``api_key`` is a :class:`Secret`; ``created.api_key.reveal()`` gives the text.
    """

    api_key: Secret = attrs.field(repr=False)
    key_id: str
    key_prefix: str | None = None
    name: str | None = None
    rate_limit_per_minute: int | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(weakref_slot=False)
class Webhook:
    """A webhook subscription, as listed (never the secret)."""

    id: str
    url: str
    events: tuple[str, ...] = ()
    status: str | None = None
    organization_id: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(weakref_slot=False)
class CreatedWebhook:
    """A webhook just created. ``secret`` (signing key) is shown this once: store it now."""

    id: str
    url: str
    secret: Secret = attrs.field(repr=False)
    events: tuple[str, ...] = ()
    status: str | None = None
    organization_id: str | None = None
    raw: Mapping[str, Any] = _raw()


# ---------------------------------------------------------------- normalisation (pure)

_SECRET_FIELDS = frozenset({"apiKey", "secret", "api_key"})


def without_secrets(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` minus any field that carries a secret (for ``raw``)."""
    return {k: v for k, v in data.items() if k not in _SECRET_FIELDS}


def _first_id(data: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = data.get(name)
        if value is not None:
            return value
    return None


def normalize_job(document: Mapping[str, Any], *, in_place: bool = False) -> dict[str, Any]:
    """A job mapping with ``id`` and ``outputs`` from either documented shape.

    Wrapped ``{"job": {...}, "outputs": [...]}`` or a flat job with top-level ``status``;
    the id under ``id`` or ``jobId``. ``in_place``: the caller owns ``document`` (parsed
    for this call alone), so its job dict itself is completed and returned, not a copy.
    """
    inner: Any = document.get("job")
    # type() first: an ABC isinstance check costs more than the rest of this function.
    wrapped = type(inner) is dict or isinstance(inner, Mapping)
    if wrapped:
        job = inner if in_place and type(inner) is dict else dict(inner)
        outputs = document.get("outputs", job.get("outputs"))
    else:
        job = document if in_place and type(document) is dict else dict(document)
        outputs = job.get("outputs")
    if job.get("id") is None:  # else it is in place already
        job_id = job.get("jobId")
        if job_id is None and wrapped:
            job_id = _first_id(document, "id", "jobId")
        job["id"] = job_id
    job["outputs"] = outputs if outputs is not None else []
    return job


def normalize_result(document: Mapping[str, Any]) -> dict[str, Any]:
    job = normalize_job(document)
    return {"job": job, "outputs": job["outputs"], "manifest": document.get("manifest")}


def normalize_key(document: Mapping[str, Any]) -> dict[str, Any]:
    """Key metadata with ``id`` and ``keyId`` both set (``id`` on list, ``keyId`` on create)."""
    data = dict(document)
    key_id = _first_id(data, "keyId", "id")
    data["id"] = data["keyId"] = key_id
    return data


def _structure_error_detail(value: Any, _: type) -> ErrorDetail:
    # Some failures carry a bare message string instead of an object.
    if isinstance(value, str):
        return ErrorDetail(message=value, raw={"message": value})
    if isinstance(value, Mapping):
        code, message = value.get("code"), value.get("message")
        return ErrorDetail(
            code=code if isinstance(code, str) else None,
            message=message if isinstance(message, str) else None,
            raw=value,
        )
    raise TypeError(f"expected an error object, got {type(value).__name__}")


def _structure_str_tuple(value: Any, _: type) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"expected a list of strings, got {type(value).__name__}")
    if not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of strings")
    return tuple(value)


converter = make_converter(camel_case)
converter.register_structure_hook(ErrorDetail, _structure_error_detail)
converter.register_structure_hook(Secret, lambda v, _: Secret(v))
converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_str_tuple)
