"""Faults the emulator can inject in front of (or after) its real handlers."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs
from attrs import validators as v

from edu_async_core.emulation import ArmedFaults, unit_interval

__all__ = ["IN_TRANSIT_KINDS", "Fault", "FaultKind", "FaultPlan"]



class FaultKind(enum.StrEnum):
    """What a :class:`Fault` does; ``Fault(kind=...)`` takes a member or its string."""

    STATUS = "status"
    HTML = "html"
    RESET = "reset"
    DELAY = "delay"
    MALFORMED = "malformed"
    EMPTY = "empty"
    SLOW_BODY = "slow_body"
    TRUNCATED = "truncated"


FAULT_KINDS: tuple[str, ...] = tuple(kind.value for kind in FaultKind)


def _as_kind(value: str) -> FaultKind:
    try:
        return FaultKind(value)
    except ValueError:
        raise ValueError(
            f"kind: unknown fault kind {value!r}; choose one of {list(FAULT_KINDS)}"
        ) from None

#: Kinds that damage the real answer in transit, so the real handler always runs first.
IN_TRANSIT_KINDS: frozenset[str] = frozenset({"slow_body", "truncated"})


# Typed as optional so attrs' plugin sees the field as ``int | None``, not ``int``.
_ONCE: int | None = 1


def _header(
    _inst: object, attr: attrs.Attribute[tuple[str, str] | None], value: tuple[str, str] | None
) -> None:
    if value is None:
        return
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(part, str) for part in value)
        or not value[0]
    ):
        raise ValueError(
            f"{attr.name} must be None or a (name, text) pair of strings with a non-empty "
            f"name, got {value!r}"
        )


def _times(_inst: object, attr: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attr.name} must be >= 1 or None (unlimited), got {value!r}")


@attrs.frozen
class Fault:
    """One injected misbehaviour.

    ``kind``:
      - ``"status"``: answer ``status`` with the matching JSON error body (and
        ``Retry-After: retry_after`` when set);
      - ``"html"``: a proxy's 502 page in ``text/html``;
      - ``"reset"``: drop the TCP connection without any HTTP response;
      - ``"delay"``: wait ``delay`` seconds, then answer normally;
      - ``"malformed"``: 200 ``application/json`` with truncated JSON;
      - ``"empty"``: 200 with an empty body;
      - ``"slow_body"``: the real answer's status and headers at once, then its body
        trickled out over ``delay`` seconds (so a client's read timeout fires mid-body);
      - ``"truncated"``: the real answer's status and headers with a ``Content-Length``
        larger than the body, half of the body, then the connection closes.

    ``retry_after`` (for ``"status"``) is seconds, or a string sent as is (an HTTP date
    such as ``"Wed, 21 Oct 2015 07:28:00 GMT"``).

    ``method`` and ``path`` select requests (``None`` matches any); ``path`` is compared
    with the route template (``/v1/content/integrations/expansions/{jobId}``), the raw path
    and the decoded path. ``times`` bounds how many requests the fault hits (``None``: no
    bound); ``probability`` makes it hit only some of the matching requests. ``header``,
    a ``(name, text)`` pair, selects only requests whose header ``name`` (any case) holds
    ``text`` (case-sensitive substring), so a fault can aim at one client of many by its
    ``User-Agent``: ``Fault(kind="status", status=429, header=("User-Agent", "worker/2"))``.
    With ``after_commit`` the real handler runs first, so its state changes stick, and only
    its response is replaced: "the server created the job, then the connection died". The
    in-transit kinds (``"slow_body"``, ``"truncated"``) always run the handler first: what
    they damage is its answer.

    Two misbehaviours the vendor's pages leave open are plain faults:

    - a poll that hangs: a ``"delay"`` longer than any client timeout, on every status
      poll; :meth:`TutorFlowEmulator.close` still returns promptly (a pending delay is cut
      short and its connection reset, then the server gets ``shutdown_timeout``)::

          Fault(kind="delay", delay=86400, method="GET",
                path="/v1/content/integrations/expansions/{jobId}", times=None)

    - a huge ``Retry-After`` (the docs say nothing about the header): a 429 asking the
      client to come back in a day, which a client must cap by its own deadline::

          Fault(kind="status", status=429, retry_after=86400)
    """

    kind: FaultKind = attrs.field(converter=_as_kind)
    method: str | None = None
    path: str | None = None
    times: int | None = attrs.field(default=_ONCE, validator=_times)
    probability: float = attrs.field(default=1.0, validator=unit_interval)
    status: int = attrs.field(default=500, validator=[v.ge(100), v.le(599)])
    retry_after: float | str | None = None
    delay: float = attrs.field(default=0.0, validator=v.ge(0.0))
    after_commit: bool = False
    header: tuple[str, str] | None = attrs.field(default=None, validator=_header)

    def matches(
        self, method: str, paths: tuple[str, ...], headers: Mapping[str, str] | None = None
    ) -> bool:
        """Whether this fault selects a request with this method, any of these paths and
        these headers (``headers`` absent: a fault with a ``header`` selects nothing)."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is not None and self.path not in paths:
            return False
        if self.header is None:
            return True
        name, text = self.header
        wanted = name.lower()
        return any(
            key.lower() == wanted and text in value for key, value in (headers or {}).items()
        )


class FaultPlan(ArmedFaults[Fault]):
    """The ordered faults of one emulator and how many hits each has left."""

    def pick(
        self, method: str, paths: tuple[str, ...], headers: Mapping[str, str] | None = None
    ) -> Fault | None:
        """The first matching fault that fires for this request, consuming one of its hits.

        At most one fault applies per request; a fault that does not fire (probability)
        lets the next matching one have its chance.
        """
        return self.take(lambda fault: fault.matches(method, paths, headers))
