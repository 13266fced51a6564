"""Transport settings for tests: the same behaviour as the defaults, with short waits."""

from __future__ import annotations

import tutorflow_async as tf

FAST_RETRY = tf.RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05, deadline=10)
FAST = tf.TransportConfig(retry=FAST_RETRY)
