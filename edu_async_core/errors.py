"""The error hierarchy both SDKs share.

Every error carries the support hand-off fields -- status, code, message, the request's
method and path, the idempotency key and the credential's key prefix -- and never a secret.
Each SDK subclasses these (``tutorflow_async.errors``, ``nexttech_async.errors``) so a
caller can catch either the SDK's own root or a kind of failure common to both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import attrs

P = ParamSpec("P")
R = TypeVar("R")


@attrs.frozen
class RequestContext:
    """What we know about the request an error belongs to (safe to show: no secrets)."""

    method: str
    path: str
    key_prefix: str | None = None
    idempotency_key: str | None = None


class SDKError(Exception):
    """Root of every error raised by ``tutorflow_async`` and ``nexttech_async``."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        context: RequestContext | None = None,
        body_snippet: str | None = None,
        attempts: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.method = context.method if context else None
        self.path = context.path if context else None
        self.key_prefix = context.key_prefix if context else None
        self.idempotency_key = context.idempotency_key if context else None
        self.body_snippet = body_snippet
        self.attempts = attempts

    def support_fields(self) -> dict[str, Any]:
        """The fields to quote when asking the vendor for help (none of them secret)."""
        fields = {
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "method": self.method,
            "path": self.path,
            "idempotency_key": self.idempotency_key,
            "key_prefix": self.key_prefix,
            "attempts": self.attempts,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def __str__(self) -> str:
        extra = {k: v for k, v in self.support_fields().items() if k != "message"}
        if not extra:
            return self.message
        details = ", ".join(f"{k}={v}" for k, v in extra.items())
        return f"{self.message} ({details})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__str__()!r})"


class InvalidArgumentError(SDKError, ValueError):
    """The caller's input is wrong; raised before any request is sent."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}")
        self.argument = argument
        self.problem = problem


class InsecureTransportError(InvalidArgumentError):
    """Credentials would travel over plain HTTP to a host that is not this machine."""


class SessionClosedError(SDKError, RuntimeError):
    """A session was used after ``close()``."""


class APIError(SDKError):
    """The server answered with a status that is not a success."""


class BadRequestError(APIError):
    """400: the request is malformed; fix it, do not retry."""


class AuthenticationError(APIError):
    """401: the credential is missing, wrong, rotated or revoked."""


class PermissionDeniedError(APIError):
    """403: the credential may not do this."""


class NotFoundError(APIError):
    """404: no such resource (for this credential)."""


class ConflictError(APIError):
    """409: usually an idempotency key reused with a different body."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` says how long the server asked us to wait."""

    retry_after: float | None = None


class ServerError(APIError):
    """5xx: the server failed; retried with backoff before this surfaces."""


class TransportError(SDKError):
    """No usable HTTP response arrived."""


class APIConnectionError(TransportError):
    """The connection failed or was reset."""


class APITimeoutError(TransportError):
    """An attempt took longer than the configured timeout."""


class FleetUnavailableError(APIConnectionError):
    """The fleet's coordinator (Redis) could not be reached, so the request was not sent.

    Raised by a session given a fleet that fails closed (``on_unavailable="fail"``) once
    the coordinator has been unreachable for its ``unavailable_timeout``, and by an event
    bus that cannot publish. Nothing was sent: the call can be repeated as it is. It is an
    :class:`APIConnectionError`, so code that rides out connection failures (a wait's
    polling, say) rides this one out too.
    """


class BadResponseError(SDKError):
    """A response arrived but could not be understood (not JSON, wrong shape, redirect).

    ``transient`` says whether asking again may help: a body garbled in transit may read
    fine next time; a redirect refused (to another host, say) will be refused again.
    """

    transient: bool = True


@attrs.frozen
class ErrorFamily:
    """Which exception classes one SDK raises, so the shared transport raises the SDK's own.

    ``by_code`` wins over ``by_status`` because an API's error code is its stable contract.
    """

    base: type[SDKError]
    by_code: Mapping[str, type[APIError]]
    by_status: Mapping[int, type[APIError]]
    api_default: type[APIError]
    server: type[APIError]
    connection: type[APIConnectionError]
    timeout: type[APITimeoutError]
    bad_response: type[BadResponseError]
    closed: type[SessionClosedError] = SessionClosedError
    invalid_argument: type[InvalidArgumentError] = InvalidArgumentError
    insecure: type[InsecureTransportError] = InsecureTransportError
    fleet_unavailable: type[FleetUnavailableError] = FleetUnavailableError

    def own(self, error: InvalidArgumentError) -> InvalidArgumentError:
        """``error`` as this family's class (a check of the core raised it)."""
        if isinstance(error, self.base):
            return error
        kind = self.insecure if isinstance(error, InsecureTransportError) else self.invalid_argument
        return kind(error.argument, error.problem)

    def checked(self, check: Callable[P, R]) -> Callable[P, R]:
        """``check`` (one of ``edu_async_core.validation``'s), raising this family's
        ``InvalidArgumentError``: every error an SDK raises is of its own root class."""

        @functools.wraps(check)
        def own_errors(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return check(*args, **kwargs)
            except InvalidArgumentError as exc:
                raise self.own(exc) from None

        return own_errors

    def api_error_class(self, status: int, code: str | None) -> type[APIError]:
        if code is not None and code in self.by_code:
            return self.by_code[code]
        if status in self.by_status:
            return self.by_status[status]
        if status >= 500:
            return self.server
        return self.api_default


#: The family used when an SDK does not bring its own (the core classes themselves).
CORE_FAMILY = ErrorFamily(
    base=SDKError,
    by_code={},
    by_status={
        400: BadRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        429: RateLimitError,
    },
    api_default=APIError,
    server=ServerError,
    connection=APIConnectionError,
    timeout=APITimeoutError,
    bad_response=BadResponseError,
)
