"""A fleet on Redis: throughput of 1 to 8 processes on one key, and the limiter's overhead.

Part 1 runs N real worker processes (this module, ``--worker``) against one TutorFlow
emulator (in its own process) and one ``redis-server``, all on 127.0.0.1. Each row gets a
new key of ``LIMIT`` requests per emulator window ``W`` and its own ``RedisFleet`` prefix;
every worker sends ``GET .../expansions/{jobId}`` on one job, as fast as the fleet's
limiter lets it, from a common start for a warm-up window and the measured windows.

How the fraction is measured: the emulator logs each request's arrival. The limit says
that any ``LIMIT + 1`` consecutive arrivals span at least ``W``, so the steady state is
the mean time ``g`` between arrivals ``LIMIT`` apart, over the measured windows only, and
``W / g`` is "answered per window / LIMIT". Unlike counting arrivals between two
instants, it does not depend on where the bursts fall against those instants (a fleet
sends in bursts: a key's whole window frees a window after its previous burst). The
workers' own count between the two instants stands beside it for comparison.

The SDK's margin is scaled with the window (0.25 s of 60 s is 0.4 %), so the ceiling
``W / (W + margin)`` is the one a real 60 s window has; what the fleet loses below it is
the round trips of each slot (request, release, grant), which a 2 s window magnifies 30
times against a 60 s one.

Part 2 times ``acquire()`` + ``release()`` pairs of the in-process ``SlidingWindowLimiter``
and of the Redis limiter, with a limit that never makes them wait, sequentially and with
16 tasks, in interleaved rounds; a Redis round ends with ``await fleet.flush()`` so that
its background releases are paid for. Medians over the rounds; the ratio is the median of
each round's ratio.

Part 3 times a webhook event across processes: process A (``--events-receiver``) holds a
``WebhookReceiver`` whose terminal deliveries ``FleetWebhookEvents`` relays to the fleet's
bus; process B (``--events-waiter``) has no receiver, its session's waits hear that bus,
and their first poll is ``EVENT_FALLBACK`` seconds in, so no poll ends a wait. B creates
the jobs, the emulator completes them, and then, one job at a time, B starts
``wait_for_expansion`` and A is handed the job's signed ``content.completed`` delivery
(``receiver.receive()``; the emulator knows no webhook). The latency is B's
``time.monotonic()`` when its wait returned minus A's just before ``receive()``; the same
clock, as in part 1. It holds the verification, the publish (one Lua script), the
broadcast, and B's one result fetch (B's session has no rate limiter: part 2 prices that).
Beside it, "bus only" ends when B's own subscription to the job's topic resolves and
starts when A's publish is called. Percentiles are nearest-rank.

The module is long because the parts share one emulator and one Redis, and their worker
processes are this module run with a flag: splitting it would split each part from its
workers.

    python -m benchmarks fleet               # or ./dev bench fleet [--quick]
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import math
import os
import secrets
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tutorflow_async as tf
from benchmarks.harness import Figures, Options, benchmark
from benchmarks.support import (
    EmulatorProcess,
    RedisServer,
    counter_delta,
    cpu_seconds,
    server_cpu_seconds,
    tutorflow_counters,
    tutorflow_key,
    tutorflow_max_in_window,
)
from edu_async_core import defaults as core_defaults
from edu_async_core.events import EventBus
from edu_async_core.limits import Limiter, LimitSettings
from edu_async_core.ratelimit import SlidingWindowLimiter, credential_id
from tutorflow_async import defaults as tf_defaults
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator
from tutorflow_async.webhooks import compute_signature

NAME = "fleet"
ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.95
JOB_PATH = "/v1/content/integrations/expansions/{}"
START_TIMEOUT = 60.0
"""Seconds the workers of a row may take to import and open their sessions."""
FINISH_TIMEOUT = 30.0
"""Seconds after the end of a row by which every worker must have reported and exited."""
TAIL = 0.1
"""Seconds the workers go on after the measured windows, so these end before the shutdown."""
NEVER_WAITS = 10**9
"""A limit the overhead rounds never reach."""
EVENT_CHANNEL = "webhooks"
EVENT_SECRET = "bench-fleet-events"  # noqa: S105 - A signs and verifies; nothing to guard
EVENT_FALLBACK = 60.0
"""B's first poll of a job, seconds into its wait: later than any wait of part 3 lasts."""
EVENT_WAIT_TIMEOUT = 10.0
"""A wait whose event is lost ends here, as an error, not as a poll."""
EVENT_SETTLE = 0.02
"""Seconds B gives its new subscription's look-up of the bus, so the event is broadcast to
it (the path of a wait that starts before its job ends) rather than found stored."""
EVENT_STEP_TIMEOUT = 15.0
"""Seconds one job of part 3 may take from B's wait to B's report."""
EVENT_SHARE_LEFT = 30.0
"""Seconds of the benchmark's time limit part 3 leaves to part 2 and the shutdown."""


