"""Fixtures for the emulator's own tests: a running emulator and a bare client session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tutorflow_async.testing import EmulatorConfig, IssuedKey, TutorFlowEmulator


@pytest.fixture
async def emu() -> AsyncIterator[TutorFlowEmulator]:
    async with TutorFlowEmulator(EmulatorConfig()) as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def key(emu: TutorFlowEmulator) -> IssuedKey:
    return emu.create_api_key(name="fixture", rate_limit_per_minute=1000)


@pytest.fixture
def bearer(key: IssuedKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.api_key}"}


@pytest.fixture
def admin(emu: TutorFlowEmulator) -> dict[str, str]:
    # Sent explicitly: aiohttp's default cookie jar ignores cookies set by an IP host.
    return {"Cookie": f"jwt={emu.admin_jwt}"}
