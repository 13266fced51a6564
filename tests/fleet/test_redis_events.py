"""RedisEventBus against a real redis-server: publish once, late subscribers, outages.

Two buses on one Redis stand for two processes (each has its own connections and its
own subscriptions); tests/fleet/test_fleet_events.py does it with real subprocesses.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from edu_async_core.errors import FleetUnavailableError
from edu_async_core.fleet import redis_events
from edu_async_core.fleet.redis import RedisFleet
from edu_async_core.fleet.redis_events import RedisEventBus

pytestmark = pytest.mark.fleet


@pytest.fixture
def prefix() -> str:
    return f"ev{secrets.token_hex(4)}"


@pytest.fixture
async def buses(redis_url: str, prefix: str) -> AsyncIterator[tuple[RedisEventBus, RedisEventBus]]:
    """Two buses of one channel, as two processes of a fleet would hold them."""
    async with (
        RedisEventBus(redis_url, prefix=prefix, channel="jobs") as a,
        RedisEventBus(redis_url, prefix=prefix, channel="jobs") as b,
    ):
        yield a, b


async def test_an_event_published_by_one_reaches_the_subscriber_of_another(
    buses: tuple[RedisEventBus, RedisEventBus],
) -> None:
    a, b = buses
    waiting = b.subscribe("job-1")
    other = b.subscribe("job-2")
    await b.listening()
    assert await a.publish("job-1", "job-1/completed", '{"status": "completed"}')
    assert await asyncio.wait_for(waiting, 5) == '{"status": "completed"}'
    assert not other.done()  # another topic's subscriber hears nothing
    assert (a.published, b.delivered) == (1, 1)
    other.cancel()


async def test_a_repeat_is_dropped_fleet_wide(buses: tuple[RedisEventBus, RedisEventBus]) -> None:
    a, b = buses
    heard: list[str] = []
    first = b.subscribe("job-3")
    first.add_done_callback(lambda f: heard.append(f.result()))
    await b.listening()
    # The sender delivered one event to two processes: only the first publish counts.
    assert await a.publish("job-3", "job-3/completed", "one")
    assert not await b.publish("job-3", "job-3/completed", "two")
    await asyncio.wait_for(first, 5)
    again = b.subscribe("job-3")  # a later wait is told the first payload, not the repeat
    assert await asyncio.wait_for(again, 5) == "one"
    await asyncio.sleep(0.1)
    assert heard == ["one"]
    assert (a.published, a.repeats, b.published, b.repeats) == (1, 0, 0, 1)


async def test_a_late_subscriber_finds_the_remembered_event(
    buses: tuple[RedisEventBus, RedisEventBus], redis_client: aioredis.Redis
) -> None:
    a, b = buses
    await a.publish("job-4", "job-4/completed", "done")
    # Pub/sub does not replay: b subscribes after the broadcast and reads the key.
    assert await asyncio.wait_for(b.subscribe("job-4"), 5) == "done"
    ttl = await redis_client.pttl(a.topic_key("job-4"))
    assert 0 < ttl <= a.remember * 1000


async def test_a_remembered_event_expires(redis_url: str, prefix: str) -> None:
    async with RedisEventBus(redis_url, prefix=prefix, remember=0.2) as bus:
        await bus.publish("job-5", "job-5/completed", "done")
        await asyncio.sleep(0.4)
        late = bus.subscribe("job-5")
        await bus.listening()
        await asyncio.sleep(0.2)
        assert not late.done()  # forgotten: the wait's polling ends it
        late.cancel()
        await asyncio.sleep(0)
        assert bus.subscriptions == 0


async def test_a_cancelled_subscription_is_forgotten(
    buses: tuple[RedisEventBus, RedisEventBus],
) -> None:
    _, b = buses
    future = b.subscribe("job-6")
    assert b.subscriptions == 1
    future.cancel()
    await asyncio.sleep(0)
    assert b.subscriptions == 0


async def test_closing_cancels_pending_subscriptions(redis_url: str, prefix: str) -> None:
    bus = RedisEventBus(redis_url, prefix=prefix)
    future = bus.subscribe("job-7")
    await bus.listening()
    await bus.aclose()
    assert future.cancelled()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_publishing_to_an_unreachable_redis_is_a_typed_error() -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    async with RedisEventBus(url, client_options={"socket_connect_timeout": 0.5}) as bus:
        with pytest.raises(FleetUnavailableError, match="not published: Redis unreachable"):
            await bus.publish("job-8", "job-8/completed", "done")
        assert url not in repr(bus)


async def test_broadcasts_missed_while_disconnected_are_looked_up(
    buses: tuple[RedisEventBus, RedisEventBus],
    redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="edu_async_core.fleet")
    a, b = buses
    monkeypatch.setattr(redis_events, "RECONNECT_FIRST", 0.5)  # a gap to publish into
    waiting = b.subscribe("job-9")
    await b.listening()
    await redis_client.client_kill_filter(_type="pubsub")
    await asyncio.sleep(0.05)
    await a.publish("job-9", "job-9/completed", "while away")  # nobody hears the broadcast
    assert not waiting.done()
    assert await asyncio.wait_for(waiting, 5) == "while away"
    assert "lost the Redis subscription" in caplog.text
    assert "reachable again" in caplog.text


def test_argument_checks() -> None:
    with pytest.raises(ValueError, match="channel"):
        RedisEventBus("redis://127.0.0.1:1/0", channel="a{b}")
    with pytest.raises(ValueError, match="prefix"):
        RedisEventBus("redis://127.0.0.1:1/0", prefix="")
    with pytest.raises(ValueError, match="positive"):
        RedisEventBus("redis://127.0.0.1:1/0", remember=0)


async def test_the_fleet_hands_out_one_bus_per_channel(redis_url: str, prefix: str) -> None:
    async with RedisFleet(redis_url, prefix=prefix) as fleet:
        bus = fleet.events("webhooks")
        assert fleet.events("webhooks") is bus
        assert bus.prefix == prefix
        future = bus.subscribe("job-10")
        await bus.listening()
    assert future.cancelled()  # closed with the fleet