@dataclass(frozen=True)
class Plan:
    limit: int
    window: float
    processes: tuple[int, ...]
    warmup_windows: float
    measured_windows: float
    concurrency: int
    """Tasks per worker process, each sending one request after the other."""
    rounds: int
    pairs_local: int
    pairs_redis: int
    event_jobs: int
    event_seconds: float
    """Part 3 measures ``event_jobs`` jobs, or those it gets through in this many seconds."""
    overhead_concurrency: tuple[int, ...] = (1, 16)

    @property
    def margin(self) -> float:
        # The SDK's margin as the same share of the window (see the module docstring).
        return core_defaults.RATE_LIMIT_MARGIN * self.window / core_defaults.RATE_LIMIT_WINDOW

    @property
    def row_seconds(self) -> float:
        return (self.warmup_windows + self.measured_windows) * self.window + TAIL


def plan(quick: bool) -> Plan:
    if quick:
        return Plan(limit=60, window=1.0, processes=(1, 2), warmup_windows=1,
                    measured_windows=2, concurrency=8, rounds=3, pairs_local=5_000,
                    pairs_redis=300, event_jobs=20, event_seconds=3.0)
    return Plan(limit=120, window=2.0, processes=(1, 2, 4, 8), warmup_windows=1,
                measured_windows=3, concurrency=16, rounds=7, pairs_local=50_000,
                pairs_redis=2_000, event_jobs=200, event_seconds=20.0)


# -- in the emulator's process -------------------------------------------------------------


def arrivals(emu: Any, path: str) -> list[float]:
    """Monotonic arrival times of every ``GET path`` the emulator logged, oldest first."""
    return sorted(r.at for r in emu.request_log if r.method == "GET" and r.path == path)


# -- a worker process -----------------------------------------------------------------------


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def work(
    base_url: str, redis_url: str, prefix: str, job_id: str, limit: int, window: float,
    margin: float, concurrency: int,
) -> None:
    """One worker: open the session, say ready, then send from ``go`` until ``stop``.

    The times come on stdin as ``time.monotonic()`` values of the parent: on Linux that
    clock is the system's, the same in every process (and in the emulator's log).
    """
    from edu_async_core.fleet.redis import RedisFleet

    config = tf.TransportConfig(rate_limit_window=window, rate_limit_margin=margin, timeout=5.0)
    async with (
        RedisFleet(redis_url, prefix=prefix, lease_margin=1.0) as fleet,
        tf.ContentSession(
            base_url=base_url, rate_limit_per_minute=limit, config=config, fleet=fleet
        ) as session,
    ):
        emit({"ready": True})
        times = json.loads(await asyncio.to_thread(sys.stdin.readline))
        zone_from, zone_to = times["zone_from"], times["zone_to"]
        answered = in_zone = 0
        errors: Counter[str] = Counter()

        async def sender() -> None:
            nonlocal answered, in_zone
            while True:
                try:
                    await session.expansions.get(job_id)
                except tf.TutorFlowError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                answered += 1
                if zone_from <= time.monotonic() < zone_to:
                    in_zone += 1

        await asyncio.sleep(max(0.0, times["go"] - time.monotonic()))
        # A sender waiting for a slot at the end would wait up to a window more. It can be
        # cancelled there: a grant that lands after the cancellation is handed back.
        try:
            async with asyncio.timeout(times["stop"] - time.monotonic()):
                await asyncio.gather(*(sender() for _ in range(concurrency)))
        except TimeoutError:
            pass
    emit({"done": True, "answered": answered, "in_zone": in_zone, "errors": dict(errors)})


