"""The defaults both SDKs share: the transport, the limiter, the retry policy, redaction.

Sessions, the transport, the limiter and the retry policy read their defaults from here
so that a reader can see (and a user can override) the whole behaviour at once.
"""

from __future__ import annotations

from typing import Final

from .version import user_agent

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

#: ``User-Agent`` of a transport built without an SDK. Each SDK's sessions send their own
#: (``tutorflow-async/<version>``, ``nexttech-async/<version>``) unless the caller's
#: ``TransportConfig(user_agent=...)`` names one.
USER_AGENT: Final = user_agent("edu-async-core")

# Command-line tools (tutorflow-async, nexttech-async)
#: Seconds between redraws of a progress bar on a terminal.
CLI_PROGRESS_REDRAW: Final = 0.1
#: Seconds between plain progress lines when the output is not a terminal.
CLI_PROGRESS_PLAIN_EVERY: Final = 5.0
#: Width of the bar itself, in characters.
CLI_PROGRESS_BAR_WIDTH: Final = 24
#: Port the emulator commands listen on unless told otherwise (0: any free port).
CLI_EMULATOR_PORT: Final = 0
