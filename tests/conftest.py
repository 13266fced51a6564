from __future__ import annotations

import logging
from collections.abc import Iterator

import aioresponses.core as aioresponses_core
import pytest
from aioresponses import aioresponses
from aioresponses_compat import CompatClientResponse


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    """aioresponses, working on aiohttp 3.14 (see aioresponses_compat)."""
    monkeypatch.setattr(aioresponses_core, "ClientResponse", CompatClientResponse)
    with aioresponses() as m:
        yield m


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every record of both SDKs at DEBUG, the most verbose level."""
    with (
        caplog.at_level(logging.DEBUG, logger="tutorflow_async"),
        caplog.at_level(logging.DEBUG, logger="nexttech_async"),
    ):
        yield caplog

