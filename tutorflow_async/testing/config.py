"""Every default of the TutorFlow emulator, in one frozen object."""

from __future__ import annotations

import attrs
from attrs import validators as v

from edu_async_core.emulation import unit_interval

__all__ = ["EmulatorConfig"]


def _non_negative(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attr.name} must be >= 0, got {value!r}")


def _positive(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attr.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class EmulatorConfig:
    """Knobs of one :class:`~tutorflow_async.testing.TutorFlowEmulator`.

    Durations are in seconds. Job durations run on the emulator's job clock (which
    ``TutorFlowEmulator.advance`` can move forward); the rate-limit window always runs on
    real monotonic time, so tests that need rate limiting to be quick shrink
    ``rate_limit_window`` instead (``rateLimitPerMinute`` then means "per window").
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
