"""Cancelling waits, walks and bulk runs midway leaves no tasks and no connections behind."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest

import nexttech_async as nt
import tutorflow_async as tf
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

SLOW = {"level": {"id": "slow"}, "_emulator": {"processing_seconds": 60}}


def in_use(http: aiohttp.ClientSession) -> int:
    # Connections handed out and not yet released (aiohttp keeps no public counter).
    connector = http.connector
    assert isinstance(connector, aiohttp.TCPConnector)
    return len(connector._acquired)


def sdk_tasks(before: set[asyncio.Task[object]]) -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() - before if not t.done()
            and "RequestHandler" not in repr(t) and "emulator" not in t.get_name()]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.02)


async def test_cancelled_waits_and_bulk_runs_leave_nothing_behind() -> None:
    async with (
        TutorFlowEmulator(EmulatorConfig(queued_seconds=0.0, processing_seconds=60)) as emu,
        aiohttp.ClientSession() as http,
    ):
        before = set(asyncio.all_tasks())
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
        await asyncio.gather(*waits, consumer, return_exceptions=True)
        await bulk.aclose()
        await session.close()
        await settle()
        assert sdk_tasks(before) == []
        assert in_use(http) == 0
        assert not http.closed  # a borrowed session is never closed by us
        with pytest.raises(tf.SessionClosedError):
            await session.expansions.get(jobs[0].id)


async def test_cancelled_walks_leave_nothing_behind() -> None:
    async with (
        NextTechEmulator(NextTechEmulatorConfig(page_size=10, latency=0.01)) as emu,
        aiohttp.ClientSession() as http,
    ):
        emu.add_contents([1_700_000_000 + i * 0.37 for i in range(500)])
        before = set(asyncio.all_tasks())
        session = nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url,
                                     session=http)
        walk = session.contents.iterate(after="2023-11-14T00:00:00Z", shards=4)
        for _ in range(25):
            await anext(walk)
        await walk.aclose()
        sequential = session.contents.iterate()
        reader = asyncio.create_task(anext(sequential))
        await asyncio.sleep(0)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await session.close()
        await settle()
        assert sdk_tasks(before) == []
        assert in_use(http) == 0
        with pytest.raises(nt.SessionClosedError):
            await session.contents.list()
