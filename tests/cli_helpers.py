"""Running the two command-line tools as real subprocesses, as a user's shell would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

#: Seconds one CLI run may take before the test fails instead of hanging.
RUN_TIMEOUT = 60.0


@attrs.frozen
class CliRun:
    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment: none of the developer's real credentials leak into a run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TUTORFLOW_", "NEXTTECH_")) and k != "PYTHONASYNCIODEBUG"
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


async def run_cli(
    module: str,
    *args: str,
    env: Mapping[str, str],
    cwd: str | None = None,
    stderr_fd: int | None = None,
) -> CliRun:
    """``python -m module args...`` to completion, with the emulator serving meanwhile."""
    return await run_process(
        [sys.executable, "-m", module, *args], env=env, cwd=cwd, stderr_fd=stderr_fd
    )


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None = None,
    stderr_fd: int | None = None,
    limit: float = RUN_TIMEOUT,
) -> CliRun:
    """Run ``argv`` to completion without blocking the loop (in-process servers keep
    answering), killing it if it outlives ``limit`` seconds."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr_fd if stderr_fd is not None else asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(limit):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return CliRun(proc.returncode or 0, out.decode(), (err or b"").decode())


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def assert_no_secret(runs: Iterable[CliRun], secrets: Iterable[str]) -> None:
    """No secret, whole or in a long piece, in anything a run printed."""
    for run in runs:
        for secret in secrets:
            assert secret not in run.text, "a secret was printed"
            # A prefix is fine (that is what we show); a long piece would not be.
            assert secret[-16:] not in run.text, "the end of a secret was printed"
