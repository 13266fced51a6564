"""``expand_many`` of 1,000 inputs under a 600-per-window key: pacing, 429s, webhooks.

The TutorFlow emulator runs in another process with every duration scaled down 10x: its
rate-limit window is 6 s (instead of 60 s) and the key allows 600 requests per window, a
600/min key at ten times the speed (100 requests/s). The SDK's limiter gets the same
window (``TransportConfig(rate_limit_window=6.0)``, default margin of 0.25 s, which is
not scaled). Jobs take 0.25 s (emulator defaults); ``expand_many`` runs with its defaults
(concurrency 100, first poll after 2 s).

Two variants, one after the other, each with its own key:

- **polling**: every job costs at least a create, one poll and a result fetch, so the
  rate limit alone needs ``3 N / rate`` seconds; the target is a wall time of at most
  1.1x that, with no 429;
- **webhooks**: a ``WebhookReceiver`` served on 127.0.0.1, registered through
  ``AdminSession.webhooks.create`` and passed as ``ContentSession(webhooks=receiver)``:
  a terminal event ends a wait, so a job needs only a create and a result (``2 N /
  rate``); the target is at most 1.05 polls per job beyond those two.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import tutorflow_async as tf
from benchmarks.harness import Figures, Options, benchmark
from benchmarks.support import (
    CREATE_ROUTE,
    GET_JOB_ROUTE,
    GET_RESULT_ROUTE,
    EmulatorProcess,
    counter_delta,
    cpu_seconds,
    tutorflow_counters,
    tutorflow_drain_webhooks,
    tutorflow_key,
    tutorflow_max_in_window,
)
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator
from tutorflow_async.webhooks import WebhookReceiver

NAME = "bulk_run"
SCALE = 10.0
"""Every duration of the emulator is this many times shorter than the real API's."""
WINDOW = 60.0 / SCALE
LIMIT = 600
"""Requests per window of the key: a 600/min key, at ``SCALE`` times the speed."""
RATE = LIMIT / WINDOW
TARGET_WALL_RATIO = 1.1
TARGET_WEBHOOK_POLLS = 1.05
WAIT_TIMEOUT = 120.0
EVENTS = ["content.completed", "content.failed"]


def inputs(variant: str, n: int) -> list[tf.ExpansionRequest]:
    return [
        tf.ExpansionRequest({"level": {"id": f"{variant}-{i}", "lessons": [{"id": "l1"}]}})
        for i in range(n)
    ]


@contextlib.asynccontextmanager
async def hooked_receiver(base_url: str) -> AsyncIterator[WebhookReceiver]:
    """A receiver served on 127.0.0.1 and registered as the organization's webhook.

    The secret exists only once the webhook is created, which needs the URL: serve with
    a placeholder, create the webhook, set its secret; the webhook is deleted after.
    """
    config = EmulatorConfig()
    async with (
        tf.AdminSession.login(
            config.admin_email, config.admin_password, base_url=base_url
        ) as admin,
        WebhookReceiver("whsec_placeholder_until_created") as receiver,
        receiver.serve() as url,
    ):
        hook = await admin.webhooks.create(url, events=EVENTS)
        receiver.set_secret(hook.secret)
        try:
            yield receiver
        finally:
            await admin.webhooks.delete(hook.id)


