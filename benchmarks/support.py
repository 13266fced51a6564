"""What benchmarks share: a server in another process, CPU clocks, interleaved rounds.

``ServerProcess`` starts an ``aiohttp.web.Application`` in a *separate process* (spawned,
bound to 127.0.0.1 on a free port), so that the server's CPU is not the client's; the
application comes from a top-level factory function (it is pickled by reference)::

    with ServerProcess(fixed_json_app, {"/v1/ping": b"{}"}) as server:
        url = server.url + "/v1/ping"

``EmulatorProcess`` does the same for an emulator (``TutorFlowEmulator``,
``NextTechEmulator``, built by a top-level factory in the child) and runs functions on it
there (``emu.call(seed, 1000)``, ``emu.call(read_counters)``). ``run_in_child`` runs one
``async def`` in a fresh process (for figures a process's history would spoil, such as
peak RSS), and ``RssSampler`` follows this process's RSS from a thread.

``interleaved_rounds`` runs several variants of the same workload in alternating rounds
(rotating who goes first) and sums each one's process CPU and wall time, so that noise on
a shared machine hits every variant alike.

``RedisServer`` starts a throwaway ``redis-server`` on 127.0.0.1 for the fleet benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import multiprocessing
import multiprocessing.connection
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from aiohttp import web

LOOPBACK = "127.0.0.1"
SERVER_MAX_LIFETIME = 600.0
"""A server process stops by itself after this many seconds, whatever its parent does."""

AppFactory = Callable[..., web.Application]
R = TypeVar("R")


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


# -- emulators and clients in other processes ----------------------------------------------


class Emulator(Protocol):
    """What :class:`EmulatorProcess` runs: an emulator with ``start``/``close``/``base_url``."""

    @property
    def base_url(self) -> str: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


EmulatorFactory = Callable[..., Emulator]


def _run_emulator(
    factory: EmulatorFactory,
    args: tuple[Any, ...],
    conn: multiprocessing.connection.Connection,
    max_lifetime: float,
) -> None:
    """The emulator process: build and start it, send its URL, then answer calls."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle

    async def serve() -> None:
        emulator = factory(*args)
        await emulator.start()
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[Any] = asyncio.Queue()

        def readable() -> None:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the parent has gone: stop
                message = None
                loop.remove_reader(conn.fileno())
            inbox.put_nowait(message)

        try:
            conn.send(emulator.base_url)
            loop.add_reader(conn.fileno(), readable)
            deadline = loop.time() + max_lifetime
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await inbox.get()
                except TimeoutError:
                    break
                if message is None or message == "stop":
                    break
                func, call_args = message
                try:
                    result = func(emulator, *call_args)
                    if inspect.isawaitable(result):
                        result = await result
                    reply: tuple[str, Any] = ("ok", result)
                except Exception as exc:  # reported to the caller, raised there
                    reply = ("error", f"{type(exc).__name__}: {exc}")
                conn.send(reply)
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(conn.fileno())
            await emulator.close()

    asyncio.run(serve())


