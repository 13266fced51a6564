"""How a sharded walk cuts its range: windows sized from the newest page, bounded both ways."""

from __future__ import annotations

import datetime as dt

import pytest
from fast_settings import FAST

import nexttech_async as nt
from nexttech_async.cursor import Bound, WalkRange
from nexttech_async.defaults import SHARD_ITEMS_PER_WINDOW, SHARD_MAX_WINDOWS, SHARD_MIN_WINDOWS
from nexttech_async.shards import window_count
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig

T0 = 1_700_000_000


def seconds_range(low: int, high: int) -> WalkRange:
    return WalkRange(after=Bound.own(low), before=Bound.own(high))


def test_the_estimate_sizes_windows_to_half_a_buffer() -> None:
    # 100 items over 200 s at the top of a 40,000 s range: about 20,000 items in all.
    sample = [T0 + 39_999 - (i * 199) // 99 for i in range(100)]
    assert max(sample) - min(sample) + 1 == 200
    count = window_count(sample, seconds_range(T0, T0 + 40_000), shards=8)
    assert -(-20_000 // SHARD_ITEMS_PER_WINDOW) == 20
    assert count == 24  # whole rounds: 3 windows for each of the 8 shards


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ([], 8 * SHARD_MIN_WINDOWS),  # nothing in range
        ([T0 + 5], 8 * SHARD_MIN_WINDOWS),  # one item
        ([T0 + 9] * 100, 8 * SHARD_MAX_WINDOWS),  # 100 in one second: dense
        ([T0 + 9_999 - i for i in range(3)], 8 * SHARD_MIN_WINDOWS),  # sparse
    ],
)
def test_the_window_count_stays_within_its_bounds(sample: list[int], expected: int) -> None:
    assert window_count(sample, seconds_range(T0, T0 + 10_000), shards=8) == expected


async def test_a_sparse_range_gets_fewer_windows_than_a_dense_one() -> None:
    config = NextTechEmulatorConfig(page_size=50)
    async with NextTechEmulator(config) as emu:
        emu.add_contents([T0 + i * 10 for i in range(300)])  # sparse: 300 items
        emu.add_contents([T0 + 5_000 + i * 0.01 for i in range(5_000)])  # dense: 50 s
        after = dt.datetime.fromtimestamp(T0 - 1, dt.UTC)
        async with nt.NextTechSession(emu.api_token, emu.secret_key,
                                      base_url=emu.base_url, config=FAST) as s:
            sparse = s.contents.iterate(after=after, before=dt.datetime.fromtimestamp(
                T0 + 3_000, dt.UTC), shards=4)
            assert isinstance(sparse, nt.ShardedWalk)
            assert sparse.windows == 0 and emu.counters.requests == 0  # nothing sent yet
            fresh_token = sparse.resume_token  # the whole range, before it starts
            sparse_ids = [c.id async for c in sparse]
            dense = s.contents.iterate(after=after, before=dt.datetime.fromtimestamp(
                T0 + 5_060, dt.UTC), shards=4)
            assert isinstance(dense, nt.ShardedWalk)
            dense_ids = [c.id async for c in dense]
            resumed = [c.id async for c in s.contents.iterate(resume=fresh_token)]
    assert sparse.windows == 4 * SHARD_MIN_WINDOWS
    assert dense.windows == 4 * SHARD_MAX_WINDOWS
    assert len(sparse_ids) == len(set(sparse_ids)) == 300 == len(resumed)
    assert resumed == sparse_ids  # newest first, the same sequence
    assert len(dense_ids) == len(set(dense_ids)) == 5_300
