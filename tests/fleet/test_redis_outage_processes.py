"""Redis killed in the middle of a fleet's run: four worker processes, both policies.

Each test runs its own redis-server, SIGKILLs it while four ``fleet_worker.py``
subprocesses create and wait on one key, and starts it again (empty: no persistence, as
a crashed Redis without a disk comes back) a few seconds later. What must hold:

- ``local``: the workers go on alone, each at its share, and finish; every input once,
  no job twice; each worker saw one outage and measured its length;
- ``fail``: calls that cannot be counted are not sent; they end as that input's error
  after ``unavailable_timeout``, every input is reported once, no job is created twice,
  and the inputs after the recovery go through.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest
from fleet.fleet_run import Worker, finish, kill_all, start_worker
from redis_server import RedisProcess

from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

pytestmark = pytest.mark.fleet

WORKERS = 4
PER_WORKER = 150
LIMIT = 120
WINDOW = 2.0
CONCURRENCY = 8
#: Seconds Redis stays down: longer than a window and than the fail-closed timeout.
OUTAGE = 3.0
FAIL_TIMEOUT = 1.0


def emulator() -> TutorFlowEmulator:
    return TutorFlowEmulator(
        EmulatorConfig(rate_limit_window=WINDOW, queued_seconds=0.05, processing_seconds=0.1)
    )


async def run_with_an_outage(
    emu: TutorFlowEmulator, api_key: str, redis: RedisProcess, env: dict[str, str]
) -> tuple[list[Worker], float, float, int]:
    """Start the workers, kill Redis once each has a fifth of its inputs, start it again
    ``OUTAGE`` seconds later, and wait for them; returns them, when the kill was over and
    when the restart began (no Redis between the two), and the emulator's count of 429s
    a window after the restart."""
    prefix = f"r{secrets.token_hex(4)}"
    workers = [
        await start_worker(
            emu,
            api_key,
            redis.url,
            prefix,
            i,
            PER_WORKER,
            limit=LIMIT,
            concurrency=CONCURRENCY,
            window=WINDOW,
            env=env,
        )
        for i in range(WORKERS)
    ]
    readers = [asyncio.create_task(w.read()) for w in workers]
    try:
        async with asyncio.timeout(60):
            for w in workers:
                await w.wait_for_results(PER_WORKER // 5)
        await asyncio.to_thread(redis.kill)
        killed = time.monotonic()
        await asyncio.sleep(OUTAGE)
        # Read before the new redis-server exists, not after start() returns: start()
        # waits for its PING, and workers that retry every few milliseconds are granted by
        # it (and send) before this task resumes on a loop the emulator keeps busy.
        restart_began = time.monotonic()
        await asyncio.to_thread(redis.start)
        # The 429s of the switch, and their retries (a Retry-After is at most a window),
        # are all in by a window after the restart.
        await asyncio.sleep(WINDOW + 0.5)
        rejected_by_restart = emu.counters.by_status[429]
        await finish(workers, readers)
    finally:
        await kill_all(workers)
    return workers, killed, restart_began, rejected_by_restart


def reported_once(workers: list[Worker]) -> list[dict[str, Any]]:
    results = [r for w in workers for r in w.results]
    inputs = sorted(r["input"] for r in results)
    expected = sorted(f"w{w}-{i}" for w in range(WORKERS) for i in range(PER_WORKER))
    assert inputs == expected  # every input exactly once, none lost
    return results


def last_lines(workers: list[Worker]) -> list[dict[str, Any]]:
    return [next(r for r in w.records if r.get("done")) for w in workers]


async def test_local_policy_goes_on_alone_and_loses_nothing(redis: RedisProcess) -> None:
    env = {"FLEET_ON_UNAVAILABLE": "local", "FLEET_EXPECTED_PROCESSES": str(WORKERS)}
    async with emulator() as emu:
        issued = emu.create_api_key(name="outage-local", rate_limit_per_minute=LIMIT)
        run = await run_with_an_outage(emu, issued.api_key, redis, env)
        workers, killed, restart_began, rejected_by_restart = run
        assert [w.proc.returncode for w in workers] == [0] * WORKERS
        results = reported_once(workers)
        assert all(r.get("status") == "completed" for r in results)
        per_key = emu.jobs_per_idempotency_key()
        assert len(per_key) == WORKERS * PER_WORKER and set(per_key.values()) == {1}
        # The fleet kept working while Redis was down (it did not fail closed) ...
        during = [r.at for r in emu.request_log if killed + 0.2 < r.at < restart_began]
        assert during
        # ... and once the first window of the outage was over, each worker held to its
        # share: the whole fleet stayed within the limit.
        settled = [t for t in during if t > killed + WINDOW + 0.3]
        busiest = max((sum(1 for u in settled if t <= u < t + WINDOW) for t in settled), default=0)
        assert busiest <= LIMIT
        done = last_lines(workers)
        assert [d["outages"] for d in done] == [1] * WORKERS
        measured = [d["outage_seconds"] for d in done]
        assert all(OUTAGE * 0.8 <= m <= OUTAGE + 3 for m in measured)
        # 429s come at the switch, when what the fleet had just sent was unknown to every
        # process, never once Redis is back (each keeps its share a window longer, and
        # until every process has found Redis back).
        assert emu.counters.by_status[429] == rejected_by_restart
        figures = {
            "requests during the outage": len(during),
            "busiest settled window": busiest,
            "429s (all at the switch)": emu.counters.by_status[429],
            "outage measured by the workers (s)": [round(m, 2) for m in measured],
        }
    print(f"\nRedis down {OUTAGE:.0f}s under 'local': {figures}")


async def test_fail_policy_sends_nothing_it_cannot_count(redis: RedisProcess) -> None:
    env = {"FLEET_ON_UNAVAILABLE": "fail", "FLEET_UNAVAILABLE_TIMEOUT": str(FAIL_TIMEOUT)}
    async with emulator() as emu:
        issued = emu.create_api_key(name="outage-fail", rate_limit_per_minute=LIMIT)
        run = await run_with_an_outage(emu, issued.api_key, redis, env)
        workers, killed, restart_began, _ = run
        assert [w.proc.returncode for w in workers] == [0] * WORKERS
        results = reported_once(workers)
        failed = [r for r in results if "error" in r]
        completed = [r for r in results if r.get("status") == "completed"]
        assert len(failed) + len(completed) == len(results)
        # Calls that waited out the timeout during the outage failed, typed ...
        assert failed and {r["error"] for r in failed} == {"FleetUnavailableError"}
        # ... without sending: only the inputs that completed created a job, each once.
        per_key = emu.jobs_per_idempotency_key()
        assert len(per_key) == len(completed) and set(per_key.values()) == {1}
        # Nothing reached the server while Redis was down, past the requests already
        # granted and in flight at the kill (answered within milliseconds here).
        late = [r.at for r in emu.request_log if killed + 0.5 < r.at < restart_began]
        assert late == []
        # After the recovery the rest went through.
        after = [r.at for r in emu.request_log if r.at > restart_began]
        assert after
        assert emu.counters.by_status[429] == 0
        done = last_lines(workers)
        assert all(d["outages"] >= 1 for d in done)
        figures = {
            "inputs failed (FleetUnavailableError)": len(failed),
            "completed": len(completed),
            "requests after the restart": len(after),
        }
    print(f"\nRedis down {OUTAGE:.0f}s under 'fail': {figures}")
