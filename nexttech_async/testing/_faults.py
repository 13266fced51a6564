"""Injected failures: what a test can ask the emulator to do instead of answering.

A :class:`Fault` is a frozen description; :class:`FaultPlan` owns the mutable part (how many
times each fault may still fire) and decides, per request, which fault fires.  Faults are
tried in the order they were added and at most one fires per request.
"""

from __future__ import annotations

import enum

import attrs

from edu_async_core.emulation import ArmedFaults, retry_after_value

__all__ = ["IN_TRANSIT_KINDS", "Fault", "FaultKind", "FaultPlan"]



class FaultKind(enum.StrEnum):
    """What a :class:`Fault` does; ``Fault(kind=...)`` takes a member or its string."""

    STATUS = "status"
    RESET = "reset"
    DELAY = "delay"
    MALFORMED = "malformed"
    HTML = "html"
    SLOW_BODY = "slow_body"
    TRUNCATED = "truncated"


_KINDS: frozenset[str] = frozenset(kind.value for kind in FaultKind)
#: Kinds that damage the real answer in transit: the request is answered first.
IN_TRANSIT_KINDS: frozenset[str] = frozenset({"slow_body", "truncated"})


def _as_kind(value: str) -> FaultKind:
    try:
        return FaultKind(value)
    except ValueError:
        raise ValueError(
            f"unknown fault kind {value!r}; choose one of {sorted(_KINDS)}"
        ) from None


def _check_times(_instance: object, _attribute: object, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError("times must be at least 1, or None for unlimited")


@attrs.frozen
class Fault:
    """One kind of failure, injected into matching ``/v1`` requests.

    Attributes:
        kind: ``"status"`` answers ``status`` (default 500) with a JSON ``{"detail": ...}``;
            ``"reset"`` aborts the TCP connection without any response; ``"delay"`` sleeps
            ``delay`` seconds and then answers normally; ``"malformed"`` answers 200
            ``application/json`` with a truncated body; ``"html"`` answers ``status``
            (default 502) with a ``text/html`` page, as a proxy in front of the API would;
            ``"slow_body"`` sends the real answer's status and headers at once and trickles
            its body out over ``delay`` seconds (a client's read timeout fires mid-body);
            ``"truncated"`` sends the real answer with a ``Content-Length`` larger than
            its body, half of the body, then closes the connection.
        path: only requests for this path; ``None`` matches every ``/v1`` path.  Given
            with or without the ``/v1`` prefix (``"/contents"`` or ``"/v1/contents"``).
        times: how many matching requests it affects; ``None`` means without limit.
        probability: chance that an otherwise matching request is affected, drawn from the
            emulator's seeded generator so runs repeat.
        status: HTTP status for ``"status"`` and ``"html"``; ``None`` picks their default.
        retry_after: ``Retry-After`` header value (seconds, or an HTTP date string) for
            ``"status"`` and ``"html"`` answers; ``None`` sends no header.
        delay: seconds to sleep, for ``"delay"``; the body's trickle, for ``"slow_body"``.
    """

    kind: FaultKind = attrs.field(converter=_as_kind)
    path: str | None = None
    times: int | None = attrs.field(default=1, validator=_check_times)
    probability: float = attrs.field(
        default=1.0, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    status: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional([attrs.validators.ge(100), attrs.validators.le(599)]),
    )
    retry_after: float | str | None = None
    delay: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))

    def resolved_status(self) -> int:
        """The status this fault answers with (``"html"`` defaults to 502, else 500)."""
        if self.status is not None:
            return self.status
        return 502 if self.kind == "html" else 500

    def retry_after_header(self) -> str | None:
        """``retry_after`` rendered as a header value (whole numbers without ``.0``)."""
        value = self.retry_after
        if value is None or isinstance(value, str):
            return value
        return retry_after_value(value)

    def applies_to(self, path: str) -> bool:
        """Whether this fault targets ``path`` (a request path under ``/v1``)."""
        if self.path is None:
            return True
        return path in (self.path, "/v1" + self.path)


class FaultPlan(ArmedFaults[Fault]):
    """The faults still armed on one emulator."""

    def __init__(self, seed: int) -> None:
        super().__init__(f"nexttech-emulator-faults:{seed}")

    def draw(self, path: str) -> Fault | None:
        """Pick the fault (if any) for a request to ``path`` and use up one of its times."""
        return self.take(lambda fault: fault.applies_to(path))
