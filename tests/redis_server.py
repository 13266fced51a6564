"""A real ``redis-server`` for tests: on 127.0.0.1, a free port, no persistence.

Never a fake: the fleet's Lua scripts, server clock and key expiries are what is tested.
"""

from __future__ import annotations

import os
import shutil
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


@contextmanager
def running_redis() -> Iterator[str]:
    """Start ``redis-server``, yield its ``redis://127.0.0.1:<port>/0`` URL, stop it."""
    binary = redis_server_binary()
    with tempfile.TemporaryDirectory(prefix="redis-test-") as workdir:
        port = _free_port()
        proc = subprocess.Popen(  # noqa: S603 (our own argv: the binary found on PATH)
            [
                binary,
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--save", "",
                "--appendonly", "no",
                "--dir", workdir,
                "--protected-mode", "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not _answers_ping(port):
                if proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {proc.returncode} at startup")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer PING in {STARTUP_TIMEOUT}s")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
