"""Every default of the TutorFlow SDK that is TutorFlow's alone.

What both SDKs share (timeouts, retries, the rate-limit window, redaction) stays in
``edu_async_core.defaults``; the sessions, waits, bulk runs, webhook receiver and the
``tutorflow-async`` command read the rest from here.
"""

from __future__ import annotations

from typing import Final

from edu_async_core.version import user_agent

# TutorFlow
TUTORFLOW_BASE_URL: Final = "https://api.tutorflow.io"
#: ``User-Agent`` of this SDK's sessions (a ``TransportConfig(user_agent=...)`` wins).
TUTORFLOW_USER_AGENT: Final = user_agent("tutorflow-async")
TUTORFLOW_ENV_API_KEY: Final = "TUTORFLOW_CONTENT_API_KEY"
TUTORFLOW_ENV_BASE_URL: Final = "TUTORFLOW_API_BASE_URL"
TUTORFLOW_ENV_ORGANIZATION_ID: Final = "TUTORFLOW_ORGANIZATION_ID"
TUTORFLOW_ENV_CLASSROOM_ID: Final = "TUTORFLOW_CLASSROOM_ID"
TUTORFLOW_ADMIN_COOKIE: Final = "jwt"
TUTORFLOW_LOGIN_TIMEZONE: Final = "UTC"

#: Outputs asked for when the caller names none (the API's documented first priority).
TUTORFLOW_DEFAULT_OUTPUTS: Final = ("interactive_module",)
TUTORFLOW_DEFAULT_SOURCE_TYPE: Final = "source_json"
#: Prefix of idempotency keys the SDK derives from a request's content.
TUTORFLOW_DERIVED_KEY_PREFIX: Final = "tfa-"
#: Longest idempotency key we accept from a caller (it travels in a header).
IDEMPOTENCY_KEY_MAX_LENGTH: Final = 255

# Waiting for expansions
#: Seconds a wait_for_expansion may take before ExpansionTimeoutError.
WAIT_TIMEOUT: Final = 900.0
#: Job statuses that plainly say a job is over without a result (compared case-insensitively):
#: a wait that sees one ends at once with ``ExpansionEnded``. The vendor documents none of
#: them; ``ContentSession(ended_statuses=...)`` replaces the set.
TUTORFLOW_ENDED_STATUSES: Final = (
    "canceled",
    "cancelled",
    "expired",
    "aborted",
    "rejected",
    "timed_out",
    "deleted",
)
#: A job reported ``completed`` (by a poll or a webhook) whose result answers 404 or 409 is
#: asked again, backing off, for this many seconds (within the wait's own deadline).
RESULT_GRACE: Final = 30.0
#: First and longest pause between those result requests.
RESULT_RETRY_INTERVAL: Final = 0.5
RESULT_RETRY_MAX_INTERVAL: Final = 5.0
#: First interval between polls of one job, in seconds.
POLL_INTERVAL: Final = 2.0
#: Largest interval between polls of one job, in seconds.
POLL_MAX_INTERVAL: Final = 30.0
#: Growth of the poll interval after each poll that found the job unfinished.
POLL_BACKOFF: Final = 1.5
#: Share of an interval added or removed at random, so many waits spread out.
POLL_JITTER: Final = 0.2
#: Polls of one session in flight at once (the key's limiter still paces them).
POLL_CONCURRENCY: Final = 64
#: Jobs whose last status a poller remembers after their waits ended (for timeouts).
POLL_STATUS_MEMORY: Final = 10_000
#: With a webhook receiver attached, seconds before the first fallback poll of a job.
WEBHOOK_FALLBACK_INTERVAL: Final = 60.0

# Bulk runs
#: Inputs of expand_many in progress (created and being waited for) at once.
BULK_CONCURRENCY: Final = 100

# Webhook receiver (tutorflow_async.webhooks)
#: Header carrying the hex HMAC-SHA256 of the raw body (doc).
WEBHOOK_SIGNATURE_HEADER: Final = "X-Content-Integration-Signature"
#: Header naming the event (doc); the signed body's ``event`` wins when both are present.
WEBHOOK_EVENT_HEADER: Final = "X-Content-Integration-Event"
#: Largest delivery body accepted, in bytes; larger ones are refused (413) before hashing.
WEBHOOK_MAX_BODY_BYTES: Final = 1024 * 1024
#: Delivery keys (job id, event, status) remembered to drop repeated deliveries.
WEBHOOK_DEDUPE_SIZE: Final = 10_000
#: Terminal events remembered per job, so a subscribe() after the event resolves at once.
WEBHOOK_RECENT_EVENTS: Final = 10_000
#: Events held for ``receiver.events()``; when full the oldest is dropped (and counted).
WEBHOOK_QUEUE_SIZE: Final = 10_000
#: Path the receiver's own aiohttp app serves.
WEBHOOK_PATH: Final = "/webhooks"
#: Seconds close() lets running on_event callbacks finish before cancelling them.
WEBHOOK_CALLBACK_GRACE: Final = 5.0
#: Seconds the served site waits for open connections when it stops.
WEBHOOK_SHUTDOWN_TIMEOUT: Final = 1.0
#: Seconds the whole request body may take to arrive once the headers are in; past it
#: the delivery is answered 408 (a body trickled byte by byte no longer holds a handler).
WEBHOOK_READ_TIMEOUT: Final = 10.0
#: ``on_event`` callbacks running at once; a new event past it is answered 503.
WEBHOOK_MAX_PENDING_CALLBACKS: Final = 100
#: ``Retry-After`` seconds on a 503 answered because the callbacks are at their limit.
WEBHOOK_BUSY_RETRY_AFTER: Final = 1

# Command-line tool (tutorflow-async)
#: Admin credentials the CLI reads when no option gives them (our names; the vendor's
#: guides name none). A JWT wins over email + password.
TUTORFLOW_ENV_ADMIN_JWT: Final = "TUTORFLOW_ADMIN_JWT"
TUTORFLOW_ENV_ADMIN_EMAIL: Final = "TUTORFLOW_ADMIN_EMAIL"
TUTORFLOW_ENV_ADMIN_PASSWORD: Final = "TUTORFLOW_ADMIN_PASSWORD"  # noqa: S105 (a variable name)
#: Signing secret ``webhooks listen`` reads when ``--secret-file`` is not given.
TUTORFLOW_ENV_WEBHOOK_SECRET: Final = "TUTORFLOW_WEBHOOK_SECRET"  # noqa: S105 (a variable name)
#: Rate limit of the ready key the emulator command prints, per minute.
CLI_EMULATOR_KEY_RATE: Final = 600
