from __future__ import annotations

import asyncio
import collections
import random

import pytest

from edu_async_core.clock import ManualClock
from edu_async_core.ratelimit import (
    SlidingWindowLimiter,
    credential_id,
    next_grant_delay,
    shared_state,
)


def max_in_window(times: list[float], window: float) -> int:
    """Largest number of grants inside any half-open window of ``window`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_next_grant_delay_is_pure_arithmetic() -> None:
    expiries = collections.deque([90.0, 91.0])
    assert next_grant_delay(expiries, 0, 3, 30.0, 0.0) == 0.0  # a slot is free
    assert next_grant_delay(expiries, 1, 3, 30.0, 0.0) == 60.0  # wait for the oldest
    assert next_grant_delay(collections.deque(), 3, 3, 30.0, 0.0) is None  # all in flight
    assert next_grant_delay(expiries, 0, 4, 30.0, 45.0) == 15.0  # paused after a 429


async def test_ten_thousand_waiters_never_exceed_the_limit_in_any_window() -> None:
    clock = ManualClock()
    limiter = SlidingWindowLimiter(60, 60.0, margin=0.25, clock=clock)
    granted: list[float] = []

    async def one() -> None:
        async with limiter.slot():
            granted.append(clock.monotonic())

    await asyncio.gather(*(one() for _ in range(10_000)))
    assert len(granted) == 10_000
    assert max_in_window(granted, 60.0) == 60
    # FIFO and no idling: 10,000 grants take ceil(10000/60)-1 windows of 60.25 s.
    assert granted[-1] - granted[0] == pytest.approx((10_000 // 60) * 60.25, abs=1.0)


async def test_arrivals_stay_under_the_limit_however_long_requests_take() -> None:
    # The server counts a request when it arrives, anywhere between send and answer.
    clock = ManualClock()
    limiter = SlidingWindowLimiter(10, 60.0, margin=0.0, clock=clock)
    rng = random.Random(7)
    arrivals: list[float] = []

    async def request() -> None:
        async with limiter.slot():
            latency = rng.choice([0.0, 0.5, 5.0, 45.0])
            arrive_at = rng.random() * latency
            await clock.sleep(arrive_at)
            arrivals.append(clock.monotonic())
            await clock.sleep(latency - arrive_at)

    await asyncio.gather(*(request() for _ in range(400)))
    assert len(arrivals) == 400
    assert max_in_window(arrivals, 60.0) <= 10


async def test_in_flight_requests_hold_their_slots() -> None:
    clock = ManualClock()
    limiter = SlidingWindowLimiter(2, 60.0, margin=0.0, clock=clock)
    await limiter.acquire()
    await limiter.acquire()
    third = asyncio.create_task(limiter.acquire())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not third.done() and limiter.in_flight == 2  # waits for a request, not a timer
    limiter.release()
    await asyncio.wait_for(third, 1.0)
    # It was granted one window after the first request finished.
    assert clock.monotonic() == pytest.approx(1_060.0)


async def test_cancelled_waiters_take_no_slot() -> None:
    clock = ManualClock()
    limiter = SlidingWindowLimiter(2, 60.0, margin=0.0, clock=clock)
    for _ in range(2):
        async with limiter.slot():
            pass
    # A third waiter is asleep until the window frees; cancel it mid-wait.
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.total_grants == 2 and limiter.in_flight == 0
    # The limiter is still usable and the lock was released.
    clock.advance(60.0)
    await asyncio.wait_for(limiter.acquire(), 1.0)
    assert limiter.total_grants == 3


async def test_pause_holds_every_grant() -> None:
    clock = ManualClock()
    limiter = SlidingWindowLimiter(100, 60.0, clock=clock)
    limiter.pause(5.0)
    start = clock.monotonic()
    async with limiter.slot():
        assert clock.monotonic() - start == pytest.approx(5.0)


async def test_sessions_of_one_key_share_state_and_the_lower_limit_wins() -> None:
    cid = credential_id("tf_content_secret", "http://127.0.0.1:1")
    a = shared_state(cid, limit=60)
    b = shared_state(cid, limit=30)
    other = shared_state(credential_id("tf_content_other", "http://127.0.0.1:1"), limit=60)
    assert a is b
    assert a.limiter is not None and a.limiter.limit == 30
    assert other is not a


def test_credential_id_hides_the_secret() -> None:
    cid = credential_id("tf_content_secret", "http://h")
    assert "secret" not in cid and len(cid) == 64


def test_limiter_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimiter(0)
    with pytest.raises(ValueError, match="window"):
        SlidingWindowLimiter(1, 0)
