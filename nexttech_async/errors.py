"""Errors of the Next Tech SDK.

Next Tech documents no error body or codes, so API errors are keyed by HTTP status. Each
class is also the shared core's class for the same failure (``edu_async_core.errors``).
"""

from __future__ import annotations

from edu_async_core import errors as core
from edu_async_core.errors import ErrorFamily

from .instants import iso_from_ms


class NextTechError(core.SDKError):
    """Root of every error this SDK raises."""


class NextTechAPIError(NextTechError, core.APIError):
    """Next Tech answered with an error status not covered by a more specific class."""


class BadRequestError(NextTechAPIError, core.BadRequestError):
    """400: a filter or bound the server did not accept."""


class AuthenticationError(NextTechAPIError, core.AuthenticationError):
    """401: the API token or secret key is wrong."""


class PermissionDeniedError(NextTechAPIError, core.PermissionDeniedError):
    """403."""


class NotFoundError(NextTechAPIError, core.NotFoundError):
    """404."""


class RateLimitError(NextTechAPIError, core.RateLimitError):
    """429, still there after the retries allowed."""


class ServerError(NextTechAPIError, core.ServerError):
    """5xx, after retries."""


class APIConnectionError(NextTechError, core.APIConnectionError):
    """The connection to Next Tech failed or was reset, after retries."""


class FleetUnavailableError(APIConnectionError, core.FleetUnavailableError):
    """The fleet's coordinator (Redis) was unreachable, so the request was not sent to
    Next Tech (see :class:`edu_async_core.errors.FleetUnavailableError`)."""


class APITimeoutError(NextTechError, core.APITimeoutError):
    """Next Tech did not answer in time, after retries."""


class BadResponseError(NextTechError, core.BadResponseError):
    """Next Tech's answer could not be read (not JSON, not a list, an item without a date)."""


class InvalidArgumentError(NextTechError, core.InvalidArgumentError):
    """The caller's input is wrong (``argument`` names it); raised before any request."""


class InsecureTransportError(InvalidArgumentError, core.InsecureTransportError):
    """Credentials would travel over plain HTTP to a host that is not this machine."""


class SessionClosedError(NextTechError, core.SessionClosedError):
    """The session was closed (by you, or the aiohttp session lent to it by its owner)."""


class CursorError(NextTechError):
    """A walk cannot go on without risking a skipped or repeated item."""


class TieOverflowError(CursorError):
    """More items share one instant than one page can show, so they cannot be separated.

    ``instant`` is the ISO 8601 instant (``instant_ms`` in epoch milliseconds),
    ``reached`` the number of distinct items the walk could see there, and ``page_size``
    the largest page seen.
    """

    def __init__(self, instant_ms: int, reached: int, page_size: int) -> None:
        self.instant_ms = instant_ms
        self.instant = iso_from_ms(instant_ms)
        self.reached = reached
        self.page_size = page_size
        super().__init__(
            f"{reached} items share {self.instant} (the server's finest time) and a page "
            f"holds {page_size}: the walk cannot tell whether more exist there, so it "
            "stops rather than skip any. Narrow the filters so fewer items share it."
        )


class CursorStalledError(CursorError):
    """The server answered in a way that made the cursor stop moving (it ignored a bound)."""


FAMILY = ErrorFamily(
    base=NextTechError,
    by_code={},
    by_status={
        400: BadRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        429: RateLimitError,
    },
    api_default=NextTechAPIError,
    server=ServerError,
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
    "AuthenticationError",
    "BadRequestError",
    "BadResponseError",
    "CursorError",
    "CursorStalledError",
    "FleetUnavailableError",
    "InsecureTransportError",
    "InvalidArgumentError",
    "NextTechAPIError",
    "NextTechError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "SessionClosedError",
    "TieOverflowError",
]
