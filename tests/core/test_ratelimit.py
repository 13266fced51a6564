from __future__ import annotations

import asyncio
import collections

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
    grants = collections.deque([0.0, 1.0, 2.0], maxlen=3)
    assert next_grant_delay(grants, 3, 60.0, 30.0, 0.0) == 30.0
    assert next_grant_delay(grants, 4, 60.0, 30.0, 0.0) == 0.0
    assert next_grant_delay(grants, 4, 60.0, 30.0, 45.0) == 15.0


async def test_ten_thousand_waiters_never_exceed_the_limit_in_any_window() -> None:
    clock = ManualClock()
    limiter = SlidingWindowLimiter(60, 60.0, margin=0.25, clock=clock)
    granted: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        granted.append(clock.monotonic())

    await asyncio.gather(*(one() for _ in range(10_000)))
    assert len(granted) == 10_000
    assert max_in_window(granted, 60.0) == 60
    # FIFO and no idling: 10,000 grants take ceil(10000/60)-1 windows of 60.25 s.
    assert granted[-1] - granted[0] == pytest.approx((10_000 // 60) * 60.25, abs=1.0)


async def test_cancelled_waiters_take_no_slot() -> None:
    clock = ManualClock()
    limiter = SlidingWindowLimiter(2, 60.0, margin=0.0, clock=clock)
    await limiter.acquire()
    await limiter.acquire()
    # A third waiter is asleep until the window frees; cancel it mid-wait.
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.total_grants == 2
    # The limiter is still usable and the lock was released.
    clock.advance(60.0)
    await asyncio.wait_for(limiter.acquire(), 1.0)
    assert limiter.total_grants == 3


async def test_pause_holds_every_grant() -> None:
    clock = ManualClock()
    limiter = SlidingWindowLimiter(100, 60.0, clock=clock)
    limiter.pause(5.0)
    start = clock.monotonic()
    await limiter.acquire()
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
