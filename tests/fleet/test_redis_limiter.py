"""The Redis fleet's scripts and limiter against a real redis-server, with short windows.

Two :class:`RedisFleet` objects on one loop stand for two processes: each has its own
client, its own in-process limiter in front, and shares only what is in Redis.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from edu_async_core.fleet.redis import (
    ACQUIRE,
    ALL_IN_FLIGHT,
    RELEASE,
    WINDOW_FULL,
    RedisBudget,
    RedisFleet,
    RedisLimiter,
)
from edu_async_core.limits import LimitSettings
from edu_async_core.ratelimit import PausedPastDeadline, credential_id

pytestmark = pytest.mark.fleet


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(4)}"


@pytest.fixture
async def fleets(redis_url: str, prefix: str) -> AsyncIterator[tuple[RedisFleet, RedisFleet]]:
    a = RedisFleet(redis_url, prefix=prefix, lease_margin=0.1)
    b = RedisFleet(redis_url, prefix=prefix, lease_margin=0.1)
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


CRED = credential_id("sk_live_not_in_redis_0123456789", "http://127.0.0.1:1")


def limiter_of(
    fleet: RedisFleet, limit: int, window: float, *, timeout: float = 5.0
) -> RedisLimiter:
    settings = LimitSettings(limit=limit, window=window, margin=0.0, request_timeout=timeout)
    limiter = fleet.credential_state(CRED, settings).limiter
    assert isinstance(limiter, RedisLimiter)
    return limiter


async def evalsha_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0)) + int(
        stats.get("cmdstat_eval", {}).get("calls", 0)
    )


async def test_the_acquire_script_grants_up_to_the_limit_then_says_exactly_how_long(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    acquire = redis_client.register_script(ACQUIRE)
    release = redis_client.register_script(RELEASE)
    keys = [f"{prefix}:{{x}}:in_flight", f"{prefix}:{{x}}:window", f"{prefix}:{{x}}:pause"]
    window_ms, lease_ms = 800, 5000

    async def ask(slot: str) -> list[int]:
        return [int(v) for v in await acquire(keys=keys, args=[slot, 3, window_ms, lease_ms])]

    assert [(await ask(f"s{i}"))[0] for i in range(3)] == [1, 1, 1]
    # Every slot in flight: nothing can free sooner than a window after an answer.
    assert await ask("s3") == [0, window_ms, ALL_IN_FLIGHT, 3, 0]
    await release(keys=keys[:2], args=["s0", window_ms, lease_ms])
    granted, wait_ms, why, held, counted = await ask("s3")
    assert (granted, why, held, counted) == (0, WINDOW_FULL, 2, 1)
    assert window_ms - 50 <= wait_ms <= window_ms
    await asyncio.sleep(wait_ms / 1000 + 0.005)
    assert (await ask("s3"))[0] == 1
    # Asked again for the same slot (its answer was lost, the client retried): the same
    # grant, not a second slot, even with the window full.
    assert (await ask("s3"))[0] == 1
    assert await redis_client.zcard(keys[0]) == 3


async def test_two_processes_never_exceed_the_limit_in_any_window(
    fleets: tuple[RedisFleet, RedisFleet], redis_client: aioredis.Redis
) -> None:
    limit, window = 5, 0.4
    limiters = [limiter_of(f, limit, window) for f in fleets]
    arrivals: list[float] = []

    async def request(i: int) -> None:
        limiter = limiters[i % 2]
        await limiter.acquire()
        try:
            await asyncio.sleep(0.005)
            arrivals.append(time.monotonic())  # the server sees it while it is in flight
            await asyncio.sleep(0.005)
        finally:
            limiter.release()

    calls_before = await evalsha_calls(redis_client)
    started = time.monotonic()
    await asyncio.gather(*(request(i) for i in range(30)))
    elapsed = time.monotonic() - started
    assert len(arrivals) == 30
    assert max_in_window(arrivals, window) <= limit
    assert elapsed >= (30 / limit - 1) * window
    # Waiters sleep until the moment a slot frees: a handful of asks per grant, no spinning
    # (30 ACQUIREs that grant, one RELEASE each, and about one wait per grant beyond).
    assert await evalsha_calls(redis_client) - calls_before <= 30 * 4


async def test_a_waiter_sleeps_until_the_first_answer_leaves_the_window(
    fleets: tuple[RedisFleet, RedisFleet],
) -> None:
    window = 0.5
    first, second = (limiter_of(f, 1, window) for f in fleets)
    await first.acquire()
    first.release()
    released = time.monotonic()
    await fleets[0].flush()
    waited = await second.acquire()
    second.release()
    granted = time.monotonic()
    assert window - 0.02 <= granted - released <= window + 0.1
    assert waited > 0.3


async def test_a_dead_holders_slot_comes_back_after_its_lease(
    fleets: tuple[RedisFleet, RedisFleet], redis_client: aioredis.Redis
) -> None:
    window, timeout = 0.3, 0.3  # lease: 0.3 s timeout + 0.1 s margin
    dead = limiter_of(fleets[0], 1, window, timeout=timeout)
    alive = limiter_of(fleets[1], 1, window, timeout=timeout)
    assert dead.lease == pytest.approx(0.4)
    await dead.acquire()  # and never releases: its process "died"
    started = time.monotonic()
    await alive.acquire()
    took = time.monotonic() - started
    alive.release()
    await fleets[1].flush()
    # The lost slot counts as answered at its lease's end, then leaves a window later.
    assert dead.lease + window - 0.05 <= took <= dead.lease + window + 0.3
    in_flight = await redis_client.zrange(f"{fleets[0].namespace(CRED)}:in_flight", 0, -1)
    assert in_flight == []


async def test_a_429_pause_holds_every_process_of_the_key(
    fleets: tuple[RedisFleet, RedisFleet],
) -> None:
    seen, other = (limiter_of(f, 100, 1.0) for f in fleets)
    seen.pause(0.5)
    await fleets[0].flush()
    with pytest.raises(PausedPastDeadline):
        await other.acquire(deadline=time.monotonic() + 0.1)
    assert other.paused_for > 0.3
    started = time.monotonic()
    await other.acquire()
    other.release()
    assert time.monotonic() - started >= 0.3


async def test_a_cancelled_waiter_holds_nothing(
    fleets: tuple[RedisFleet, RedisFleet], redis_client: aioredis.Redis
) -> None:
    holder, waiter = (limiter_of(f, 1, 0.3) for f in fleets)
    await holder.acquire()
    task = asyncio.create_task(waiter.acquire())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert waiter.in_flight == 0
    holder.release()
    await fleets[0].flush()
    await fleets[1].flush()
    await waiter.acquire()  # the in-process limiter in front was given back its slot too
    waiter.release()
    await fleets[1].flush()
    in_flight = await redis_client.zcard(f"{fleets[0].namespace(CRED)}:in_flight")
    assert in_flight == 0


async def test_the_retry_budget_is_one_for_the_fleet(
    fleets: tuple[RedisFleet, RedisFleet],
) -> None:
    settings = LimitSettings(limit=None, budget_capacity=10)
    a, b = (f.credential_state(CRED, settings).budget for f in fleets)
    assert isinstance(a, RedisBudget) and isinstance(b, RedisBudget)
    assert await a.try_spend(6)
    assert not await b.try_spend(6)
    assert await b.try_spend(4)
    assert await a.tokens() == 0
    a.refund(3)
    a.refund(2)
    await fleets[0].flush()
    assert await b.tokens() == 5
    b.refund(100)
    await fleets[1].flush()
    assert await a.tokens() == 10


async def test_keys_are_named_by_a_hash_never_the_secret(
    redis_url: str, redis_client: aioredis.Redis, prefix: str
) -> None:
    secret, base = "sk_live_SECRET_value_42", "http://127.0.0.1:9"
    cred = credential_id(secret, base)
    async with RedisFleet(redis_url, prefix=prefix) as fleet:
        state = fleet.credential_state(cred, LimitSettings(limit=3, window=1.0))
        assert state.limiter is not None
        await state.limiter.acquire()
        state.limiter.release()
        state.limiter.pause(0.5)
        assert await state.budget.try_spend(1)  # type: ignore[misc]
        assert secret not in repr(fleet) + repr(state.limiter) + repr(state.budget)
    keys = [k async for k in redis_client.scan_iter(match=f"{prefix}:*")]
    assert sorted(k.rsplit(":", 1)[1] for k in keys) == ["budget", "pause", "window"]
    for key in keys:
        assert key.startswith(f"{prefix}:{{{cred[:32]}}}:")
        assert "SECRET" not in key and "sk_live" not in key and "127.0.0.1" not in key
    for value in [await redis_client.get(k) for k in keys if not k.endswith("window")]:
        assert value is None or "SECRET" not in value


def test_a_fleet_checks_its_arguments_and_never_shows_its_url() -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisFleet("redis://127.0.0.1:1/0", prefix="a{b}")
    with pytest.raises(ValueError, match="lease_margin"):
        RedisFleet("redis://127.0.0.1:1/0", lease_margin=-1)
    fleet = RedisFleet("redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in repr(fleet)
