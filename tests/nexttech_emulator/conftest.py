"""Fixtures of the Next Tech emulator's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client, for requests sent as written."""
    async with aiohttp.ClientSession() as client:
        yield client
