"""A local emulator of the Next Tech API, for tests and benchmarks.

Start one with ``async with NextTechEmulator(NextTechEmulatorConfig(...)) as emu:`` and point
a client at ``emu.base_url`` with ``emu.api_token`` / ``emu.secret_key`` as Basic credentials.
A :class:`PageSchedule` varies the page size per request; hidden items and
``filter_after_limit`` make pages short or empty as a real server may (see
:mod:`nexttech_async.testing.emulator`).
"""

from ._config import NextTechEmulatorConfig, TimeResolution
from ._faults import Fault, FaultKind
from ._pages import PageSchedule
from ._store import Bounds, UnknownItemError
from .emulator import EmulatorCounters, LoggedRequest, NextTechEmulator, RequestCallback

__all__ = [
    "Bounds",
    "EmulatorCounters",
    "Fault",
    "FaultKind",
    "LoggedRequest",
    "NextTechEmulator",
    "NextTechEmulatorConfig",
    "PageSchedule",
    "RequestCallback",
    "TimeResolution",
    "UnknownItemError",
]