async def run_variant(
    emu: EmulatorProcess, variant: str, n: int, receiver: WebhookReceiver | None
) -> Figures:
    api_key, key_id = await emu.acall(tutorflow_key, f"bulk-{variant}", LIMIT)
    before = await emu.acall(tutorflow_counters)
    statuses: collections.Counter[str] = collections.Counter()
    async with tf.ContentSession(
        api_key,
        base_url=emu.base_url,
        rate_limit_per_minute=LIMIT,
        config=tf.TransportConfig(rate_limit_window=WINDOW),
        webhooks=receiver,
    ) as s:
        started, cpu0 = time.perf_counter(), cpu_seconds()
        async with asyncio.timeout(WAIT_TIMEOUT + 30):
            async for outcome in s.expand_many(inputs(variant, n), timeout=WAIT_TIMEOUT):
                statuses[outcome.status.value] += 1
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
        stats = s.poller.stats
    if receiver is not None:
        await emu.acall_async(tutorflow_drain_webhooks)
    delta = counter_delta(await emu.acall(tutorflow_counters), before)
    if statuses != {"completed": n}:
        raise RuntimeError(f"{variant}: outcomes {dict(statuses)}, expected {n} completed")
    routes = delta["by_route"]
    creates, polls = routes.get(CREATE_ROUTE, 0), routes.get(GET_JOB_ROUTE, 0)
    results = routes.get(GET_RESULT_ROUTE, 0)
    needed = n * (2 if receiver is not None else 3)
    minimum = needed / RATE
    return {
        "inputs": n,
        "wall_s": round(wall, 3),
        "requests": delta["requests"],
        "creates": creates,
        "polls": polls,
        "results": results,
        "polls_per_job": round(polls / n, 3),
        "requests_needed": needed,
        "minimum_s": round(minimum, 3),
        "wall_over_minimum": round(wall / minimum, 3),
        "wall_over_requests_made": round(wall / (delta["requests"] / RATE), 3),
        # A sliding window lets the first LIMIT requests go at once: the true lower bound.
        "sliding_window_bound_s": round((math.ceil(needed / LIMIT) - 1) * WINDOW, 3),
        "rate_limited_429": delta["rate_limited"],
        "max_requests_in_window": await emu.acall(tutorflow_max_in_window, key_id),
        "client_cpu_s": round(cpu, 3),
        "poller_events": stats.events,
        "webhook_deliveries": delta["webhook_deliveries"],
    }


async def measure(options: Options) -> Figures:
    n = options.pick(full=1_000, quick=100)
    config = EmulatorConfig(rate_limit_window=WINDOW, request_log_limit=0)
    figures: Figures = {
        "inputs": n,
        "rate_limit": f"{LIMIT} requests per {WINDOW:g} s window (a 600/min key, {SCALE:g}x "
        f"faster: {RATE:g} requests/s)",
        "job_seconds": config.queued_seconds + config.processing_seconds,
    }
    with EmulatorProcess(TutorFlowEmulator, config) as emu:
        figures["polling"] = await run_variant(emu, "polling", n, None)
        async with hooked_receiver(emu.base_url) as receiver:
            figures["webhooks"] = await run_variant(emu, "webhooks", n, receiver)
            figures["webhooks"]["receiver_accepted"] = receiver.counters.accepted
    polling, hooks = figures["polling"], figures["webhooks"]
    figures["table"] = table(figures)
    figures["meets_wall_target"] = polling["wall_over_minimum"] <= TARGET_WALL_RATIO
    figures["no_429"] = polling["rate_limited_429"] == 0 and hooks["rate_limited_429"] == 0
    figures["meets_webhook_poll_target"] = hooks["polls_per_job"] <= TARGET_WEBHOOK_POLLS
    return figures


def table(figures: Figures) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for variant in ("polling", "webhooks"):
        f = figures[variant]
        rows.append(
            {
                "variant": variant,
                "inputs": f["inputs"],
                "wall s": f["wall_s"],
                "minimum s": f["minimum_s"],
                "wall/minimum": f["wall_over_minimum"],
                "target": f"<= {TARGET_WALL_RATIO}" if variant == "polling" else "—",
                "requests": f["requests"],
                "polls/job": f["polls_per_job"],
                "poll target": f"<= {TARGET_WEBHOOK_POLLS}" if variant == "webhooks" else "—",
                "429s": f["rate_limited_429"],
                "max in window": f["max_requests_in_window"],
                "limit": LIMIT,
            }
        )
    return rows


@benchmark(NAME, __doc__.splitlines()[0] if __doc__ else NAME, time_limit=120.0)
def run(options: Options) -> Figures:
    return asyncio.run(measure(options))
