"""The emulator's in-memory store and job state machine.

Pure: no I/O, no clock of its own. Every time-dependent call takes ``now`` (seconds on the
emulator's job clock, an epoch-like float), so a job's status is a function of its record
and the time asked about, and tests can move time forward without sleeping. It is over 400
lines because jobs, keys and webhooks share one store and the same notion of time.
"""

from __future__ import annotations

import enum
import heapq
import json
import random
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, Protocol, TypeVar

import attrs

from tutorflow_async.testing import _auth

JobStatus = Literal["queued", "processing", "completed", "failed"]
JobKind = Literal["expansion", "export"]


class Missing(enum.Enum):
    """The type of :data:`MISSING`."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


#: A status override that leaves the ``status`` field out of the job object entirely.
MISSING: Final = Missing.MISSING
#: What a per-job override puts in ``job.status``: a string as is, ``None`` as JSON
#: ``null``, or :data:`MISSING` (no ``status`` field at all).
StatusOverride = str | None | Literal[Missing.MISSING]

# Outputs are produced in this priority order, whatever order the request named them in.
OUTPUT_RESOURCE_TYPES: dict[str, str] = {
    "interactive_module": "module",
    "summary_video": "video",
    "expanded_quiz": "quiz",
}
SOURCE_TYPES = ("source_json", "floco")
WEBHOOK_EVENTS = ("content.completed", "content.failed")
GENERATION_FAILED = "content_generation_failed"


class StateError(Exception):
    """A request the store refuses; the HTTP layer maps the subclass to a status."""


class NotFoundError(StateError):
    """No such resource visible to the caller."""


class ConflictError(StateError):
    """An idempotency key reused for a different request."""


@attrs.define
class ApiKeyRecord:
    """A content API key as stored: the secret only as its sha256 hash."""

    id: str
    organization_id: str
    name: str
    key_prefix: str
    secret_hash: str = attrs.field(repr=False)
    rate_limit_per_minute: int
    created_at: float
    status: Literal["ACTIVE", "REVOKED"] = "ACTIVE"
    last_used_at: float | None = None


@attrs.define
class Webhook:
    """A registered webhook endpoint."""

    id: str
    organization_id: str
    url: str
    events: tuple[str, ...]
    secret: str = attrs.field(repr=False)
    created_at: float
    status: Literal["ACTIVE"] = "ACTIVE"


@attrs.define
class Job:
    """One expansion or export job; its status is derived from the clock on demand."""

    id: str
    organization_id: str
    kind: JobKind
    source_type: str
    requested_outputs: tuple[str, ...]
    idempotency_key: str | None
    fingerprint: str = attrs.field(repr=False)
    created_at: float
    queued_seconds: float
    processing_seconds: float
    will_fail: bool
    payload: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    classroom_id: str | None = None
    lesson_id: str | None = None
    final_status: str | None = None
    """What the job ends with instead of ``completed`` (``EmulatorConfig.final_status``)."""
    result_lag_seconds: float = 0.0
    """How long after completion ``/result`` is not ready yet."""

    @property
    def started_at(self) -> float:
        """When the job leaves ``queued``."""
        return self.created_at + self.queued_seconds

    @property
    def terminal_at(self) -> float:
        """When the job becomes ``completed`` or ``failed``."""
        return self.started_at + self.processing_seconds

    @property
    def final(self) -> str:
        """The status the job ends with: ``failed``, ``completed`` or its ``final_status``."""
        if self.will_fail:
            return "failed"
        return self.final_status if self.final_status is not None else "completed"

    @property
    def terminal_event(self) -> str:
        """The webhook event of its end: ``content.completed`` only when it has a result."""
        return "content.completed" if self.final == "completed" else "content.failed"

    def status_at(self, now: float) -> str:
        """The status an observer sees at ``now``, in lower case as the docs spell it.

        One of :data:`JobStatus`, or the job's ``final_status`` once it has ended.
        """
        if now >= self.terminal_at:
            return self.final
        if now >= self.started_at:
            return "processing"
        return "queued"

    def result_pending(self, now: float) -> bool:
        """Whether the job reads ``completed`` at ``now`` but its result is not ready yet."""
        return self.status_at(now) == "completed" and now < (
            self.terminal_at + self.result_lag_seconds
        )

    def updated_at(self, now: float) -> float:
        """Time of the last status change as of ``now``."""
        if now >= self.terminal_at:
            return self.terminal_at
        if now >= self.started_at:
            return self.started_at
        return self.created_at

    def completed_at(self, now: float) -> float | None:
        """Time the job turned terminal, or ``None`` while it is still running."""
        return self.terminal_at if now >= self.terminal_at else None


@attrs.frozen
class ExpansionRequest:
    """A validated expansion create request, defaults applied."""

    payload: Mapping[str, Any]
    requested_outputs: tuple[str, ...]
    source_type: str
    idempotency_key: str | None
    queued_seconds: float | None = None
    processing_seconds: float | None = None
    force_failure: bool = False


def canonical_json(value: object) -> str:
    """A stable text form of JSON data, so equal requests compare equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class _Owned(Protocol):
    @property
    def organization_id(self) -> str: ...


