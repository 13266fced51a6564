"""Draining a set of background tasks ends, even when its tasks are already done.

From Python 3.12, ``gather()`` over finished tasks returns without yielding to the loop,
so a drain loop that relied on done-callbacks to empty the set spun for ever: it hung a
fleet worker's exit (``RedisFleet.aclose``) and, earlier, the emulator's webhook drain.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edu_async_core.clock import SYSTEM_CLOCK
from edu_async_core.fleet.outage import Outage
from edu_async_core.fleet.redis import _Background
from edu_async_core.task_set import drain


async def test_a_set_of_finished_tasks_drains_at_once() -> None:
    tasks: set[asyncio.Task[Any]] = set()
    for _ in range(3):
        task = asyncio.ensure_future(asyncio.sleep(0))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.sleep(0.01)  # all done; their callbacks may or may not have run yet
    tasks.update(asyncio.ensure_future(asyncio.sleep(0)) for _ in range(2))
    await asyncio.wait_for(drain(tasks), 2)
    assert not tasks


async def test_tasks_added_while_draining_are_waited_for() -> None:
    tasks: set[asyncio.Task[Any]] = set()
    finished: list[int] = []

    async def later(n: int) -> None:
        await asyncio.sleep(0.01)
        finished.append(n)
        if n < 3:
            tasks.add(asyncio.ensure_future(later(n + 1)))

    tasks.add(asyncio.ensure_future(later(0)))
    await asyncio.wait_for(drain(tasks), 2)
    assert finished == [0, 1, 2, 3] and not tasks


async def _nothing() -> None:
    """A task body that finishes in its first step."""


@pytest.mark.timeout(10)  # the old loop never yields: only a signal can stop it
async def test_the_fleets_background_calls_drain_when_already_done() -> None:
    background = _Background(Outage(SYSTEM_CLOCK, probe_interval=1.0))
    for _ in range(5):
        background.spawn(_nothing(), "a test call")
    # One turn of the loop: the calls finish and their done-callbacks are queued behind
    # this coroutine, so the drain below starts with finished tasks still in the set.
    await asyncio.sleep(0)
    assert all(task.done() for task in background._tasks)
    await background.drain()
    assert not background._tasks


@pytest.mark.timeout(10)
async def test_drain_starts_with_finished_tasks_whose_callbacks_have_not_run() -> None:
    tasks: set[asyncio.Task[Any]] = set()
    for _ in range(5):
        task = asyncio.ensure_future(_nothing())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.sleep(0)
    assert tasks and all(task.done() for task in tasks)
    await drain(tasks)
    assert not tasks