def worker_main(argv: Sequence[str]) -> int:
    base_url, redis_url, prefix, job_id = argv[:4]
    limit, window, margin, concurrency = int(argv[4]), float(argv[5]), float(argv[6]), int(argv[7])
    asyncio.run(work(base_url, redis_url, prefix, job_id, limit, window, margin, concurrency))
    return 0


# -- part 1: the fleet's throughput ----------------------------------------------------------


async def read_record(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    if not line:
        code = await proc.wait()
        raise RuntimeError(f"a fleet worker exited (code {code}) before reporting")
    record: dict[str, Any] = json.loads(line)
    return record


def steady_gaps(stamps: Sequence[float], limit: int) -> list[float]:
    """Seconds between each arrival and the one ``limit`` arrivals later."""
    return [later - first for first, later in zip(stamps, stamps[limit:], strict=False)]


async def fleet_row(
    emu: EmulatorProcess, redis_url: str, p: Plan, processes: int, job_id: str
) -> dict[str, Any]:
    secret, key_id = await emu.acall(tutorflow_key, f"fleet-{processes}", p.limit)
    prefix = f"bench-fleet-{secrets.token_hex(4)}"
    before = await emu.acall(tutorflow_counters)
    env = {**os.environ, "TUTORFLOW_CONTENT_API_KEY": secret}
    argv = [emu.base_url, redis_url, prefix, job_id, str(p.limit), repr(p.window),
            repr(p.margin), str(p.concurrency)]
    spawned = time.monotonic()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.fleet", "--worker", *argv,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env,
        )
        for _ in range(processes)
    ]
    try:
        async with asyncio.timeout(START_TIMEOUT):
            for proc in procs:
                await read_record(proc)
        ready = time.monotonic()
        # A common start a moment after the last worker is ready: their first bursts meet.
        go = ready + 0.2
        zone_from = go + p.warmup_windows * p.window
        zone_to = zone_from + p.measured_windows * p.window
        times = {"go": go, "zone_from": zone_from, "zone_to": zone_to, "stop": zone_to + TAIL}
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(times).encode() + b"\n")
            await proc.stdin.drain()
        async with asyncio.timeout(times["stop"] - time.monotonic() + FINISH_TIMEOUT):
            reports = [await read_record(proc) for proc in procs]
            codes = [await proc.wait() for proc in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    if any(codes):
        raise RuntimeError(f"fleet workers exited with {codes}")
    delta = counter_delta(await emu.acall(tutorflow_counters), before)
    stamps = await emu.acall(arrivals, JOB_PATH.format(job_id))
    zone = [s for s in stamps if zone_from <= s < zone_to]
    gaps = steady_gaps(zone, p.limit)
    mean_gap = statistics.fmean(gaps) if gaps else None
    worker_counted = sum(r["in_zone"] for r in reports)
    errors: Counter[str] = Counter()
    for r in reports:
        errors.update(r["errors"])
    fraction = None if mean_gap is None else p.window / mean_gap
    return {
        "processes": processes,
        "per_window_over_limit": None if fraction is None else round(fraction, 3),
        "met": None if fraction is None else fraction >= TARGET,
        "rate_limited_429": delta["by_status"].get(429, 0),
        "max_requests_in_window": await emu.acall(tutorflow_max_in_window, key_id),
        "limit": p.limit,
        "measured_requests": len(zone),
        "gap_pairs": len(gaps),
        "mean_gap_s": None if mean_gap is None else round(mean_gap, 4),
        "min_gap_s": round(min(gaps), 4) if gaps else None,
        "max_gap_s": round(max(gaps), 4) if gaps else None,
        "worker_counted_over_limit": round(worker_counted / p.measured_windows / p.limit, 3),
        "answered_total": sum(r["answered"] for r in reports),
        "requests_total": len(stamps),
        "errors": dict(errors),
        "start_s": round(ready - spawned, 2),
    }


def fleet_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "processes": row["processes"],
            "answered per window / limit": row["per_window_over_limit"],
            f">= {TARGET}": row["met"],
            "429s": row["rate_limited_429"],
            "max in any window": row["max_requests_in_window"],
            "limit": row["limit"],
            "measured requests": row["measured_requests"],
            "mean gap of limit arrivals s": row["mean_gap_s"],
            "workers' count / limit": row["worker_counted_over_limit"],
            "errors": sum(row["errors"].values()),
            "start s": row["start_s"],
        }
        for row in rows
    ]


