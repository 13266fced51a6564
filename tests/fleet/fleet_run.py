"""Worker subprocesses of the fleet tests (``fleet_worker.py``), and reading what they print."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tutorflow_async.testing import TutorFlowEmulator

WORKER = Path(__file__).with_name("fleet_worker.py")
PER_WORKER = 500
LIMIT = 900
WINDOW = 3.0
# Enough tasks that the fleet always has requests waiting for the limiter: each job is
# a create, one status poll and one result fetch (it ends before its first poll).
CONCURRENCY = 32
POLL_INTERVAL = 0.3
RUN_TIMEOUT = 90.0


class Worker:
    """One ``fleet_worker.py`` subprocess and the JSON lines it printed."""

    def __init__(self, proc: asyncio.subprocess.Process, index: int) -> None:
        self.proc = proc
        self.index = index
        self.records: list[dict[str, Any]] = []
        self.progress = asyncio.Event()

        self.ended = False

    async def read(self) -> None:
        assert self.proc.stdout is not None
        try:
            async for line in self.proc.stdout:
                self.records.append(json.loads(line))
                self.progress.set()
        finally:
            self.ended = True
            self.progress.set()

    @property
    def results(self) -> list[dict[str, Any]]:
        return [r for r in self.records if "input" in r]

    @property
    def done(self) -> bool:
        return any(r.get("done") for r in self.records)

    async def wait_for_results(self, count: int) -> None:
        while len(self.results) < count:
            # A worker that died (its traceback is on stderr) fails the test now, not at
            # RUN_TIMEOUT.
            assert not self.ended, f"worker {self.index} ended after {len(self.results)} inputs"
            self.progress.clear()
            await self.progress.wait()


async def start_worker(
    emu: TutorFlowEmulator,
    api_key: str,
    redis_url: str,
    prefix: str,
    index: int,
    per_worker: int = PER_WORKER,
    *,
    limit: int = LIMIT,
    concurrency: int = CONCURRENCY,
    window: float = WINDOW,
    env: dict[str, str] | None = None,
) -> Worker:
    """Start worker ``index`` (``env`` adds to the environment, e.g. the fleet's policy)."""
    env = {**os.environ, **(env or {}), "TUTORFLOW_CONTENT_API_KEY": api_key}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), emu.base_url, redis_url, prefix,
        str(index), str(per_worker), str(limit), str(window),
        str(concurrency), str(POLL_INTERVAL),
        stdout=asyncio.subprocess.PIPE, env=env,
    )
    return Worker(proc, index)


async def finish(workers: list[Worker], readers: list[asyncio.Task[None]]) -> None:
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            await asyncio.gather(*readers)
            for w in workers:
                await w.proc.wait()
    finally:
        await kill_all(workers)


async def kill_all(workers: list[Worker]) -> None:
    """Kill the workers still running (a test that failed half-way leaves none behind)."""
    for w in workers:
        if w.proc.returncode is None:
            w.proc.kill()
            await w.proc.wait()
