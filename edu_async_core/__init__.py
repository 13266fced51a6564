"""The transport core both SDKs stand on: ``tutorflow_async`` and ``nexttech_async``.

Applications rarely import it: the SDKs re-export what a caller passes or catches
(``Secret``, ``RetryPolicy``, ``TransportConfig``, their error classes, which derive from
``edu_async_core.errors``). It holds the request loop with retries, backoff and a retry
budget (``transport``, ``retry``), the per-credential rate limiter (``ratelimit``), the
shared error hierarchy (``errors``), secrets that never print (``redaction``), the time
seam (``clock``), the defaults both SDKs share (``defaults``; each SDK keeps its own in its
``defaults`` module), and what the emulators, pytest plugins and command-line tools of both
SDKs share (``emulation``, ``pytest_support``, ``cli_support``).
"""

from .version import __version__ as __version__
