"""Cancelling waits, walks and bulk runs midway leaves no tasks and no connections behind."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import pytest
from reliability.figures import FigureBook, Scenario, settled, stray_tasks

import nexttech_async as nt
import tutorflow_async as tf
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

SLOW = {"level": {"id": "slow"}, "_emulator": {"processing_seconds": 60}}
NOTHING = {"connections": 0, "tasks": 0}


def leak_note(held: dict[str, int], before: set[asyncio.Task[object]]) -> str:
    return f"; LEAKED {held} {stray_tasks(before)!r}" if any(held.values()) else ""


async def test_cancelled_waits_and_bulk_runs_leave_nothing_behind(figures: FigureBook) -> None:
    async with (
        TutorFlowEmulator(EmulatorConfig(queued_seconds=0.0, processing_seconds=60)) as emu,
        aiohttp.ClientSession() as http,
    ):
        before = set(asyncio.all_tasks())
        started = time.monotonic()
        issued = emu.create_api_key(name="hygiene", rate_limit_per_minute=100_000)
        session = tf.ContentSession(issued.api_key, base_url=emu.base_url, session=http,
                                    rate_limit_per_minute=100_000)
        jobs = [await session.expansions.create({**SLOW, "n": i}) for i in range(20)]
        waits = [asyncio.create_task(session.wait_for_expansion(j.id, poll_interval=0.01,
                                                                max_interval=0.02))
                 for j in jobs]
        bulk = session.expand_many([{**SLOW, "m": i} for i in range(50)], concurrency=10,
                                   poll_interval=0.01, max_interval=0.02)
        consumer = asyncio.ensure_future(anext(bulk))
        await asyncio.sleep(0.3)  # polls and creates are in flight
        for task in [*waits, consumer]:
            task.cancel()
        results = await asyncio.gather(*waits, consumer, return_exceptions=True)
        await bulk.aclose()
        await session.close()
        held = await settled(http, before)
        figures.record(Scenario(
            name="hygiene: 20 waits and a bulk run cancelled mid-poll",
            inputs=len(waits) + 1,
            outcomes=sum(isinstance(r, asyncio.CancelledError) for r in results),
            requests=emu.counters.requests,
            leaked=sum(held.values()),
            wall_s=time.monotonic() - started,
            note="inputs = 20 waits + 1 bulk run (50 inputs, 10 at a time); outcomes = "
                 "cancelled; leaked = connections in use + SDK tasks once the SDK session "
                 "closed (the borrowed aiohttp session stays open)" + leak_note(held, before),
        ))
        assert held == NOTHING, stray_tasks(before)
        assert all(isinstance(r, asyncio.CancelledError) for r in results), results
        assert not http.closed  # a borrowed session is never closed by us
        with pytest.raises(tf.SessionClosedError):
            await session.expansions.get(jobs[0].id)


async def test_cancelled_walks_leave_nothing_behind(figures: FigureBook) -> None:
    async with (
        NextTechEmulator(NextTechEmulatorConfig(page_size=10, latency=0.01)) as emu,
        aiohttp.ClientSession() as http,
    ):
        emu.add_contents([1_700_000_000 + i * 0.37 for i in range(500)])
        before = set(asyncio.all_tasks())
        started = time.monotonic()
        session = nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url,
                                     session=http)
        walk = session.contents.iterate(after="2023-11-14T00:00:00Z", shards=4)
        items = [await anext(walk) for _ in range(25)]
        await walk.aclose()
        sequential = session.contents.iterate()
        reader = asyncio.create_task(anext(sequential))
        await asyncio.sleep(0)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await session.close()
        held = await settled(http, before)
        figures.record(Scenario(
            name="hygiene: a sharded walk closed midway, a walk cancelled",
            inputs=2,
            outcomes=len(items),
            requests=emu.counters.requests,
            leaked=sum(held.values()),
            wall_s=time.monotonic() - started,
            note="a 4-shard walk of 500 contents closed after 25 items, a sequential walk "
                 "cancelled on its first page; outcomes = items read; leaked = connections "
                 "in use + SDK tasks once the session closed" + leak_note(held, before),
        ))
        assert held == NOTHING, stray_tasks(before)
        assert len({item.id for item in items}) == 25
        assert reader.cancelled()
        with pytest.raises(nt.SessionClosedError):
            await session.contents.list()


async def test_the_session_poller_ends_once_no_wait_is_left() -> None:
    # With the session still open: the shared poller ends once the last wait ended (here
    # one that completed, then one that was cancelled). It used to stay pending, idle,
    # until the session closed: woken from inside its last poll task, it saw that task
    # still in flight and waited again for a wake that never came.
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.05)
    async with TutorFlowEmulator(config) as emu, aiohttp.ClientSession() as http:
        issued = emu.create_api_key(name="poller", rate_limit_per_minute=100_000)
        before = set(asyncio.all_tasks())
        async with tf.ContentSession(issued.api_key, base_url=emu.base_url, session=http,
                                     rate_limit_per_minute=100_000) as session:
            job = await session.expansions.create({"level": {"id": "quick"}})
            done = await session.wait_for_expansion(job.id, poll_interval=0.01,
                                                    max_interval=0.02)
            assert done.job.status == tf.JobStatus.COMPLETED
            after_completed = await settled(http, before)
            left_completed = repr(stray_tasks(before))
            slow = await session.expansions.create({**SLOW, "n": "poller"})
            wait = asyncio.create_task(session.wait_for_expansion(
                slow.id, poll_interval=0.01, max_interval=0.02))
            await asyncio.sleep(0.1)  # a few polls
            wait.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wait
            after_cancelled = await settled(http, before)
            left_cancelled = repr(stray_tasks(before))
        assert after_completed == NOTHING, left_completed
        assert after_cancelled == NOTHING, left_cancelled
