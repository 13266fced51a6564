"""One worker of a fleet test: creates and waits for its share of inputs on one shared key.

Run by tests/fleet/test_fleet_processes.py as a real subprocess::

    python fleet_worker.py BASE_URL REDIS_URL PREFIX WORKER COUNT LIMIT WINDOW \
        [CONCURRENCY [POLL_INTERVAL]]

The key comes from ``$TUTORFLOW_CONTENT_API_KEY`` (never on the command line). The fleet's
policy for an unreachable Redis comes from ``$FLEET_ON_UNAVAILABLE`` (``fail``, the
default, or ``local``), ``$FLEET_EXPECTED_PROCESSES`` and ``$FLEET_UNAVAILABLE_TIMEOUT``;
an input whose call failed is printed as ``{"input", "error"}``, and the last line also
says how many Redis outages the worker saw and how long the last one lasted. Every
request carries ``fleet-worker/WORKER`` in its ``User-Agent``, so the emulator can aim a
fault at one worker and its request log tells the workers apart. Each finished input is
printed as one JSON line ``{"input", "job", "status"}``; the last line is
``{"done": true, ...}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import tutorflow_async as tf
from edu_async_core.fleet.redis import RedisFleet
from tutorflow_async.defaults import TUTORFLOW_USER_AGENT

CONCURRENCY = 8
POLL_INTERVAL = 0.3
WAIT_TIMEOUT = 60.0


def user_agent(worker: int) -> str:
    """The ``User-Agent`` of worker ``worker`` (the SDK's own, then the worker's name)."""
    return f"{TUTORFLOW_USER_AGENT} fleet-worker/{worker}"


def payload(worker: int, index: int) -> dict[str, object]:
    return {"level": {"id": f"w{worker}-{index}", "lessons": [{"id": "l1", "type": "dialogue"}]}}


def emit(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def main(argv: list[str]) -> None:
    base_url, redis_url, prefix = argv[0], argv[1], argv[2]
    worker, count, limit, window = int(argv[3]), int(argv[4]), int(argv[5]), float(argv[6])
    concurrency = int(argv[7]) if len(argv) > 7 else CONCURRENCY
    poll_interval = float(argv[8]) if len(argv) > 8 else POLL_INTERVAL
    config = tf.TransportConfig(
        rate_limit_window=window,
        rate_limit_margin=0.2,
        timeout=3.0,
        user_agent=user_agent(worker),
    )
    gate = asyncio.Semaphore(concurrency)
    policy = os.environ.get("FLEET_ON_UNAVAILABLE", "fail")
    expected = os.environ.get("FLEET_EXPECTED_PROCESSES")
    async with (
        RedisFleet(
            redis_url,
            prefix=prefix,
            lease_margin=1.0,
            on_unavailable=policy,
            expected_processes=int(expected) if expected else None,
            unavailable_timeout=float(os.environ.get("FLEET_UNAVAILABLE_TIMEOUT", "10")),
            probe_interval=0.25,
        ) as fleet,
        tf.ContentSession(
            base_url=base_url,
            rate_limit_per_minute=limit,
            config=config,
            fleet=fleet,
            poll_interval=poll_interval,
            max_interval=max(1.0, poll_interval),
        ) as session,
    ):

        async def one(index: int) -> None:
            name = f"w{worker}-{index}"
            async with gate:
                try:
                    job = await session.expansions.create(payload(worker, index))
                    result = await session.wait_for_expansion(job.id, timeout=WAIT_TIMEOUT)
                except tf.TutorFlowError as exc:
                    emit({"input": name, "error": type(exc).__name__})
                    return
                emit({"input": name, "job": job.id, "status": result.job.status})

        await asyncio.gather(*(one(i) for i in range(count)))
        outage = fleet.outage()
    emit({
        "done": True, "worker": worker, "outages": outage.count,
        "outage_seconds": outage.last_duration,
    })


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
