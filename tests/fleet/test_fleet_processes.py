"""Four worker processes, one key, one TutorFlow emulator, one real Redis.

Time is scaled down on both sides: the emulator's window is ``WINDOW`` seconds and the
key allows ``LIMIT`` requests in it ("per minute" means "per window"), so the fleet is
held to ``LIMIT / WINDOW`` requests a second and the test takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from edu_async_core.fleet.redis import namespace
from edu_async_core.ratelimit import credential_id
from tutorflow_async.testing import EmulatorConfig, Fault, TutorFlowEmulator

pytestmark = pytest.mark.fleet

WORKER = Path(__file__).with_name("fleet_worker.py")
WORKERS = 4
PER_WORKER = 40
LIMIT = 120
WINDOW = 4.0
RUN_TIMEOUT = 90.0


class Worker:
    """One ``fleet_worker.py`` subprocess and the JSON lines it printed."""

    def __init__(self, proc: asyncio.subprocess.Process, index: int) -> None:
        self.proc = proc
        self.index = index
        self.records: list[dict[str, Any]] = []
        self.progress = asyncio.Event()

    async def read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.records.append(json.loads(line))
            self.progress.set()

    @property
    def results(self) -> list[dict[str, Any]]:
        return [r for r in self.records if "input" in r]

    @property
    def done(self) -> bool:
        return any(r.get("done") for r in self.records)


async def start_worker(
    emu: TutorFlowEmulator, api_key: str, redis_url: str, prefix: str, index: int
) -> Worker:
    env = {**os.environ, "TUTORFLOW_CONTENT_API_KEY": api_key}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), emu.base_url, redis_url, prefix,
        str(index), str(PER_WORKER), str(LIMIT), str(WINDOW),
        stdout=asyncio.subprocess.PIPE, env=env,
    )
    return Worker(proc, index)


async def slots_of(redis: aioredis.Redis, key: str, pid: int) -> list[str]:
    """The in-flight slots of process ``pid`` (slot ids start with the holder's pid)."""
    return [s for s in map(str, await redis.zrange(key, 0, -1)) if s.startswith(f"{pid}-")]


def fleet_emulator() -> TutorFlowEmulator:
    return TutorFlowEmulator(EmulatorConfig(
        rate_limit_window=WINDOW, queued_seconds=0.05, processing_seconds=0.3,
    ))


def server_saw_a_well_behaved_fleet(emu: TutorFlowEmulator, key_id: str) -> dict[str, Any]:
    figures = {
        "requests": sum(emu.counters.by_status.values()),
        "429s": emu.counters.by_status[429],
        "max_in_window": emu.max_requests_in_window(key_id),
        "jobs": emu.jobs_created,
    }
    assert emu.counters.rate_limited == 0
    assert emu.counters.by_status[429] == 0
    assert emu.max_requests_in_window(key_id) <= LIMIT
    assert emu.jobs_created == WORKERS * PER_WORKER
    per_key = emu.jobs_per_idempotency_key()
    assert len(per_key) == WORKERS * PER_WORKER
    assert set(per_key.values()) == {1}
    return figures


def expected_inputs() -> set[str]:
    return {f"w{w}-{i}" for w in range(WORKERS) for i in range(PER_WORKER)}


async def finish(workers: list[Worker], readers: list[asyncio.Task[None]]) -> None:
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            await asyncio.gather(*readers)
            for w in workers:
                await w.proc.wait()
    finally:
        for w in workers:
            if w.proc.returncode is None:
                w.proc.kill()
                await w.proc.wait()


async def test_four_processes_share_one_key_without_a_429(redis_url: str) -> None:
    prefix = f"f{secrets.token_hex(4)}"
    async with fleet_emulator() as emu:
        issued = emu.create_api_key(name="fleet", rate_limit_per_minute=LIMIT)
        started = time.monotonic()
        workers = [
            await start_worker(emu, issued.api_key, redis_url, prefix, i) for i in range(WORKERS)
        ]
        await finish(workers, [asyncio.create_task(w.read()) for w in workers])
        elapsed = time.monotonic() - started
        assert [w.proc.returncode for w in workers] == [0] * WORKERS
        assert all(w.done for w in workers)
        inputs = [r["input"] for w in workers for r in w.results]
        assert sorted(inputs) == sorted(expected_inputs())  # each exactly once
        assert {r["status"] for w in workers for r in w.results} <= {"completed", "failed"}
        figures = server_saw_a_well_behaved_fleet(emu, issued.key_id)
    # The limit was the bottleneck: the fleet ran near LIMIT per WINDOW, not N times it.
    rate = figures["requests"] / elapsed
    print(f"\nfleet of {WORKERS}: {figures}, {elapsed:.1f}s, {rate:.1f} req/s "
          f"(limit {LIMIT / WINDOW:.1f}/s)")
    assert rate <= LIMIT / WINDOW * 1.05


async def test_a_worker_killed_mid_run_gives_its_slots_back(redis_url: str) -> None:
    prefix = f"k{secrets.token_hex(4)}"
    async with fleet_emulator() as emu:
        issued = emu.create_api_key(name="fleet-kill", rate_limit_per_minute=LIMIT)
        cred = credential_id(issued.api_key, emu.base_url)
        in_flight_key = f"{namespace(prefix, cred)}:in_flight"
        redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        started = time.monotonic()
        workers = [
            await start_worker(emu, issued.api_key, redis_url, prefix, i) for i in range(WORKERS)
        ]
        readers = [asyncio.create_task(w.read()) for w in workers]
        try:
            victim = workers[0]
            async with asyncio.timeout(RUN_TIMEOUT):
                while len(victim.results) < PER_WORKER // 4:
                    victim.progress.clear()
                    await victim.progress.wait()
                # Slow polls (2 s, under the 3 s timeout) so that it dies holding a slot.
                emu.add_fault(Fault(kind="delay", delay=2.0, method="GET", times=40))
                held_by_victim: list[str] = []
                for _ in range(100):  # a slot still held 0.2 s on is a slowed poll
                    before = set(await slots_of(redis, in_flight_key, victim.proc.pid))
                    await asyncio.sleep(0.2)
                    now = await slots_of(redis, in_flight_key, victim.proc.pid)
                    held_by_victim = [s for s in now if s in before]
                    if held_by_victim:
                        break
                victim.proc.send_signal(signal.SIGKILL)
                await victim.proc.wait()
                killed_at = time.monotonic()
                # Its leases run out (request timeout 3 s + margin 1 s) and its slots leave
                # the in-flight set at the next acquire of a live worker.
                for _ in range(200):
                    if not await slots_of(redis, in_flight_key, victim.proc.pid):
                        break
                    await asyncio.sleep(0.05)
                returned_after = time.monotonic() - killed_at
            assert held_by_victim
            # Not before its lease (4 s from its grant, at most 2 s ago), nor long after.
            assert 1.0 <= returned_after <= 3.0 + 1.0 + 2.0
            # A replacement redoes the dead worker's share: the same inputs name the same
            # jobs (idempotency keys from the payload), so nothing is created twice.
            replacement = await start_worker(emu, issued.api_key, redis_url, prefix, 0)
            workers.append(replacement)
            readers.append(asyncio.create_task(replacement.read()))
            await finish(workers[1:], readers[1:])
            elapsed = time.monotonic() - started
        finally:
            for w in workers:
                if w.proc.returncode is None:
                    w.proc.kill()
                    await w.proc.wait()
            await redis.aclose()
        assert [w.proc.returncode for w in workers[1:]] == [0] * WORKERS
        survivors = {r["input"] for w in workers[1:] for r in w.results}
        assert survivors == expected_inputs()
        assert sorted(r["input"] for w in workers[1:] for r in w.results) == sorted(survivors)
        figures = server_saw_a_well_behaved_fleet(emu, issued.key_id)
    print(f"\nfleet with a SIGKILL: {figures}, {elapsed:.1f}s; the victim held "
          f"{len(held_by_victim)} slot(s) when killed, back after {returned_after:.1f}s")
