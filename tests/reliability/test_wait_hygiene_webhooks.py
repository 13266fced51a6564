"""10,000 waits with a webhook receiver attached leave nothing behind in it.

Before the fix each wait that ended without its event (by a time-out, or by polling when
the event was lost) left its subscription future in the receiver: 503 were left after
500 waits, so a long-running service's memory grew with every job it ever waited for.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc

from reliability.figures import FigureBook, Scenario, stray_tasks

import tutorflow_async as tf
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator
from tutorflow_async.webhooks import WebhookReceiver

PAYLOAD = {"level": {"id": "h1", "lessons": [{"id": "l1", "type": "vocabulary"}]}}
WAITS = 10_000
BY_POLLING = 200


async def test_ten_thousand_waits_leave_no_subscription_and_no_task(figures: FigureBook) -> None:
    before = set(asyncio.all_tasks())
    started = time.monotonic()
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.05)
    async with TutorFlowEmulator(config) as emu:
        issued = emu.create_api_key(name="hygiene", rate_limit_per_minute=1_000_000)
        receiver = WebhookReceiver("not-registered")  # no hook: every event is "lost"
        async with tf.ContentSession(issued.api_key, base_url=emu.base_url, webhooks=receiver,
                                     rate_limit_per_minute=1_000_000) as s:
            s.attach_webhooks(receiver, fallback_interval=0.05)
            # Waits that end by polling, their events lost.
            jobs = [await s.expansions.create({**PAYLOAD, "n": n}) for n in range(BY_POLLING)]
            done = await asyncio.gather(*(s.wait_for_expansion(j.id, timeout=20,
                                                               poll_interval=0.05,
                                                               max_interval=0.1)
                                          for j in jobs))
            assert all(r.job.is_completed for r in done)
            # Waits that time out, in rounds, while memory is watched.
            tracemalloc.start()
            peaks: list[int] = []
            for _ in range(10):
                results = await asyncio.gather(
                    *(s.wait_for_expansion(f"job-never-{i}", timeout=0.01)
                      for i in range(WAITS // 10)),
                    return_exceptions=True,
                )
                assert all(isinstance(r, tf.ExpansionTimeoutError) for r in results)
                await asyncio.sleep(0)
                gc.collect()
                peaks.append(tracemalloc.get_traced_memory()[0])
            tracemalloc.stop()
            await asyncio.sleep(0.05)
            subscriptions = receiver.subscriptions
            watched = s.poller.stats.watched
            left = len(stray_tasks(before))
    growth = peaks[-1] - peaks[0]
    figures.record(Scenario(
        name=f"webhooks attached: {WAITS:,} waits timed out + {BY_POLLING} ended by polling",
        inputs=WAITS + BY_POLLING, outcomes=WAITS + BY_POLLING,
        requests=emu.counters.requests, leaked=subscriptions + watched + left,
        wall_s=time.monotonic() - started,
        note=f"subscriptions left {subscriptions}, watches left {watched}, tasks left {left}; "
             f"traced memory between the first and last of 10 rounds {growth / 1024:+.0f} KiB",
    ))
    assert subscriptions == 0 and watched == 0 and left == 0
    assert growth < 512 * 1024, f"memory grew {growth} bytes over 9 rounds of 1,000 waits"