_O = TypeVar("_O", bound=_Owned)


def _owned_by(table: Mapping[str, _O], organization_id: str, item_id: str, what: str) -> _O:
    """The record ``item_id`` of ``table`` if this organization may see it, else 404.

    Another organization's record is as unknown as a missing one, so ids never leak.
    """
    record = table.get(item_id)
    if record is None or record.organization_id != organization_id:
        raise NotFoundError(f"{what} {item_id!r} not found")
    return record


class EmulatorState:
    """Keys, jobs and webhooks of every organization the emulator knows."""

    def __init__(
        self,
        *,
        queued_seconds: float,
        processing_seconds: float,
        failure_rate: float,
        seed: int,
        final_status: str | None = None,
        result_lag_seconds: float = 0.0,
    ) -> None:
        self._final_status = final_status
        self._result_lag_seconds = result_lag_seconds
        self._queued_seconds = queued_seconds
        self._processing_seconds = processing_seconds
        self._failure_rate = failure_rate
        # Seeded so that a given seed fails the same jobs (by creation order) on every run.
        self._rng = random.Random(seed)
        self.keys: dict[str, ApiKeyRecord] = {}
        self._key_by_hash: dict[str, str] = {}
        self.jobs: dict[str, Job] = {}
        self._idempotency: dict[tuple[str, str, str], str] = {}
        self.webhooks: dict[str, Webhook] = {}
        # Per-job ``job.status`` replacements for GET .../{jobId} and .../result.
        self.status_overrides: dict[str, StatusOverride] = {}
        self.jobs_created = 0
        # (terminal_at, job id) of jobs not yet reported as terminal, earliest first.
        self._pending_terminal: list[tuple[float, str]] = []

    # -- API keys -----------------------------------------------------------------------

    def issue_key(
        self, organization_id: str, name: str, rate_limit_per_minute: int, now: float
    ) -> tuple[ApiKeyRecord, str]:
        """A new key record and its one-time secret."""
        secret = _auth.new_key_secret()
        record = ApiKeyRecord(
            id=f"key_{secrets.token_hex(8)}",
            organization_id=organization_id,
            name=name,
            key_prefix=_auth.key_prefix(secret),
            secret_hash=_auth.hash_secret(secret),
            rate_limit_per_minute=rate_limit_per_minute,
            created_at=now,
        )
        self.keys[record.id] = record
        self._key_by_hash[record.secret_hash] = record.id
        return record, secret

    def _key_of(self, organization_id: str, key_id: str) -> ApiKeyRecord:
        return _owned_by(self.keys, organization_id, key_id, "API key")

    def rotate_key(self, organization_id: str, key_id: str) -> tuple[ApiKeyRecord, str]:
        """Give a key a new secret; the old secret stops working at once."""
        record = self._key_of(organization_id, key_id)
        if record.status != "ACTIVE":
            # A revoked key stays revoked: rotating it must not bring it back to life.
            raise ConflictError(f"API key {key_id!r} is revoked")
        del self._key_by_hash[record.secret_hash]
        secret = _auth.new_key_secret()
        record.secret_hash = _auth.hash_secret(secret)
        record.key_prefix = _auth.key_prefix(secret)
        self._key_by_hash[record.secret_hash] = record.id
        return record, secret

    def revoke_key(self, organization_id: str, key_id: str) -> ApiKeyRecord:
        """Mark a key revoked; its secret stops working at once."""
        record = self._key_of(organization_id, key_id)
        record.status = "REVOKED"
        self._key_by_hash.pop(record.secret_hash, None)
        return record

    def list_keys(self, organization_id: str) -> list[ApiKeyRecord]:
        """Every key of an organization, revoked ones included, oldest first."""
        return [k for k in self.keys.values() if k.organization_id == organization_id]

    def authenticate(self, secret: str) -> ApiKeyRecord | None:
        """The active key whose secret this is, else ``None``."""
        key_id = self._key_by_hash.get(_auth.hash_secret(secret))
        if key_id is None:
            return None
        record = self.keys[key_id]
        return record if record.status == "ACTIVE" else None

    # -- jobs ---------------------------------------------------------------------------

    def _draw_failure(self) -> bool:
        # Always draw, so the failure pattern for a seed does not depend on failure_rate
        # being zero for some jobs and not others.
        return self._rng.random() < self._failure_rate

    def _remember(self, job: Job, scope: str) -> None:
        self.jobs[job.id] = job
        self.jobs_created += 1
        if job.idempotency_key is not None:
            self._idempotency[(job.organization_id, scope, job.idempotency_key)] = job.id
        heapq.heappush(self._pending_terminal, (job.terminal_at, job.id))

    def _replay(self, organization_id: str, scope: str, key: str | None, fp: str) -> Job | None:
        if key is None:
            return None
        job_id = self._idempotency.get((organization_id, scope, key))
        if job_id is None:
            return None
        job = self.jobs[job_id]
        if job.fingerprint != fp:
            raise ConflictError(
                f"idempotency key {key!r} was already used with a different request"
            )
        return job

    def create_expansion(
        self, organization_id: str, request: ExpansionRequest, now: float
    ) -> tuple[Job, bool]:
        """The job for this request and whether it was created now (False: a replay)."""
        fingerprint = canonical_json(
            {
                "payload": request.payload,
                "requestedOutputs": list(request.requested_outputs),
                "sourceType": request.source_type,
            }
        )
        existing = self._replay(organization_id, "expansion", request.idempotency_key, fingerprint)
        if existing is not None:
            return existing, False
        will_fail = self._draw_failure() or request.force_failure
        job = Job(
            id=_new_id("job"),
            organization_id=organization_id,
            kind="expansion",
            source_type=request.source_type,
            requested_outputs=request.requested_outputs,
            idempotency_key=request.idempotency_key,
            fingerprint=fingerprint,
            created_at=now,
            queued_seconds=(
                self._queued_seconds if request.queued_seconds is None else request.queued_seconds
            ),
            processing_seconds=(
                self._processing_seconds
                if request.processing_seconds is None
                else request.processing_seconds
            ),
            will_fail=will_fail,
            payload=request.payload,
            final_status=self._final_status,
            result_lag_seconds=self._result_lag_seconds,
        )
        self._remember(job, "expansion")
        return job, True

    def create_export(
        self,
        organization_id: str,
        classroom_id: str,
        lesson_id: str,
        idempotency_key: str | None,
        now: float,
    ) -> tuple[Job, bool]:
        """An already-completed job for UI-authored content, and whether it is new."""
        fingerprint = canonical_json({"classroomId": classroom_id, "lessonId": lesson_id})
        existing = self._replay(organization_id, "export", idempotency_key, fingerprint)
        if existing is not None:
            return existing, False
        job = Job(
            id=_new_id("job"),
            organization_id=organization_id,
            kind="export",
            source_type="ui_authored",
            requested_outputs=("interactive_module",),
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            created_at=now,
            queued_seconds=0.0,
            processing_seconds=0.0,
            will_fail=False,
            classroom_id=classroom_id,
            lesson_id=lesson_id,
        )
        self._remember(job, "export")
        return job, True

    def get_job(self, organization_id: str, job_id: str) -> Job:
        """A job visible to this organization."""
        return _owned_by(self.jobs, organization_id, job_id, "job")

    def pop_newly_terminal(self, now: float) -> list[Job]:
        """Jobs that turned terminal at or before ``now`` and were not reported yet."""
        done: list[Job] = []
        while self._pending_terminal and self._pending_terminal[0][0] <= now:
            _, job_id = heapq.heappop(self._pending_terminal)
            done.append(self.jobs[job_id])
        return done

    def jobs_per_idempotency_key(self) -> dict[str, int]:
        """How many distinct jobs carry each idempotency key, over all organizations.

        Within one organization the store never lets a key reach a second job, so a count
        above 1 means the same key was used by several organizations (or for both an
        expansion and an export).
        """
        counts: Counter[str] = Counter(
            job.idempotency_key for job in self.jobs.values() if job.idempotency_key is not None
        )
        return dict(counts)

    def jobs_per_fingerprint(self) -> dict[str, int]:
        """How many distinct jobs were created for each canonical request."""
        return dict(Counter(job.fingerprint for job in self.jobs.values()))

    # -- webhooks -----------------------------------------------------------------------

    def add_webhook(
        self, organization_id: str, url: str, events: Sequence[str], now: float
    ) -> Webhook:
        """Register a webhook with a fresh signing secret."""
        hook = Webhook(
            id=_new_id("wh"),
            organization_id=organization_id,
            url=url,
            events=tuple(events),
            secret="whsec_" + secrets.token_urlsafe(24),
            created_at=now,
        )
        self.webhooks[hook.id] = hook
        return hook

    def list_webhooks(self, organization_id: str) -> list[Webhook]:
        """Webhooks of an organization, oldest first."""
        return [h for h in self.webhooks.values() if h.organization_id == organization_id]

    def delete_webhook(self, organization_id: str, webhook_id: str) -> None:
        """Forget a webhook; no further deliveries go to it."""
        _owned_by(self.webhooks, organization_id, webhook_id, "webhook")
        del self.webhooks[webhook_id]

    def subscribers(self, organization_id: str, event: str) -> list[Webhook]:
        """Active webhooks of an organization subscribed to ``event``."""
        return [
            h
            for h in self.webhooks.values()
            if h.organization_id == organization_id and h.status == "ACTIVE" and event in h.events
        ]
