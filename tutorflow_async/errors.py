"""Errors of the TutorFlow SDK, one class per documented ``error.code``.

Each class is also the shared core's class for the same kind of failure, so both
``except edu_async_core.errors.RateLimitError`` and
``except tutorflow_async.RateLimitExceededError`` catch a TutorFlow 429.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edu_async_core import errors as core
from edu_async_core.errors import ErrorFamily

if TYPE_CHECKING:
    from .models import ErrorDetail, ExpansionJob, ExpansionResult


class TutorFlowError(core.SDKError):
    """Root of every error this SDK raises for a request."""


class TutorFlowAPIError(TutorFlowError, core.APIError):
    """TutorFlow answered with an error status not covered by a more specific class."""


class InvalidRequestError(TutorFlowAPIError, core.BadRequestError):
    """400 ``content_invalid_request``: fix the payload; never retried."""


class InvalidApiKeyError(TutorFlowAPIError, core.AuthenticationError):
    """401 ``content_invalid_api_key``: replace the key (revoked, rotated or wrong)."""


class ForbiddenError(TutorFlowAPIError, core.PermissionDeniedError):
    """403 ``content_forbidden``: e.g. a content key used on an admin endpoint."""


class NotFoundError(TutorFlowAPIError, core.NotFoundError):
    """404 ``content_not_found``."""


class ConflictError(TutorFlowAPIError, core.ConflictError):
    """409 ``content_conflict``: an idempotency key reused with a different request."""


class RateLimitExceededError(TutorFlowAPIError, core.RateLimitError):
    """429 ``content_rate_limit_exceeded``, still there after the retries allowed."""


class InternalServerError(TutorFlowAPIError, core.ServerError):
    """500 ``content_internal_error`` or any other 5xx, after retries."""


class APIConnectionError(TutorFlowError, core.APIConnectionError):
    """The connection to TutorFlow failed or was reset, after retries."""


class FleetUnavailableError(APIConnectionError, core.FleetUnavailableError):
    """The fleet's coordinator (Redis) was unreachable, so the request was not sent to
    TutorFlow (see :class:`edu_async_core.errors.FleetUnavailableError`)."""


class APITimeoutError(TutorFlowError, core.APITimeoutError):
    """TutorFlow did not answer in time, after retries."""


class BadResponseError(TutorFlowError, core.BadResponseError):
    """TutorFlow's answer could not be read (not JSON, unexpected shape, redirect)."""


class InvalidArgumentError(TutorFlowError, core.InvalidArgumentError):
    """The caller's input is wrong (``argument`` names it); raised before any request."""


class InsecureTransportError(InvalidArgumentError, core.InsecureTransportError):
    """Credentials would travel over plain HTTP to a host that is not this machine."""


class SessionClosedError(TutorFlowError, core.SessionClosedError):
    """The session was closed (by you, or the aiohttp session lent to it by its owner)."""


class ExpansionFailed(TutorFlowError):
    """The job ended ``failed``. ``error`` is the job's error, ``output_errors`` those of
    its outputs, and ``result`` the whole result answer they were read from."""

    def __init__(
        self,
        job_id: str,
        result: ExpansionResult | None,
        job_error: ErrorDetail | None,
        output_errors: tuple[ErrorDetail, ...],
    ) -> None:
        code = job_error.code if job_error is not None else None
        message = (job_error.message if job_error is not None else None) or "the job failed"
        super().__init__(f"job {job_id} failed: {message}", code=code)
        self.job_id = job_id
        self.result = result
        self.error = job_error
        self.output_errors = output_errors

    def support_fields(self) -> dict[str, object]:
        """The base error's support fields, with the ``job_id`` first."""
        return {"job_id": self.job_id, **super().support_fields()}


class ExpansionEnded(ExpansionFailed):
    """The job ended without a result, with a status the vendor does not document but that
    says so plainly (``canceled``, ``expired``, ...). ``job_status`` is exactly what the
    server sent; ``job`` the answer it came in. A kind of :class:`ExpansionFailed`, whose
    ``result`` and errors stay ``None`` and empty (no result was fetched)."""

    def __init__(self, job_id: str, status: str, job: ExpansionJob | None = None) -> None:
        super().__init__(job_id, None, None, ())
        self.args = (f"job {job_id} ended without a result: status {status!r}",)
        self.job_status = status
        self.job = job

    def support_fields(self) -> dict[str, object]:
        """:class:`ExpansionFailed`'s support fields, with the status the job ended in."""
        return {"job_status": self.job_status, **super().support_fields()}


class ExpansionTimeoutError(TutorFlowError, TimeoutError):
    """A wait passed its deadline before the job finished; the job itself goes on.

    ``last_status`` is the status exactly as the server last sent it (``None`` if no poll
    was answered with one). ``last_error`` is the last failure of the wait's polls, typed
    (a connection error, a garbled answer, ...), if the last poll failed: a wait that timed
    out against an unreachable or misbehaving server says so.
    """

    def __init__(
        self,
        job_id: str,
        last_status: str | None,
        waited: float,
        last_error: BaseException | None = None,
    ) -> None:
        because = f"; last error: {type(last_error).__name__}: {last_error}" if last_error else ""
        super().__init__(
            f"job {job_id} did not finish within {waited:.1f}s "
            f"(last status: {last_status!r}{because})"
        )
        self.job_id = job_id
        self.last_status = last_status
        self.waited = waited
        self.last_error = last_error

    def support_fields(self) -> dict[str, object]:
        """The job id, its last status and, if the last poll failed, that error's type.

        Then the base error's fields. Of the last error only the class name is given
        (``"APIConnectionError"``, ...); raise ``last_error`` itself for its details.
        """
        fields: dict[str, object] = {"job_id": self.job_id, "last_status": self.last_status}
        if self.last_error is not None:
            fields["last_error"] = type(self.last_error).__name__
        return {**fields, **super().support_fields()}


FAMILY = ErrorFamily(
    base=TutorFlowError,
    by_code={
        "content_invalid_request": InvalidRequestError,
        "content_invalid_api_key": InvalidApiKeyError,
        "content_forbidden": ForbiddenError,
        "content_not_found": NotFoundError,
        "content_conflict": ConflictError,
        "content_rate_limit_exceeded": RateLimitExceededError,
        "content_internal_error": InternalServerError,
    },
    by_status={
        400: InvalidRequestError,
        401: InvalidApiKeyError,
        403: ForbiddenError,
        404: NotFoundError,
        409: ConflictError,
        429: RateLimitExceededError,
    },
    api_default=TutorFlowAPIError,
    server=InternalServerError,
    connection=APIConnectionError,
    timeout=APITimeoutError,
    bad_response=BadResponseError,
    closed=SessionClosedError,
    invalid_argument=InvalidArgumentError,
    insecure=InsecureTransportError,
    fleet_unavailable=FleetUnavailableError,
)

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "BadResponseError",
    "ConflictError",
    "ExpansionEnded",
    "ExpansionFailed",
    "ExpansionTimeoutError",
    "FleetUnavailableError",
    "ForbiddenError",
    "InsecureTransportError",
    "InternalServerError",
    "InvalidApiKeyError",
    "InvalidArgumentError",
    "InvalidRequestError",
    "NotFoundError",
    "RateLimitExceededError",
    "SessionClosedError",
    "TutorFlowAPIError",
    "TutorFlowError",
]
