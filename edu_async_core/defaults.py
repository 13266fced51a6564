"""Every default of both SDKs, in one place.

Sessions, the transport, the limiter and the retry policy read their defaults from here
so that a reader can see (and a user can override) the whole behaviour at once.
"""

from __future__ import annotations

from typing import Final

#: Seconds one HTTP attempt may take, from sending to the last byte of the body.
REQUEST_TIMEOUT: Final = 30.0
#: Seconds to establish a TCP/TLS connection, part of REQUEST_TIMEOUT.
CONNECT_TIMEOUT: Final = 10.0
#: Attempts per call, the first one included.
MAX_ATTEMPTS: Final = 6
#: Seconds after the first attempt during which retries may still be scheduled.
RETRY_DEADLINE: Final = 120.0
#: First backoff ceiling in seconds; the ceiling doubles per retry (full jitter below it).
BACKOFF_BASE: Final = 0.5
#: Largest backoff ceiling in seconds.
BACKOFF_MAX: Final = 30.0
#: Longest ``Retry-After`` we agree to honour; a larger one ends the call with the error.
MAX_RETRY_AFTER: Final = 300.0

#: Retry budget shared by every task using one credential: tokens in a full bucket.
RETRY_BUDGET_CAPACITY: Final = 500
#: Tokens a retry after an error status costs.
RETRY_COST: Final = 5
#: Tokens a retry after a timeout or a connection error costs (they hint at a real outage).
RETRY_COST_TIMEOUT: Final = 10
#: Tokens a first-attempt success gives back.
RETRY_REFUND_ON_SUCCESS: Final = 1

#: Requests per rate-limit window when the caller does not say (TutorFlow's documented example).
RATE_LIMIT_PER_MINUTE: Final = 60
#: Length of the server's sliding window in seconds.
RATE_LIMIT_WINDOW: Final = 60.0
#: Extra seconds we keep between a grant and the one ``limit`` grants later, so that
#: network jitter cannot make the server see more than ``limit`` requests in its window.
RATE_LIMIT_MARGIN: Final = 0.25

#: Bytes of a non-JSON error body kept in an exception (the rest is dropped).
ERROR_SNIPPET_CHARS: Final = 200
#: Same-origin redirects followed before giving up.
MAX_REDIRECTS: Final = 3
#: Characters of a secret shown after its recognised prefix (``tf_content_`` + this many).
SECRET_VISIBLE_CHARS: Final = 4
#: Type prefixes shown whole in a secret's printable prefix (vendor keys, webhook signing
#: secrets). Only these: a random part can look like ``word_`` too, and guessing would
#: print it.
SECRET_TYPE_PREFIXES: Final = ("tf_content_", "whsec_")

USER_AGENT: Final = "tutorflow-async/0.1 (+aiohttp)"

# TutorFlow
TUTORFLOW_BASE_URL: Final = "https://api.tutorflow.io"
TUTORFLOW_ENV_API_KEY: Final = "TUTORFLOW_CONTENT_API_KEY"
TUTORFLOW_ENV_BASE_URL: Final = "TUTORFLOW_API_BASE_URL"
TUTORFLOW_ENV_ORGANIZATION_ID: Final = "TUTORFLOW_ORGANIZATION_ID"
TUTORFLOW_ENV_CLASSROOM_ID: Final = "TUTORFLOW_CLASSROOM_ID"
TUTORFLOW_ADMIN_COOKIE: Final = "jwt"
TUTORFLOW_LOGIN_TIMEZONE: Final = "UTC"

# Next Tech
NEXTTECH_BASE_URL: Final = "https://api.next.tech/v1"
NEXTTECH_ENV_API_TOKEN: Final = "NEXTTECH_API_TOKEN"  # noqa: S105 (a variable name)
NEXTTECH_ENV_SECRET_KEY: Final = "NEXTTECH_SECRET_KEY"  # noqa: S105 (a variable name)
NEXTTECH_ENV_BASE_URL: Final = "NEXTTECH_API_BASE_URL"

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

# Sharded walks (nexttech_async.shards)
#: Items one window of a sharded walk may hold ahead of the consumer (bounds memory).
SHARD_BUFFER: Final = 2_000
#: Items a window is cut to hold, by estimate: half a buffer, so that an estimate off by
#: two still does not stall a shard.
SHARD_ITEMS_PER_WINDOW: Final = SHARD_BUFFER // 2
#: Fewest windows per shard: a shard that finishes early has another window to take.
SHARD_MIN_WINDOWS: Final = 2
#: Most windows per shard, whatever the estimate: it is read from one page, and a range
#: sparser than its newest page would otherwise be cut into windows holding nothing.
SHARD_MAX_WINDOWS: Final = 8

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

# Command-line tools (tutorflow-async, nexttech-async)
#: Admin credentials the CLI reads when no option gives them (our names; the vendor's
#: guides name none). A JWT wins over email + password.
TUTORFLOW_ENV_ADMIN_JWT: Final = "TUTORFLOW_ADMIN_JWT"
TUTORFLOW_ENV_ADMIN_EMAIL: Final = "TUTORFLOW_ADMIN_EMAIL"
TUTORFLOW_ENV_ADMIN_PASSWORD: Final = "TUTORFLOW_ADMIN_PASSWORD"  # noqa: S105 (a variable name)
#: Signing secret ``webhooks listen`` reads when ``--secret-file`` is not given.
TUTORFLOW_ENV_WEBHOOK_SECRET: Final = "TUTORFLOW_WEBHOOK_SECRET"  # noqa: S105 (a variable name)
#: Seconds between redraws of a progress bar on a terminal.
CLI_PROGRESS_REDRAW: Final = 0.1
#: Seconds between plain progress lines when the output is not a terminal.
CLI_PROGRESS_PLAIN_EVERY: Final = 5.0
#: Width of the bar itself, in characters.
CLI_PROGRESS_BAR_WIDTH: Final = 24
#: Port the emulator commands listen on unless told otherwise (0: any free port).
CLI_EMULATOR_PORT: Final = 0
#: Rate limit of the ready key the emulator commands print, per minute.
CLI_EMULATOR_KEY_RATE: Final = 600
