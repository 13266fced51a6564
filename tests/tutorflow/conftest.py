"""Fixtures for SDK tests against the real TutorFlow emulator on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fast_settings import FAST

import tutorflow_async as tf
from tutorflow_async.testing import EmulatorConfig, IssuedKey, TutorFlowEmulator


@pytest.fixture
async def emu() -> AsyncIterator[TutorFlowEmulator]:
    async with TutorFlowEmulator(EmulatorConfig(queued_seconds=0.0, processing_seconds=60.0)) as e:
        yield e


@pytest.fixture
def key(emu: TutorFlowEmulator) -> IssuedKey:
    return emu.create_api_key(name="tests", rate_limit_per_minute=10_000)


@pytest.fixture
async def content(emu: TutorFlowEmulator, key: IssuedKey) -> AsyncIterator[tf.ContentSession]:
    async with tf.ContentSession(
        key.api_key, base_url=emu.base_url, rate_limit_per_minute=10_000, config=FAST
    ) as s:
        yield s


@pytest.fixture
async def admin(emu: TutorFlowEmulator) -> AsyncIterator[tf.AdminSession]:
    async with tf.AdminSession.login(
        emu.admin_email, emu.admin_password, base_url=emu.base_url, config=FAST
    ) as a:
        yield a
