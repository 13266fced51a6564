"""One process of the fleet webhook test: a receiver that relays, or a session that waits.

Run by tests/fleet/test_fleet_events.py as a real subprocess::

    python event_worker.py receiver BASE_URL REDIS_URL PREFIX
    python event_worker.py waiter BASE_URL REDIS_URL PREFIX COUNT FALLBACK

The receiver logs in as the emulator's admin (``$TUTORFLOW_ADMIN_EMAIL`` and
``$TUTORFLOW_ADMIN_PASSWORD``), serves a :class:`WebhookReceiver`, registers it as the
emulator's webhook and relays its terminal events to the fleet; it prints
``{"url"}`` once, ``{"relayed", "published"}`` per event, and runs until its stdin closes.

The waiter (``$TUTORFLOW_CONTENT_API_KEY``) has no receiver: its waits hear the fleet's
bus, and it polls a job first ``FALLBACK`` seconds in. It creates ``COUNT`` jobs and
waits for all but the last at once; it creates the last, prints ``{"created"}``, and
waits for it only once a line arrives on stdin (so its event was published before the
wait began). It prints ``{"input", "job", "status", "seconds"}`` per job, then
``{"done", "polls", "events", "fetches"}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import tutorflow_async as tf
from edu_async_core.fleet.redis import RedisFleet

WAIT_TIMEOUT = 30.0


def emit(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def stdin_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def receiver(base_url: str, redis_url: str, prefix: str) -> None:
    async with (
        RedisFleet(redis_url, prefix=prefix) as fleet,
        tf.WebhookReceiver("not-known-yet") as receiver,
        receiver.serve(port=0) as url,
        tf.FleetWebhookEvents(fleet.events("webhooks"), receiver) as events,
        tf.AdminSession.login(
            os.environ["TUTORFLOW_ADMIN_EMAIL"],
            os.environ["TUTORFLOW_ADMIN_PASSWORD"],
            organization_id=os.environ["TUTORFLOW_ORGANIZATION_ID"],
            base_url=base_url,
        ) as admin,
    ):
        hook = await admin.webhooks.create(url)
        receiver.set_secret(hook.secret)

        async def report(delivery: tf.WebhookDelivery) -> None:
            await events.flush()
            emit({"relayed": delivery.job_id, "published": events.published})

        tasks: set[asyncio.Task[None]] = set()

        def heard(delivery: tf.WebhookDelivery) -> None:
            task = asyncio.create_task(report(delivery))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        receiver.add_listener(heard)
        emit({"url": url})
        await stdin_line()  # until the test closes our stdin


def payload(index: int) -> dict[str, object]:
    return {"level": {"id": f"ev-{index}", "lessons": [{"id": "l1", "type": "dialogue"}]}}


async def waiter(base_url: str, redis_url: str, prefix: str, count: int, fallback: float) -> None:
    async with RedisFleet(redis_url, prefix=prefix) as fleet:
        events = tf.FleetWebhookEvents(fleet.events("webhooks"))
        async with tf.ContentSession(base_url=base_url, fleet=fleet) as session:
            session.attach_webhooks(events, fallback_interval=fallback)

            async def one(index: int, job_id: str) -> None:
                started = time.monotonic()
                result = await session.wait_for_expansion(job_id, timeout=WAIT_TIMEOUT)
                emit(
                    {
                        "input": f"ev-{index}",
                        "job": job_id,
                        "status": result.job.status,
                        "seconds": time.monotonic() - started,
                    }
                )

            jobs = [await session.expansions.create(payload(i)) for i in range(count - 1)]
            waits = [asyncio.create_task(one(i, job.id)) for i, job in enumerate(jobs)]
            late = await session.expansions.create(payload(count - 1))
            emit({"created": late.id})
            await stdin_line()  # the test saw this job's event relayed
            await one(count - 1, late.id)
            await asyncio.gather(*waits)
            stats = session.poller.stats
            emit(
                {
                    "done": True,
                    "polls": stats.polls,
                    "events": stats.events,
                    "fetches": stats.result_fetches,
                }
            )


if __name__ == "__main__":
    role, args = sys.argv[1], sys.argv[2:]
    if role == "receiver":
        asyncio.run(receiver(args[0], args[1], args[2]))
    else:
        asyncio.run(waiter(args[0], args[1], args[2], int(args[3]), float(args[4])))
