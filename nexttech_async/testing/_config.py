"""Settings of the Next Tech emulator, with every default in one place."""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["NextTechEmulatorConfig", "TimeResolution"]

TimeResolution = Literal["millisecond", "second"]


def _check_resolution(_instance: object, _attribute: object, value: str) -> None:
    if value not in ("millisecond", "second"):
        raise ValueError(f"time_resolution must be 'millisecond' or 'second', got {value!r}")


def _check_token(_instance: object, _attribute: object, value: str | None) -> None:
    # Basic auth splits "<token>:<secret>" at the first colon, so a colon in the token
    # would make the credentials impossible to send.
    if value is not None and (not value or ":" in value):
        raise ValueError("api_token must be non-empty and must not contain ':'")


def _check_secret(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and not value:
        raise ValueError("secret_key must be non-empty")


@attrs.frozen
class NextTechEmulatorConfig:
    """How a :class:`NextTechEmulator` behaves when it starts.

    Page size, bound inclusivity and latency can also be changed on a running emulator;
    this object is only the starting point and is never mutated.

    Attributes:
        host: interface to listen on; loopback only by design.
        port: TCP port; 0 lets the OS choose (read it back from ``base_url``).
        page_size: how many items a list request returns at most.  The real value is
            undocumented, so tests should try several, including 1.
        before_inclusive: whether ``before=T`` also returns items created exactly at T.
        after_inclusive: whether ``after=T`` also returns items created exactly at T.
        time_resolution: ``"millisecond"`` keeps created times to the millisecond;
            ``"second"`` truncates them to whole seconds, so the bounds then only ever
            meet items on a second boundary.
        latency: seconds every ``/v1`` response waits before it is answered.
        seed: seeds identifiers, URLs and probabilistic faults, so runs repeat.
        request_log_limit: how many requests ``request_log`` keeps (oldest dropped first).
        api_token: the accepted API token; ``None`` draws a random one at construction of
            the emulator.
        secret_key: the accepted secret key; ``None`` draws a random one likewise.
        shutdown_timeout: seconds ``close()`` waits for requests still being answered
            (for example one held by a ``delay`` fault) before cancelling them.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(
        default=0, validator=[attrs.validators.ge(0), attrs.validators.le(65535)]
    )
    page_size: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    before_inclusive: bool = False
    after_inclusive: bool = False
    time_resolution: TimeResolution = attrs.field(
        default="millisecond", validator=_check_resolution
    )
    latency: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))
    seed: int = 0
    request_log_limit: int = attrs.field(default=10_000, validator=attrs.validators.ge(0))
    api_token: str | None = attrs.field(default=None, validator=_check_token)
    secret_key: str | None = attrs.field(default=None, validator=_check_secret, repr=False)
    shutdown_timeout: float = attrs.field(default=0.5, validator=attrs.validators.ge(0.0))