async def create_jobs(base_url: str, api_key: str, count: int) -> list[str]:
    """One job per row, made by a key of its own so the rows' keys start untouched."""
    async with tf.ContentSession(api_key, base_url=base_url, rate_limit_per_minute=None) as s:
        jobs = [
            await s.expansions.create(
                {"level": {"id": f"fleet-{i}", "lessons": [{"id": "l1", "type": "dialogue"}]}}
            )
            for i in range(count)
        ]
    return [job.id for job in jobs]


async def throughput(emu: EmulatorProcess, redis_url: str, p: Plan, options: Options) -> Figures:
    setup_key, _ = await emu.acall(tutorflow_key, "fleet-setup", NEVER_WAITS)
    job_ids = await create_jobs(emu.base_url, setup_key, len(p.processes))
    rows: list[dict[str, Any]] = []
    skipped: list[int] = []
    for processes, job_id in zip(p.processes, job_ids, strict=True):
        # A row needs its windows, its workers' start and the overhead part's share after.
        if options.time_left() < p.row_seconds + 2 * processes + 25:
            skipped.append(processes)
            continue
        rows.append(await fleet_row(emu, redis_url, p, processes, job_id))
    return {"rows": rows, "skipped_process_counts": skipped}


# -- part 2: acquire + release overhead ----------------------------------------------------


async def pairs(limiter: Limiter, count: int, concurrency: int) -> None:
    async def task(n: int) -> None:
        for _ in range(n):
            await limiter.acquire()
            limiter.release()

    share, extra = divmod(count, concurrency)
    await asyncio.gather(*(task(share + (i < extra)) for i in range(concurrency)))


