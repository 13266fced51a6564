"""A local emulator of the Next Tech API, for tests and benchmarks.

Start one with ``async with NextTechEmulator(NextTechEmulatorConfig(...)) as emu:`` and point
a client at ``emu.base_url`` with ``emu.api_token`` / ``emu.secret_key`` as Basic credentials.
"""

from ._config import NextTechEmulatorConfig, TimeResolution
from ._faults import Fault, FaultKind
from ._store import Bounds
from .emulator import EmulatorCounters, LoggedRequest, NextTechEmulator, RequestCallback

__all__ = [
    "Bounds",
    "EmulatorCounters",
    "Fault",
    "FaultKind",
    "LoggedRequest",
    "NextTechEmulator",
    "NextTechEmulatorConfig",
    "RequestCallback",
    "TimeResolution",
]
