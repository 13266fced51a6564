"""Every default of the Next Tech SDK that is Next Tech's alone.

What both SDKs share (timeouts, retries, the rate-limit window, redaction) stays in
``edu_async_core.defaults``; the session, the sharded walks and the ``nexttech-async``
command read the rest from here.
"""

from __future__ import annotations

from typing import Final

from edu_async_core.version import user_agent

# Next Tech
NEXTTECH_BASE_URL: Final = "https://api.next.tech/v1"
#: ``User-Agent`` of this SDK's sessions (a ``TransportConfig(user_agent=...)`` wins).
NEXTTECH_USER_AGENT: Final = user_agent("nexttech-async")
NEXTTECH_ENV_API_TOKEN: Final = "NEXTTECH_API_TOKEN"  # noqa: S105 (a variable name)
NEXTTECH_ENV_SECRET_KEY: Final = "NEXTTECH_SECRET_KEY"  # noqa: S105 (a variable name)
NEXTTECH_ENV_BASE_URL: Final = "NEXTTECH_API_BASE_URL"

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
