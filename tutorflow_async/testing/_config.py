"""Every default of the TutorFlow emulator, in one frozen object."""

from __future__ import annotations

import math
from typing import Literal

import attrs
from attrs import validators as v

from edu_async_core.emulation import unit_interval

__all__ = ["DOCUMENTED_STATUSES", "STATUS_CASES", "EmulatorConfig", "StatusCase"]

#: How the emulator spells job statuses on the wire (``status_case``): ``completed``,
#: ``COMPLETED`` or ``Completed``.
StatusCase = Literal["lower", "upper", "title"]
#: The values ``status_case`` may take.
STATUS_CASES: tuple[str, ...] = ("lower", "upper", "title")
#: The job statuses the vendor documents; ``final_status`` must be something else.
DOCUMENTED_STATUSES: tuple[str, ...] = ("queued", "processing", "completed", "failed")
RESULT_LAG_STATUSES: tuple[int, ...] = (404, 409)


def _non_negative(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attr.name} must be >= 0, got {value!r}")


def _positive(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attr.name} must be > 0, got {value!r}")


def _final_status(_inst: object, attr: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attr.name} must be None or a non-empty string, got {value!r}")
    if value.lower() in DOCUMENTED_STATUSES:
        raise ValueError(
            f"{attr.name} must be a status other than the documented "
            f"{'/'.join(DOCUMENTED_STATUSES)} (failure_rate or payload._emulator.fail make "
            f"failed jobs, status_case changes the spelling, override_status() sets any "
            f"value on one job), got {value!r}"
        )


def _status_case(_inst: object, attr: attrs.Attribute[str], value: str) -> None:
    if value not in STATUS_CASES:
        raise ValueError(f"{attr.name} must be one of {list(STATUS_CASES)}, got {value!r}")


def _lag_seconds(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    # NaN compares false with everything, so it needs its own check; inf is allowed
    # (the result is then never ready).
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or value < 0
    ):
        raise ValueError(f"{attr.name} must be a number >= 0, got {value!r}")


def _lag_status(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or value not in RESULT_LAG_STATUSES:
        raise ValueError(f"{attr.name} must be 404 or 409, got {value!r}")


@attrs.frozen(kw_only=True)
class EmulatorConfig:
    """Knobs of one :class:`~tutorflow_async.testing.TutorFlowEmulator`.

    Durations are in seconds. Job durations run on the emulator's job clock (which
    ``TutorFlowEmulator.advance`` can move forward); the rate-limit window always runs on
    real monotonic time, so tests that need rate limiting to be quick shrink
    ``rate_limit_window`` instead (``rateLimitPerMinute`` then means "per window").

    Misbehaviours the vendor's thin docs allow (all off by default, so the emulator
    answers exactly as documented unless asked). They concern expansion jobs; exports are
    already completed when created and stay as documented (``status_case`` excepted).

    ``final_status`` (default ``None``): when set, expansion jobs that would end
    ``completed`` end with this status instead (``"canceled"``, ``"cancelled"``,
    ``"expired"``, ``"partially_completed"`` or any other non-empty string except the
    four documented ones, compared case-insensitively). Such a job reads this status on
    every endpoint (its output rows too), has no ``resourceId``, no manifests, no combined
    manifest and no ``error``, and its webhook delivery is the event ``content.failed``
    (it ended without a result) with the status in ``status``. Jobs drawn to fail still
    fail. ``status_case`` applies to it.

    ``status_case`` (default ``"lower"``): every job and output-row status (create, GET,
    result, export and webhook payloads) is rendered ``"lower"`` (``completed``),
    ``"upper"`` (``COMPLETED``) or ``"title"`` (``Completed``; ``str.title``). Event names,
    key and webhook statuses (``ACTIVE``) are not job statuses and never change.

    ``result_lag_seconds`` (default ``0.0``; ``inf`` means never) and
    ``result_lag_status`` (default ``404``; ``404`` or ``409`` only): for that long after
    an expansion job turned ``completed`` on the job clock, ``GET .../{jobId}/result``
    answers that status with the documented error envelope (``content_not_found`` /
    ``content_conflict``) while ``GET .../{jobId}`` already reads ``completed``. Webhook
    deliveries still go out at completion, so a receiver that fetches the result at once
    meets the lag too. Failed jobs and ``final_status`` jobs have no lag.

    Per-job status overrides are not configuration: see
    ``TutorFlowEmulator.override_status``.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(default=0, validator=v.and_(v.ge(0), v.le(65535)))
    organization_id: str = attrs.field(default="org_demo", validator=v.min_len(1))
    admin_email: str = "admin@example.com"
    # Only a test credential, but kept out of repr like every other secret in the project.
    admin_password: str = attrs.field(default="emulator-password", repr=False)

    queued_seconds: float = attrs.field(default=0.05, validator=_non_negative)
    processing_seconds: float = attrs.field(default=0.2, validator=_non_negative)
    failure_rate: float = attrs.field(default=0.0, validator=unit_interval)
    seed: int = 0

    rate_limit_window: float = attrs.field(default=60.0, validator=_positive)
    default_rate_limit_per_minute: int = attrs.field(default=60, validator=v.ge(1))

    request_log_limit: int = attrs.field(default=10_000, validator=v.ge(0))
    max_body_bytes: int = attrs.field(default=8 * 1024 * 1024, validator=v.ge(1))
    # A short grace period: close() should not hang on a client that keeps a request open.
    shutdown_timeout: float = attrs.field(default=0.5, validator=_non_negative)

    webhook_max_attempts: int = attrs.field(default=5, validator=v.ge(1))
    webhook_retry_delay: float = attrs.field(default=0.1, validator=_non_negative)
    webhook_duplicate_rate: float = attrs.field(default=0.0, validator=unit_interval)
    webhook_timeout: float = attrs.field(default=5.0, validator=_positive)
    tick_interval: float = attrs.field(default=0.02, validator=_positive)
    #: Deliver webhooks to any host. Off by default: only loopback hosts (``127.0.0.0/8``,
    #: ``::1``, ``localhost``) get deliveries; one to any other host is recorded as a
    #: failed delivery (``TutorFlowEmulator.failed_webhook_deliveries``) and never sent,
    #: and its name is never looked up. Turn it on for a harness of your own whose
    #: receiver lives on another address.
    webhook_allow_any_host: bool = attrs.field(default=False, validator=v.instance_of(bool))

    final_status: str | None = attrs.field(default=None, validator=_final_status)
    status_case: StatusCase = attrs.field(default="lower", validator=_status_case)
    result_lag_seconds: float = attrs.field(default=0.0, validator=_lag_seconds)
    result_lag_status: int = attrs.field(default=404, validator=_lag_status)