class EmulatorProcess:
    """An emulator served by a spawned process, driven by calls, for a ``with`` block.

    ``factory(*args)`` (a top-level function: it is pickled by reference) builds the
    emulator in the child, which starts it and sends back its ``base_url``. Then
    ``call(func, *args)`` runs ``func(emulator, *args)`` there (a top-level function; it
    may be async) and returns its (picklable) result: seed data, read counters, change a
    knob. The emulator's CPU and memory are then not the client's.
    """

    def __init__(
        self,
        factory: EmulatorFactory,
        *args: Any,
        start_timeout: float = 60.0,
        call_timeout: float = 60.0,
        max_lifetime: float = SERVER_MAX_LIFETIME,
    ) -> None:
        self._factory = factory
        self._args = args
        self._start_timeout = start_timeout
        self._call_timeout = call_timeout
        self._max_lifetime = max_lifetime
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._lock = threading.Lock()
        self.base_url = ""

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> Self:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_run_emulator,
            args=(self._factory, self._args, child, self._max_lifetime),
            name="bench-emulator",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        try:
            if not parent.poll(self._start_timeout):
                raise RuntimeError(f"emulator did not start in {self._start_timeout}s")
            self.base_url = str(parent.recv())
        except BaseException:
            self.stop()
            raise
        return self

    def call(self, func: Callable[..., R], *args: Any) -> R:
        """``func(emulator, *args)`` in the emulator process (blocks; see :meth:`acall`)."""
        result: R = self._call(func, args)
        return result

    def call_async(self, func: Callable[..., Awaitable[R]], *args: Any) -> R:
        """Like :meth:`call`, for an ``async def`` function (awaited in the child)."""
        result: R = self._call(func, args)
        return result

    async def acall(self, func: Callable[..., R], *args: Any) -> R:
        """:meth:`call` from a running event loop, without blocking it."""
        result: R = await asyncio.to_thread(self._call, func, args)
        return result

    async def acall_async(self, func: Callable[..., Awaitable[R]], *args: Any) -> R:
        """:meth:`call_async` from a running event loop, without blocking it."""
        result: R = await asyncio.to_thread(self._call, func, args)
        return result

    def _call(self, func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError("the emulator process is not running")
            conn.send((func, args))
            if not conn.poll(self._call_timeout):
                raise RuntimeError(f"emulator call {func.__name__} took over {self._call_timeout}s")
            status, value = conn.recv()
        if status != "ok":
            raise RuntimeError(f"emulator call {func.__name__} failed: {value}")
        return value

    def stop(self) -> None:
        with self._lock:
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


def _run_child(
    func: Callable[..., Coroutine[Any, Any, Any]],
    args: tuple[Any, ...],
    conn: multiprocessing.connection.Connection,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        reply: tuple[str, Any] = ("ok", asyncio.run(func(*args)))
    except BaseException:
        reply = ("error", traceback.format_exc())
    conn.send(reply)
    conn.close()


def run_in_child(func: Callable[..., Coroutine[Any, Any, R]], *args: Any, timeout: float) -> R:
    """``asyncio.run(func(*args))`` in a fresh spawned process; its (picklable) result.

    For measurements that a process's history would spoil, such as peak RSS. ``func`` is
    a top-level ``async def`` (pickled by reference). Raises ``RuntimeError`` with the
    child's traceback if it failed, or if it took over ``timeout`` seconds (it is killed).
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_run_child, args=(func, args, child), name="bench-client")
    process.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise RuntimeError(f"child {func.__name__} did not finish in {timeout}s")
        status, value = parent.recv()
    except EOFError:
        raise RuntimeError(f"child {func.__name__} died (exit code {process.exitcode})") from None
    finally:
        parent.close()
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)
    if status != "ok":
        raise RuntimeError(f"child {func.__name__} failed:\n{value}")
    result: R = value
    return result


# -- memory ----------------------------------------------------------------------------------


def rss_bytes() -> int:
    """Resident set size of this process right now (Linux ``/proc``; else the peak)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The most this process has ever been resident (``ru_maxrss``; kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssSampler:
    """Samples this process's RSS every ``interval`` seconds from a thread (``with`` block).

    ``peak_growth`` is the largest RSS seen minus the RSS when the block began: unlike
    ``ru_maxrss``, it does not depend on what the process did before.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.start_rss = 0
        self.peak_rss = 0

    @property
    def peak_growth(self) -> int:
        return max(0, self.peak_rss - self.start_rss)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_rss = max(self.peak_rss, rss_bytes())

    def __enter__(self) -> Self:
        self.start_rss = self.peak_rss = rss_bytes()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.peak_rss = max(self.peak_rss, rss_bytes())


# -- the TutorFlow emulator, driven from another process -------------------------------------
# Functions for ``EmulatorProcess(TutorFlowEmulator, EmulatorConfig(...)).call(...)``: they
# run in the emulator's process and return plain, picklable values.

GET_JOB_ROUTE = "GET /v1/content/integrations/expansions/{jobId}"
GET_RESULT_ROUTE = "GET /v1/content/integrations/expansions/{jobId}/result"
CREATE_ROUTE = "POST /v1/content/integrations/expansions"


def tutorflow_key(emu: Any, name: str, rate_limit_per_window: int) -> tuple[str, str]:
    """A new content key of ``emu`` (a ``TutorFlowEmulator``): ``(secret, key_id)``."""
    issued = emu.create_api_key(name=name, rate_limit_per_minute=rate_limit_per_window)
    return issued.api_key, issued.key_id


def tutorflow_counters(emu: Any) -> dict[str, Any]:
    """The emulator's counters as plain data; routes as ``"METHOD template"``."""
    c = emu.counters
    return {
        "requests": c.requests,
        "by_route": {f"{method} {template}": n for (method, template), n in c.by_route.items()},
        "by_status": dict(c.by_status),
        "rate_limited": c.rate_limited,
        "webhook_deliveries": c.webhook_deliveries,
        "webhook_failures": c.webhook_failures,
        "jobs_created": emu.jobs_created,
    }


def tutorflow_max_in_window(emu: Any, key_id: str) -> int:
    """Most requests of ``key_id`` the emulator admitted in any of its rate-limit windows."""
    result: int = emu.max_requests_in_window(key_id)
    return result


async def tutorflow_drain_webhooks(emu: Any) -> None:
    """Wait until every webhook delivery scheduled so far succeeded or gave up."""
    await emu.drain_webhooks()


def counter_delta(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """``after - before`` of two ``tutorflow_counters`` snapshots (nested dicts too)."""
    out: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, dict):
            old_map = old if isinstance(old, dict) else {}
            out[key] = {k: v - old_map.get(k, 0) for k, v in value.items() if v - old_map.get(k, 0)}
        else:
            out[key] = value - (old or 0)
    return out


# -- a Redis server ---------------------------------------------------------------------------

REDIS_INSTALL_HINT = "apt-get install -y redis-server (or set $REDIS_SERVER to the binary)"


class RedisServer:
    """A throwaway ``redis-server`` on 127.0.0.1, for a ``with`` block.

    It keeps nothing on disk (no RDB, no AOF, a temporary working directory) and serves
    ``url`` (``redis://127.0.0.1:<port>/0``). The binary is ``$REDIS_SERVER`` or the
    ``redis-server`` on ``PATH``; readiness is a ``PING`` through the ``redis`` package
    (the ``[redis]`` extra), which the fleet benchmark needs anyway.
    """

    def __init__(self, *, start_timeout: float = 15.0, attempts: int = 3) -> None:
        self._start_timeout = start_timeout
        self._attempts = attempts
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> Self:
        binary = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(f"redis-server not found: {REDIS_INSTALL_HINT}")
        self._workdir = tempfile.TemporaryDirectory(prefix="bench-redis-")
        try:
            # The port is free when we look and may be taken before redis binds it: a
            # server that exits at startup gets another port.
            for attempt in range(self._attempts):
                if self._launch(binary):
                    return self
                if attempt == self._attempts - 1:
                    raise RuntimeError(f"redis-server ({binary}) did not start")
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, binary: str) -> bool:
        import redis  # the [redis] extra; only this helper needs it

        assert self._workdir is not None
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((LOOPBACK, 0))
            self.port = int(probe.getsockname()[1])
        argv = [binary, "--bind", LOOPBACK, "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", self._workdir.name]
        self._process = subprocess.Popen(  # noqa: S603 - our own argv
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=1.0)
        try:
            deadline = time.monotonic() + self._start_timeout
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    self._process = None
                    return False
                try:
                    if client.ping():
                        return True
                except redis.exceptions.ConnectionError:
                    time.sleep(0.05)
            raise RuntimeError(f"redis-server did not answer PING in {self._start_timeout}s")
        finally:
            client.close()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            workdir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
