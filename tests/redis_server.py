"""A real ``redis-server`` for tests: on 127.0.0.1, a free port, no persistence.

Never a fake: the fleet's Lua scripts, server clock and key expiries are what is tested.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

INSTALL_HINT = "install it with `apt-get install -y redis-server` (only the binary is needed)"
STARTUP_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_server_binary() -> str:
    """The path of ``redis-server``; in CI a missing one fails, elsewhere it skips."""
    path = shutil.which("redis-server")
    if path is not None:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"redis-server is missing in CI: {INSTALL_HINT}")
    pytest.skip(f"redis-server is not installed: {INSTALL_HINT}")


class RedisProcess:
    """One ``redis-server`` on a fixed free port that a test can kill and start again."""

    def __init__(self, workdir: str) -> None:
        self.binary = redis_server_binary()
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 (our own argv: the binary found on PATH)
            [
                self.binary,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", self.workdir,
                "--protected-mode", "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _answers_ping(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} at startup")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING in {STARTUP_TIMEOUT}s")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: what a crashed or partitioned Redis looks like to its clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP for the block: a hung Redis, connections open and nothing answered."""
        assert self.proc is not None and self.proc.poll() is None, "redis-server is not running"
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@contextmanager
def redis_process() -> Iterator[RedisProcess]:
    """A started :class:`RedisProcess`, stopped at the end whatever the test did to it."""
    with tempfile.TemporaryDirectory(prefix="redis-test-") as workdir:
        server = RedisProcess(workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def running_redis() -> Iterator[str]:
    """Start ``redis-server``, yield its ``redis://127.0.0.1:<port>/0`` URL, stop it."""
    with redis_process() as server:
        yield server.url
