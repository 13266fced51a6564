"""asyncio SDK for the Next Tech API: contents and grades, walked by date cursor.

``NextTechSession(api_token, secret_key)`` gives ``contents`` and ``grades``:
``list()`` for one page, ``iterate()`` for a whole range, newest first, each item once,
resumable from ``walk.resume_token``.
"""

from edu_async_core.redaction import Secret
from edu_async_core.retry import RetryPolicy
from edu_async_core.transport import TransportConfig
from edu_async_core.version import distribution_version

from .cursor import CursorState
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BadResponseError,
    CursorError,
    CursorStalledError,
    FleetUnavailableError,
    InsecureTransportError,
    InvalidArgumentError,
    NextTechAPIError,
    NextTechError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SessionClosedError,
    TieOverflowError,
)
from .listing import Listing
from .models import Content, Grade, MetadataEntry
from .session import NextTechSession
from .shards import ShardedWalk
from .walk import AsyncWalk, Walk

#: The distribution's version, from its metadata (pyproject.toml is the one place it is written).
__version__ = distribution_version()

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AsyncWalk",
    "AuthenticationError",
    "BadRequestError",
    "BadResponseError",
    "Content",
    "CursorError",
    "CursorStalledError",
    "CursorState",
    "FleetUnavailableError",
    "Grade",
    "InsecureTransportError",
    "InvalidArgumentError",
    "Listing",
    "MetadataEntry",
    "NextTechAPIError",
    "NextTechError",
    "NextTechSession",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "Secret",
    "ServerError",
    "SessionClosedError",
    "ShardedWalk",
    "TieOverflowError",
    "TransportConfig",
    "Walk",
]
