"""A bulk run killed for real (SIGKILL) again and again still creates each job once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
from pathlib import Path
from typing import Any

from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

CHILD = Path(__file__).with_name("bulk_child.py")
INPUTS = 150
KILLS = 20


async def run_child(args: list[str], kill_after: float | None) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        if kill_after is None:
            out, _ = await asyncio.wait_for(process.communicate(), 120)
        else:
            await asyncio.sleep(kill_after)
            with contextlib.suppress(ProcessLookupError):  # it may have finished first
                process.send_signal(signal.SIGKILL)  # no cleanup, no flush: a real crash
            out, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]


async def test_twenty_kills_then_a_full_run_create_each_job_once(tmp_path: Path) -> None:
    config = EmulatorConfig(queued_seconds=0.05, processing_seconds=1.0)
    async with TutorFlowEmulator(config) as emu:
        key = emu.create_api_key(name="crash", rate_limit_per_minute=1_000_000)
        journal = tmp_path / "crash.jsonl"
        args = [emu.base_url, key.api_key, str(journal), str(INPUTS)]
        rng = random.Random(11)
        for _ in range(KILLS):
            await run_child(args, kill_after=rng.uniform(0.5, 2.5))
        killed_runs_created = emu.jobs_created
        final = await run_child(args, kill_after=None)

    assert sorted(o["index"] for o in final) == list(range(INPUTS))  # each input once
    assert all(o["status"] == "completed" for o in final)
    assert emu.jobs_created == INPUTS  # not one job more, across 21 runs
    assert set(emu.jobs_per_request().values()) == {1}
    assert 0 < killed_runs_created <= INPUTS
    assert any(o["journal"] for o in final)  # finished before a kill: told by the journal
