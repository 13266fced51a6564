from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from redis_server import RedisProcess, redis_process, running_redis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One real redis-server for the fleet tests (each test uses its own key prefix)."""
    with running_redis() as url:
        yield url


@pytest.fixture
def redis() -> Iterator[RedisProcess]:
    """A redis-server of the test's own, to kill, pause and start again."""
    with redis_process() as server:
        yield server


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()
