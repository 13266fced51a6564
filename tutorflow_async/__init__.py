"""asyncio SDK for the TutorFlow Content Integration API.

``ContentSession`` (Content API key) creates expansion jobs and reads their status and
results; ``AdminSession`` (admin login) manages keys, webhooks and UI-authored exports.
"""

from edu_async_core.redaction import Secret
from edu_async_core.retry import RetryPolicy
from edu_async_core.transport import TransportConfig
from edu_async_core.version import distribution_version

from .admin import AdminSession
from .admin_resources import ApiKeys, Exports, Webhooks
from .bulk import BulkProgress, ExpansionOutcome, ExpansionRequest, OutcomeStatus
from .content import ContentSession
from .errors import (
    APIConnectionError,
    APITimeoutError,
    BadResponseError,
    ConflictError,
    ExpansionEnded,
    ExpansionFailed,
    ExpansionTimeoutError,
    FleetUnavailableError,
    ForbiddenError,
    InsecureTransportError,
    InternalServerError,
    InvalidApiKeyError,
    InvalidArgumentError,
    InvalidRequestError,
    NotFoundError,
    RateLimitExceededError,
    SessionClosedError,
    TutorFlowAPIError,
    TutorFlowError,
)
from .expansions import Expansions
from .journal import Journal
from .models import (
    ApiKey,
    CreatedApiKey,
    CreatedWebhook,
    ErrorDetail,
    ExpansionJob,
    ExpansionOutput,
    ExpansionResult,
    JobStatus,
    Manifest,
    OutputType,
    SourceType,
    Webhook,
    WebhookEvent,
)
from .waiting import ExpansionPoller, ExpansionWaiter
from .webhooks import (
    FleetWebhookEvents,
    WebhookCounters,
    WebhookDelivery,
    WebhookPayloadError,
    WebhookReceiver,
    WebhookVerdict,
    verify_signature,
)

#: The distribution's version, from its metadata (pyproject.toml is the one place it is written).
__version__ = distribution_version()

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AdminSession",
    "ApiKey",
    "ApiKeys",
    "BadResponseError",
    "BulkProgress",
    "ConflictError",
    "ContentSession",
    "CreatedApiKey",
    "CreatedWebhook",
    "ErrorDetail",
    "ExpansionEnded",
    "ExpansionFailed",
    "ExpansionJob",
    "ExpansionOutcome",
    "ExpansionOutput",
    "ExpansionPoller",
    "ExpansionRequest",
    "ExpansionResult",
    "ExpansionTimeoutError",
    "ExpansionWaiter",
    "Expansions",
    "Exports",
    "FleetUnavailableError",
    "FleetWebhookEvents",
    "ForbiddenError",
    "InsecureTransportError",
    "InternalServerError",
    "InvalidApiKeyError",
    "InvalidArgumentError",
    "InvalidRequestError",
    "JobStatus",
    "Journal",
    "Manifest",
    "NotFoundError",
    "OutcomeStatus",
    "OutputType",
    "RateLimitExceededError",
    "RetryPolicy",
    "Secret",
    "SessionClosedError",
    "SourceType",
    "TransportConfig",
    "TutorFlowAPIError",
    "TutorFlowError",
    "Webhook",
    "WebhookCounters",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WebhookVerdict",
    "Webhooks",
    "verify_signature",
    "webhooks",
]
