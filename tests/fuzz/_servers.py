"""The emulators on 127.0.0.1 in a thread of their own, for a synchronous HTTP client.

schemathesis calls the API through ``requests`` from the test's own thread, so the
emulator's event loop runs in a background thread for as long as the fixture lives.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from edu_async_core.emulation import AsyncServerContext

S = TypeVar("S", bound=AsyncServerContext)
T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread; coroutines are submitted to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self, factory: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        async def call() -> T:
            return await factory()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextmanager
def running(make: Callable[[], S]) -> Iterator[tuple[S, LoopThread]]:
    """Build the server inside the loop thread, start it, and close it on exit."""
    thread = LoopThread()
    thread.start()
    try:

        async def build() -> S:
            server = make()
            await server.start()
            return server

        server = thread.run(build)
        try:
            yield server, thread
        finally:
            thread.run(server.close)
    finally:
        thread.stop()