async def overhead(redis: RedisServer, p: Plan, deadline: float) -> Figures:
    from edu_async_core.fleet.redis import RedisFleet

    window = 1.0  # short: the window's entries leave Redis (and the deque) as they go
    local = SlidingWindowLimiter(NEVER_WAITS, window, margin=0.0)
    settings = LimitSettings(limit=NEVER_WAITS, window=window, margin=0.0)
    samples: dict[str, list[dict[str, float]]] = {}
    async with RedisFleet(redis.url, prefix=f"bench-overhead-{secrets.token_hex(4)}") as fleet:
        shared = fleet.credential_state(credential_id("overhead", redis.url), settings).limiter
        assert shared is not None
        variants: dict[str, tuple[Limiter, int]] = {
            "in-process": (local, p.pairs_local),
            "redis": (shared, p.pairs_redis),
        }
        # Connections and script loading are paid once, before any timed round.
        await pairs(shared, 50, 1)
        await pairs(shared, 50, 16)
        await fleet.flush()
        for r in range(p.rounds):
            if r and time.monotonic() > deadline:
                break
            for concurrency in p.overhead_concurrency:
                names = list(variants)
                names = names[r % 2:] + names[: r % 2]
                for name in names:
                    limiter, count = variants[name]
                    gc.collect()
                    server0 = server_cpu_seconds(redis.pid)
                    cpu0, wall0 = cpu_seconds(), time.perf_counter()
                    await pairs(limiter, count, concurrency)
                    if limiter is shared:
                        await fleet.flush()
                    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
                    server1 = server_cpu_seconds(redis.pid)
                    sample = {"pairs": count, "wall_us": wall / count * 1e6,
                              "cpu_us": cpu / count * 1e6}
                    if server0 is not None and server1 is not None:
                        sample["redis_server_cpu_s"] = server1 - server0
                    samples.setdefault(f"{name} c={concurrency}", []).append(sample)
    figures: Figures = {"rounds": samples}
    for concurrency in p.overhead_concurrency:
        ours = samples.get(f"in-process c={concurrency}", [])
        theirs = samples.get(f"redis c={concurrency}", [])
        ratios = [b["wall_us"] / a["wall_us"] for a, b in zip(ours, theirs, strict=False)]
        figures[f"c={concurrency}"] = {
            "in_process_wall_us": _median(s["wall_us"] for s in ours),
            "redis_wall_us": _median(s["wall_us"] for s in theirs),
            "redis_client_cpu_us": _median(s["cpu_us"] for s in theirs),
            # /proc counts CPU in clock ticks (10 ms): one round is too short to read.
            "redis_server_cpu_us": _per_pair(theirs, "redis_server_cpu_s"),
            "redis_over_in_process": _median(ratios),
            "rounds": len(ratios),
        }
    return figures


def _median(values: Any) -> float:
    found = list(values)
    return float(statistics.median(found)) if found else float("nan")


def _per_pair(samples: Sequence[dict[str, float]], field: str) -> float:
    measured = [s for s in samples if field in s]
    total = sum(s["pairs"] for s in measured)
    return sum(s[field] for s in measured) / total * 1e6 if total else float("nan")


def _sig(value: float) -> float:
    return float(f"{value:.3g}")


# -- part 3: a webhook event across processes ----------------------------------------------


class TimedBus:
    """A's bus, noting when each topic's publish was called (where "bus only" starts)."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.called: dict[str, float] = {}
        self.returned: dict[str, float] = {}

    async def publish(self, topic: str, dedupe_id: str, payload: str) -> bool:
        self.called[topic] = time.monotonic()
        try:
            return await self._bus.publish(topic, dedupe_id, payload)
        finally:
            self.returned[topic] = time.monotonic()

    def subscribe(self, topic: str) -> asyncio.Future[str]:
        return self._bus.subscribe(topic)


def signed_delivery(job_id: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers TutorFlow would post for ``job_id``'s completion."""
    event = tf.WebhookEvent.CONTENT_COMPLETED.value
    body = json.dumps({"event": event, "jobId": job_id, "status": "completed"}).encode()
    headers = {
        "Content-Type": "application/json",
        tf_defaults.WEBHOOK_EVENT_HEADER: event,
        tf_defaults.WEBHOOK_SIGNATURE_HEADER: compute_signature(body, EVENT_SECRET),
    }
    return body, headers


