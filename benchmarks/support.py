"""What benchmarks share: a server in another process, CPU clocks, interleaved rounds.

``ServerProcess`` starts an ``aiohttp.web.Application`` in a *separate process* (spawned,
bound to 127.0.0.1 on a free port), so that the server's CPU is not the client's; the
application comes from a top-level factory function (it is pickled by reference)::

    with ServerProcess(fixed_json_app, {"/v1/ping": b"{}"}) as server:
        url = server.url + "/v1/ping"

``interleaved_rounds`` runs several variants of the same workload in alternating rounds
(rotating who goes first) and sums each one's process CPU and wall time, so that noise on
a shared machine hits every variant alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

LOOPBACK = "127.0.0.1"
SERVER_MAX_LIFETIME = 600.0
"""A server process stops by itself after this many seconds, whatever its parent does."""

AppFactory = Callable[..., web.Application]


# -- servers ---------------------------------------------------------------------------------


def fixed_json_app(routes: Mapping[str, bytes]) -> web.Application:
    """An app answering ``GET`` on each pattern of ``routes`` with that fixed JSON body.

    Patterns are aiohttp route patterns (``/v1/things/{id}``); the body is sent as is.
    """
    app = web.Application()
    for pattern, body in routes.items():
        app.router.add_get(pattern, _fixed(body))
    return app


def _fixed(body: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    return handler


def _serve(
    factory: AppFactory,
    args: tuple[Any, ...],
    conn: multiprocessing.connection.Connection,
    max_lifetime: float,
) -> None:
    """The server process: start the app, send back its port, run until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle

    async def serve() -> None:
        runner = web.AppRunner(factory(*args), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, LOOPBACK, 0, backlog=1024)
        await site.start()
        port: int = runner.addresses[0][1]
        conn.send(port)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        # The parent sends anything (or dies, closing the pipe) to stop us.
        loop.add_reader(conn.fileno(), stop.set)
        try:
            await asyncio.wait_for(stop.wait(), timeout=max_lifetime)
        except TimeoutError:
            pass
        finally:
            loop.remove_reader(conn.fileno())
            await runner.cleanup()

    asyncio.run(serve())


class ServerProcess:
    """An aiohttp app served on 127.0.0.1 by a spawned process, for a ``with`` block."""

    def __init__(
        self,
        factory: AppFactory,
        *args: Any,
        start_timeout: float = 30.0,
        max_lifetime: float = SERVER_MAX_LIFETIME,
    ) -> None:
        self._factory = factory
        self._args = args
        self._start_timeout = start_timeout
        self._max_lifetime = max_lifetime
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> Self:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_serve,
            args=(self._factory, self._args, child, self._max_lifetime),
            name="bench-server",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        try:
            if not parent.poll(self._start_timeout):
                raise RuntimeError(f"benchmark server did not start in {self._start_timeout}s")
            self.port = int(parent.recv())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send("stop")
            conn.close()
        if process is not None:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- measuring -------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) of this process so far."""
    return time.process_time()


def server_cpu_seconds(pid: int | None) -> float | None:
    """CPU time of another process (Linux ``/proc``), or None where unavailable."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    # After the ")" of the command name: state is field 0, utime 11, stime 12.
    return (int(fields[11]) + int(fields[12])) / ticks


async def run_concurrently(
    call: Callable[[], Awaitable[object]], count: int, concurrency: int, deadline: float
) -> int:
    """Await ``call()`` ``count`` times with ``concurrency`` in flight; returns calls done.

    Starts no call after ``deadline`` (``time.monotonic()``), so it may return fewer.
    """
    done = 0
    started = 0

    async def worker() -> None:
        nonlocal done, started
        while started < count and time.monotonic() < deadline:
            started += 1
            await call()
            done += 1

    workers = min(concurrency, count)
    if workers == 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(workers)))
    return done


@dataclass
class Tally:
    """One variant's sums over the rounds, and each round's CPU per call."""

    calls: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    per_round: list[float] = field(default_factory=list)

    @property
    def cpu_per_call(self) -> float:
        return self.cpu_s / self.calls if self.calls else float("nan")


async def interleaved_rounds(
    variants: Mapping[str, Callable[[], Awaitable[object]]],
    *,
    count: int,
    rounds: int,
    concurrency: int,
    deadline: float,
) -> dict[str, Tally]:
    """About ``count`` calls of each variant, in ``rounds`` alternating rounds.

    Each round runs every variant for ``count // rounds`` calls, in a rotated order, and
    charges it the process CPU and wall time of its part. Garbage is collected between
    parts (not timed), so one variant's garbage is not charged to the next. Stops after the
    round in which ``deadline`` (``time.monotonic()``) passes.
    """
    names = list(variants)
    tallies = {name: Tally() for name in names}
    per_round = max(1, count // rounds)
    for r in range(rounds):
        if time.monotonic() >= deadline:
            break
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            wall0, cpu0 = time.perf_counter(), cpu_seconds()
            # A part begun just before the deadline still gets a second to finish.
            n = await run_concurrently(
                variants[name], per_round, concurrency, max(deadline, time.monotonic() + 1.0)
            )
            cpu = cpu_seconds() - cpu0
            tally = tallies[name]
            tally.wall_s += time.perf_counter() - wall0
            tally.cpu_s += cpu
            tally.calls += n
            if n:
                tally.per_round.append(cpu / n)
    return tallies


def round_ratios(numerator: Tally, denominator: Tally) -> list[float]:
    """Each round's CPU-per-call ratio (the rounds ran side by side)."""
    return [a / b for a, b in zip(numerator.per_round, denominator.per_round, strict=False) if b]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
