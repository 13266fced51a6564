"""Support shared by the local API emulators (TutorFlow's and Next Tech's ``testing``).

Only emulator machinery lives here: serving an aiohttp application on a TCP port, the armed
fault plan, the bounded request log, cutting a connection without an answer, and a few
attrs validators. Nothing here imports the SDK client code (``edu_async_core.transport``,
the ``tutorflow_async`` / ``nexttech_async`` clients), so each emulator stays an
independent reference server that the clients are tested against.
"""

from edu_async_core.emulation.faults import ArmedFaults, FaultLike, retry_after_value
from edu_async_core.emulation.request_log import RequestLog
from edu_async_core.emulation.server import (
    AppServer,
    AsyncServerContext,
    ResetResponse,
    reset,
    send_damaged,
)
from edu_async_core.emulation.validators import unit_interval

__all__ = [
    "AppServer",
    "ArmedFaults",
    "AsyncServerContext",
    "FaultLike",
    "RequestLog",
    "ResetResponse",
    "reset",
    "retry_after_value",
    "send_damaged",
    "unit_interval",
]