async def relay_events(redis_url: str, prefix: str) -> None:
    """Process A: for each ``{"deliver": job}`` line, receive its delivery and relay it."""
    from edu_async_core.fleet.redis import RedisFleet

    async with (
        RedisFleet(redis_url, prefix=prefix) as fleet,
        tf.WebhookReceiver(EVENT_SECRET) as receiver,
    ):
        bus = TimedBus(fleet.events(EVENT_CHANNEL))
        async with tf.FleetWebhookEvents(bus, receiver) as events:
            # Connecting and loading the script are paid here, not by the first event.
            await fleet.events(EVENT_CHANNEL).publish("bench-warm-up", secrets.token_hex(8), "{}")
            emit({"ready": True})
            base: tuple[int, int, int, int] | None = None
            while line := await asyncio.to_thread(sys.stdin.readline):
                command = json.loads(line)
                if command.get("measured") and base is None:
                    base = (events.published, events.repeats, events.lost,
                            receiver.counters.accepted)
                job_id = command["deliver"]
                body, headers = signed_delivery(job_id)
                received = time.monotonic()
                verdict = receiver.receive(body, headers)
                await events.flush()
                emit({"received": received, "http_status": verdict.status,
                      "publish_called": bus.called.pop(job_id, None),
                      "publish_returned": bus.returned.pop(job_id, None)})
            now = (events.published, events.repeats, events.lost, receiver.counters.accepted)
            then = now if base is None else base
            emit({"done": True, **{name: after - before for name, after, before in zip(
                ("published", "repeats", "lost", "accepted"), now, then, strict=True)}})


async def wait_events(base_url: str, redis_url: str, prefix: str, count: int) -> None:
    """Process B: create ``count`` jobs, then wait for each job named on stdin in turn."""
    from edu_async_core.fleet.redis import RedisFleet

    config = tf.TransportConfig(timeout=5.0)
    async with (
        RedisFleet(redis_url, prefix=prefix) as fleet,
        tf.ContentSession(base_url=base_url, rate_limit_per_minute=None, config=config) as session,
    ):
        bus = fleet.events(EVENT_CHANNEL)
        session.attach_webhooks(tf.FleetWebhookEvents(bus), fallback_interval=EVENT_FALLBACK)
        await bus.listening()
        jobs = [
            (await session.expansions.create(
                {"level": {"id": f"events-{i}", "lessons": [{"id": "l1", "type": "dialogue"}]}}
            )).id
            for i in range(count)
        ]
        emit({"jobs": jobs})
        base: Any = None

        async def wait(job_id: str) -> dict[str, Any]:
            try:
                result = await session.wait_for_expansion(job_id, timeout=EVENT_WAIT_TIMEOUT)
            except tf.TutorFlowError as exc:
                return {"ended": time.monotonic(), "error": type(exc).__name__}
            return {"ended": time.monotonic(), "status": result.job.status}

        while line := await asyncio.to_thread(sys.stdin.readline):
            command = json.loads(line)
            if command.get("measured") and base is None:
                base = session.poller.stats  # what the warm-up wait cost stays out
            job_id = command["wait"]
            heard: list[float] = []
            direct = bus.subscribe(job_id)
            direct.add_done_callback(functools.partial(_note_time, heard))
            waiting = asyncio.create_task(wait(job_id))
            await asyncio.sleep(EVENT_SETTLE)
            emit({"waiting": job_id})
            report = await waiting
            direct.cancel()
            emit({**report, "heard": heard[0] if heard else None})
        stats = session.poller.stats
        if base is None:
            base = stats
        emit({"done": True, "polls": stats.polls - base.polls,
              "result_fetches": stats.result_fetches - base.result_fetches,
              "events": stats.events - base.events,
              "transient_errors": stats.transient_errors - base.transient_errors})


def _note_time(into: list[float], _: object) -> None:
    into.append(time.monotonic())


def job_statuses(emu: Any, job_ids: Sequence[str]) -> list[str]:
    """In the emulator's process: each job's status right now."""
    return [emu.job_status(job_id) for job_id in job_ids]


async def until_completed(emu: EmulatorProcess, job_ids: Sequence[str]) -> None:
    while True:
        statuses = await emu.acall(job_statuses, job_ids)
        if all(s == "completed" for s in statuses):
            return
        if any(s not in ("queued", "processing", "completed") for s in statuses):
            raise RuntimeError(f"part 3's jobs did not all complete: {Counter(statuses)}")
        await asyncio.sleep(0.05)


async def spawn(*argv: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.fleet", *argv,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env,
    )


