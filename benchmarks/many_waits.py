"""10,000 concurrent ``wait_for_expansion`` on one key, against a naive polling loop.

The TutorFlow emulator runs in another process with its rate-limit window scaled down to
1 s; each variant gets its own key of 2,000 requests per window and a fresh client
process (so that its peak RSS is its own), with the SDK's limiter set to the same window
(``TransportConfig(rate_limit_window=1.0)``, default margin of 0.25 s).

In each client: N jobs are created with another key of the organization (held ``queued``
until a common instant, then each finishes 0.5 to S seconds later, spread evenly), then
all N are waited for at once with the variant's key:

- **ours**: ``asyncio.gather`` of N ``wait_for_expansion`` (default intervals: first poll
  after 2 s, backing off 1.5x to 30 s; one shared poller per session);
- **naive**: ``asyncio.gather`` of N loops ``while True: get; if terminal: result; else
  sleep(1)`` calling ``s.expansions.get`` directly on the same kind of session.

Figures (of the waiting key only): wall time of the waits, polls (``GET .../{jobId}``,
from the emulator's counters) and polls per job, result fetches, 429s, the most requests
the emulator admitted in any 1 s window against the key's limit (must not exceed it),
peak RSS growth of the client during the waits (sampled), and how long after a job
finished its wait returned.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import statistics
import time
from typing import Any

import tutorflow_async as tf
from benchmarks.harness import Figures, Options, benchmark
from benchmarks.support import (
    CREATE_ROUTE,
    GET_JOB_ROUTE,
    GET_RESULT_ROUTE,
    EmulatorProcess,
    RssSampler,
    counter_delta,
    cpu_seconds,
    run_in_child,
    tutorflow_counters,
    tutorflow_key,
    tutorflow_max_in_window,
)
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

NAME = "many_waits"
WINDOW = 1.0
"""The rate-limit window, scaled from 60 s so that a run takes seconds."""
LIMIT = 2_000
"""Requests per window of each variant's key."""
NAIVE_SLEEP = 1.0
WAIT_TIMEOUT = 120.0
CREATE_RATE = 3_000
"""Creates per second the jobs' common start allows for (the emulator does about 4,000)."""
CREATE_CONCURRENCY = 32
MAX_NAIVE_POLLS = 1_000
"""Polls one naive loop may make (a bound; it needs a few dozen at most)."""
VARIANTS = ("ours", "naive")


def transport_config() -> tf.TransportConfig:
    return tf.TransportConfig(rate_limit_window=WINDOW)


async def create_jobs(
    base_url: str, creator_key: str, variant: str, n: int, spread: float
) -> tuple[list[str], float]:
    """N jobs held ``queued`` until ``ready`` (epoch s), then finishing 0.5..spread s after.

    They are made with another key of the organization (jobs belong to the organization),
    so that the waiting key's window holds the waits alone; a few creates at a time, each
    asking to be held until ``ready``, so that every job's duration counts from that one
    instant, whatever the order of creation.
    """
    ready = time.time() + n / CREATE_RATE + 0.5
    rng = random.Random(f"{variant}:{n}")
    durations = [0.5 + (spread - 0.5) * i / max(1, n - 1) for i in range(n)]
    rng.shuffle(durations)
    slots = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def create(i: int) -> str:
        async with slots:
            held = max(0.0, ready - time.time())
            knobs = {"queued_seconds": held, "processing_seconds": durations[i]}
            payload = {"level": {"id": f"{variant}-{i}"}, "_emulator": knobs}
            job = await s.expansions.create(payload)
            return job.id

    async with tf.ContentSession(creator_key, base_url=base_url, rate_limit_per_minute=None) as s:
        job_ids = await asyncio.gather(*(create(i) for i in range(n)))
    return list(job_ids), ready


async def naive_wait(s: tf.ContentSession, job_id: str) -> tf.ExpansionResult:
    for _ in range(MAX_NAIVE_POLLS):
        job = await s.expansions.get(job_id)
        if job.is_terminal:
            return await s.expansions.result(job_id)
        await asyncio.sleep(NAIVE_SLEEP)
    raise RuntimeError(f"naive wait for {job_id}: still running after {MAX_NAIVE_POLLS} polls")


