"""A webhook delivered to one process ends the waits of another, through a real Redis.

Process A (``event_worker.py receiver``) is the only webhook receiver the emulator knows;
process B (``event_worker.py waiter``) creates jobs and waits with no receiver of its
own. B's waits end on the events A relays, with no status poll at all (B's first poll
would come ``FALLBACK_INTERVAL`` seconds in). B's last wait starts after its job's
event was relayed, so pub/sub cannot deliver it: it is read from the key the bus keeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest

from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

pytestmark = pytest.mark.fleet

WORKER = Path(__file__).with_name("event_worker.py")
JOBS = 12
# No wait of this test may need a poll: B polls a job first this many seconds in.
FALLBACK_INTERVAL = 25.0
RUN_TIMEOUT = 60.0
STATUS_POLL = re.compile(r"^/v1/content/integrations/expansions/[^/]+$")


class Process:
    """A worker subprocess and the JSON lines it printed so far."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self.new_line = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.lines.append(json.loads(line))
            self.new_line.set()

    async def until(self, key: str, value: object = None) -> dict[str, Any]:
        """The first line with ``key`` (equal to ``value`` if given), once printed."""
        while True:
            for line in self.lines:
                if key in line and (value is None or line[key] == value):
                    return line
            if self.reader.done():
                raise AssertionError(f"worker ended without printing {key!r}: {self.lines}")
            self.new_line.clear()
            await self.new_line.wait()

    async def say(self, text: str = "go") -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def stop(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            async with asyncio.timeout(10):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await self.reader


async def start(role: str, *args: str, env: dict[str, str]) -> Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        role,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    return Process(proc)


async def test_a_delivery_to_worker_a_ends_the_waits_of_worker_b(redis_url: str) -> None:
    prefix = f"w{secrets.token_hex(4)}"
    config = EmulatorConfig(queued_seconds=0.05, processing_seconds=0.3)
    async with TutorFlowEmulator(config) as emu:
        issued = emu.create_api_key(name="fleet-events")
        a = await start(
            "receiver",
            emu.base_url,
            redis_url,
            prefix,
            env={
                "TUTORFLOW_ADMIN_EMAIL": emu.admin_email,
                "TUTORFLOW_ADMIN_PASSWORD": emu.admin_password,
                "TUTORFLOW_ORGANIZATION_ID": emu.organization_id,
            },
        )
        b: Process | None = None
        try:
            async with asyncio.timeout(RUN_TIMEOUT):
                await a.until("url")
                b = await start(
                    "waiter",
                    emu.base_url,
                    redis_url,
                    prefix,
                    str(JOBS),
                    str(FALLBACK_INTERVAL),
                    env={
                        "TUTORFLOW_CONTENT_API_KEY": issued.api_key,
                    },
                )
                late = (await b.until("created"))["created"]
                await a.until("relayed", late)  # its event is in Redis before B waits
                await b.say()
                done = await b.until("done")
        finally:
            for process in (b, a):
                if process is not None:
                    await process.stop()
        assert a.proc.returncode == 0 and b is not None and b.proc.returncode == 0
        results = [line for line in b.lines if "input" in line]
        assert sorted(r["input"] for r in results) == sorted(f"ev-{i}" for i in range(JOBS))
        assert {r["status"] for r in results} == {"completed"}
        # Every wait ended on an event relayed by A, long before B's first poll was due.
        assert done["polls"] == 0
        assert done["events"] == JOBS
        assert max(r["seconds"] for r in results) < FALLBACK_INTERVAL / 2
        jobs = {r["job"] for r in results}
        polled = [
            r.path
            for r in emu.request_log
            if r.method == "GET" and STATUS_POLL.match(r.path) and r.path.rsplit("/", 1)[1] in jobs
        ]
        assert polled == []  # the server agrees: no status poll of any of these jobs
        relayed = [line for line in a.lines if "relayed" in line]
        assert sorted(line["relayed"] for line in relayed) == sorted(jobs)
    print(
        f"\nfleet webhook: {JOBS} waits in B ended by A's deliveries, 0 polls; slowest "
        f"{max(r['seconds'] for r in results):.2f}s"
    )