async def tell(proc: asyncio.subprocess.Process, record: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(record).encode() + b"\n")
    await proc.stdin.drain()


async def finish(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    """Close the worker's stdin and return its last report once it has exited."""
    assert proc.stdin is not None
    proc.stdin.close()
    report = await read_record(proc)
    if await proc.wait():
        raise RuntimeError(f"an event worker exited with {proc.returncode}")
    return report


async def event_latency(
    emu: EmulatorProcess, redis_url: str, p: Plan, options: Options
) -> Figures:
    secret, _ = await emu.acall(tutorflow_key, "fleet-events", NEVER_WAITS)
    prefix = f"bench-events-{secrets.token_hex(4)}"
    env = {**os.environ, "TUTORFLOW_CONTENT_API_KEY": secret}
    started = time.monotonic()
    deadline = min(started + p.event_seconds, options.deadline - EVENT_SHARE_LEFT)
    a = await spawn("--events-receiver", redis_url, prefix)
    b = await spawn("--events-waiter", emu.base_url, redis_url, prefix, str(p.event_jobs + 1),
                    env=env)
    samples: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(START_TIMEOUT):
            await read_record(a)
            warm_up, *jobs = (await read_record(b))["jobs"]
            await until_completed(emu, [warm_up, *jobs])
        ready = time.monotonic()
        # An unmeasured first job: what B and A do once (first result fetch, first event
        # on each side) stays out of the figures.
        for job_id, measured in [(warm_up, False), *((j, True) for j in jobs)]:
            if measured and samples and time.monotonic() > deadline:
                break
            async with asyncio.timeout(EVENT_STEP_TIMEOUT):
                await tell(b, {"wait": job_id, "measured": measured})
                await read_record(b)
                await tell(a, {"deliver": job_id, "measured": measured})
                relayed = await read_record(a)
                waited = await read_record(b)
            if measured:
                samples.append({**relayed, **waited})
        async with asyncio.timeout(FINISH_TIMEOUT):
            b_done = await finish(b)
            a_done = await finish(a)
    finally:
        for proc in (a, b):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    return event_figures(samples, a_done, b_done, p.event_jobs, started, ready)


def event_figures(
    samples: Sequence[dict[str, Any]], a_done: dict[str, Any], b_done: dict[str, Any],
    planned: int, started: float, ready: float,
) -> Figures:
    ended = [s["ended"] - s["received"] for s in samples if s.get("status") == "completed"]
    bus = [s["heard"] - s["publish_called"] for s in samples
           if s.get("heard") is not None and s.get("publish_called") is not None]
    after_bus = [s["ended"] - s["heard"] for s in samples
                 if s.get("status") == "completed" and s.get("heard") is not None]
    before_bus = [s["publish_called"] - s["received"] for s in samples
                  if s.get("publish_called") is not None]
    return {
        "waits": len(samples),
        "planned": planned,
        "wait_ended_ms": _spread(ended),
        "bus_only_ms": _spread(bus),
        "receive_to_publish_ms": _spread(before_bus),
        "bus_to_wait_ended_ms": _spread(after_bus),
        "not_completed": Counter(s.get("status") or s.get("error") for s in samples
                                 if s.get("status") != "completed"),
        "rejected_deliveries": sum(1 for s in samples if s["http_status"] != 200),
        "b_poller": {k: v for k, v in b_done.items() if k != "done"},
        "a_relay": {k: v for k, v in a_done.items() if k != "done"},
        "start_s": round(ready - started, 2),
        "measured_s": round(time.monotonic() - ready, 2),
    }


def _spread(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """p50, p99 (nearest rank) and max in milliseconds, and the count."""
    ordered = sorted(seconds)
    if not ordered:
        return {"p50": None, "p99": None, "max": None, "count": 0}

    def rank(q: float) -> float:
        return _sig(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1e3)

    return {"p50": rank(0.5), "p99": rank(0.99), "max": _sig(ordered[-1] * 1e3),
            "count": len(ordered)}


# -- the benchmark --------------------------------------------------------------------------


async def measure(options: Options) -> Figures:
    p = plan(options.quick)
    config = EmulatorConfig(rate_limit_window=p.window, request_log_limit=100_000)
    with RedisServer() as redis, EmulatorProcess(TutorFlowEmulator, config) as emu:
        part1 = await throughput(emu, redis.url, p, options)
        part3 = await event_latency(emu, redis.url, p, options)
        # The overhead rounds get what is left, less a margin for closing down.
        part2 = await overhead(redis, p, options.deadline - 5)
    figures: Figures = {
        "limit_per_window": p.limit,
        "window_s": p.window,
        "sdk_margin_s": round(p.margin, 4),
        "ceiling W/(W+margin)": round(p.window / (p.window + p.margin), 4),
        "warmup_windows": p.warmup_windows,
        "measured_windows": p.measured_windows,
        "tasks_per_worker": p.concurrency,
        "table": fleet_table(part1["rows"]),
    }
    if part1["skipped_process_counts"]:
        figures["skipped (time limit), processes"] = part1["skipped_process_counts"]
    for concurrency in p.overhead_concurrency:
        o = part2[f"c={concurrency}"]
        tasks = "sequential" if concurrency == 1 else f"{concurrency} tasks"
        figures[f"µs per acquire+release, in-process, {tasks}"] = _sig(o["in_process_wall_us"])
        figures[f"µs per acquire+release, redis, {tasks}"] = _sig(o["redis_wall_us"])
        figures[f"redis / in-process, {tasks}"] = _sig(o["redis_over_in_process"])
        figures[f"redis: client CPU µs per pair, {tasks}"] = _sig(o["redis_client_cpu_us"])
        figures[f"redis: redis-server CPU µs per pair, {tasks}"] = _sig(o["redis_server_cpu_us"])
    figures["overhead rounds"] = min(part2[f"c={c}"]["rounds"] for c in p.overhead_concurrency)
    for label, field in (("event → wait ended in B", "wait_ended_ms"),
                         ("bus only, A's publish → B's subscription", "bus_only_ms")):
        spread = part3[field]
        for stat in ("p50", "p99", "max"):
            figures[f"ms {label}, {stat}"] = spread[stat]
        figures[f"{label}: waits"] = spread["count"]
    figures["ms event → wait ended, of it after the bus (result fetch), p50"] = (
        part3["bus_to_wait_ended_ms"]["p50"])
    figures["event waits planned"] = part3["planned"]
    figures["event waits not completed"] = sum(part3["not_completed"].values())
    figures["B: status polls"] = part3["b_poller"]["polls"]
    figures["B: result fetches"] = part3["b_poller"]["result_fetches"]
    figures["B: events heard"] = part3["b_poller"]["events"]
    figures["A: events published"] = part3["a_relay"]["published"]
    figures["raw"] = {"fleet_rows": part1["rows"], "overhead": part2, "events": part3}
    return figures


@benchmark(NAME, __doc__.splitlines()[0] if __doc__ else NAME, time_limit=180.0)
def run(options: Options) -> Figures:
    return asyncio.run(measure(options))


if __name__ == "__main__":
    role, args = sys.argv[1:2], sys.argv[2:]
    if role == ["--worker"]:
        raise SystemExit(worker_main(args))
    if role == ["--events-receiver"]:
        asyncio.run(relay_events(args[0], args[1]))
    elif role == ["--events-waiter"]:
        asyncio.run(wait_events(args[0], args[1], args[2], int(args[3])))
    else:
        raise SystemExit("usage: python -m benchmarks.fleet --worker BASE_URL REDIS_URL PREFIX "
                         "JOB_ID LIMIT WINDOW MARGIN CONCURRENCY | --events-receiver REDIS_URL "
                         "PREFIX | --events-waiter BASE_URL REDIS_URL PREFIX JOBS "
                         "(run by python -m benchmarks)")