async def client(
    base_url: str, creator_key: str, api_key: str, variant: str, n: int, spread: float
) -> Figures:
    """One variant, in a fresh process: create the jobs, then wait for all of them at once."""
    created = time.perf_counter()
    job_ids, ready = await create_jobs(base_url, creator_key, variant, n, spread)
    create_s = time.perf_counter() - created
    async with tf.ContentSession(
        api_key, base_url=base_url, rate_limit_per_minute=LIMIT, config=transport_config()
    ) as s:
        lags: list[float] = []
        finished: list[float] = []

        async def wait(job_id: str) -> None:
            if variant == "ours":
                result = await s.wait_for_expansion(job_id, timeout=WAIT_TIMEOUT)
            else:
                result = await naive_wait(s, job_id)
            done = result.job.completed_at
            if not result.job.is_completed or not isinstance(done, dt.datetime):
                raise RuntimeError(f"{variant}: job {job_id} did not complete")
            finished.append(done.timestamp())
            lags.append(time.time() - done.timestamp())

        began, started, cpu0 = time.time(), time.perf_counter(), cpu_seconds()
        with RssSampler(interval=0.01) as rss:
            async with asyncio.timeout(WAIT_TIMEOUT + 30):
                await asyncio.gather(*(wait(j) for j in job_ids))
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
        stats = s.poller.stats
    lags.sort()
    return {
        "jobs": n,
        "create_s": round(create_s, 3),
        "wall_s": round(wall, 3),
        "jobs_start_after_s": round(ready - began, 3),
        "last_job_done_after_s": round(max(finished) - began, 3),
        "client_cpu_s": round(cpu, 3),
        "rss_peak_growth_kib": round(rss.peak_growth / 1024, 1),
        "rss_start_mib": round(rss.start_rss / 2**20, 1),
        "lag_mean_s": round(statistics.fmean(lags), 3),
        "lag_p95_s": round(lags[int(0.95 * (len(lags) - 1))], 3),
        "lag_max_s": round(lags[-1], 3),
        "poller": {
            "polls": stats.polls,
            "result_fetches": stats.result_fetches,
            "transient_errors": stats.transient_errors,
        },
    }


async def one_variant(
    emu: EmulatorProcess, variant: str, n: int, spread: float, time_limit: float
) -> Figures:
    creator_key, _ = await emu.acall(tutorflow_key, f"many-waits-{variant}-creator", 10**9)
    api_key, key_id = await emu.acall(tutorflow_key, f"many-waits-{variant}", LIMIT)
    before = await emu.acall(tutorflow_counters)
    got: Figures = await asyncio.to_thread(
        run_in_child,
        client,
        emu.base_url,
        creator_key,
        api_key,
        variant,
        n,
        spread,
        timeout=time_limit,
    )
    delta = counter_delta(await emu.acall(tutorflow_counters), before)
    delta["by_route"].pop(CREATE_ROUTE, None)  # the creator key's, not the waits'
    polls = delta["by_route"].get(GET_JOB_ROUTE, 0)
    got.update(
        {
            "polls": polls,
            "polls_per_job": round(polls / n, 2),
            "result_fetches": delta["by_route"].get(GET_RESULT_ROUTE, 0),
            "requests": delta["requests"] - n,
            "rate_limited_429": delta["rate_limited"],
            "max_requests_in_window": await emu.acall(tutorflow_max_in_window, key_id),
            "limit_per_window": LIMIT,
        }
    )
    return got


async def measure(options: Options) -> Figures:
    n = options.pick(full=10_000, quick=1_000)
    spread = float(options.pick(full=10, quick=2))
    config = EmulatorConfig(
        rate_limit_window=WINDOW, queued_seconds=0.0, processing_seconds=0.2, request_log_limit=0
    )
    figures: Figures = {
        "waits": n,
        "job_durations_s": [0.5, spread],
        "rate_limit": f"{LIMIT} requests per {WINDOW:g} s window and key (scaled from 60 s)",
    }
    with EmulatorProcess(TutorFlowEmulator, config) as emu:
        for variant in VARIANTS:
            share = max(20.0, options.time_left() / 2)
            figures[variant] = await one_variant(emu, variant, n, spread, share)
    figures["table"] = table(figures)
    ours, naive = figures["ours"], figures["naive"]
    figures["ours_within_limit"] = ours["max_requests_in_window"] <= LIMIT
    figures["naive_within_limit"] = naive["max_requests_in_window"] <= LIMIT
    figures["polls_naive_over_ours"] = round(naive["polls"] / max(1, ours["polls"]), 2)
    return figures


def table(figures: Figures) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for variant in VARIANTS:
        f = figures[variant]
        rows.append(
            {
                "variant": variant,
                "waits": f["jobs"],
                "wall s": f["wall_s"],
                "polls": f["polls"],
                "polls/job": f["polls_per_job"],
                "results": f["result_fetches"],
                "429s": f["rate_limited_429"],
                "max in window": f["max_requests_in_window"],
                "limit": f["limit_per_window"],
                "within limit": f["max_requests_in_window"] <= f["limit_per_window"],
                "RSS growth MiB": round(f["rss_peak_growth_kib"] / 1024, 1),
                "client CPU s": f["client_cpu_s"],
                "lag mean s": f["lag_mean_s"],
                "lag p95 s": f["lag_p95_s"],
            }
        )
    return rows


@benchmark(NAME, __doc__.splitlines()[0] if __doc__ else NAME, time_limit=120.0)
def run(options: Options) -> Figures:
    return asyncio.run(measure(options))
