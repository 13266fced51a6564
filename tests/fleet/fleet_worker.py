"""One worker of a fleet test: creates and waits for its share of inputs on one shared key.

Run by tests/fleet/test_fleet_processes.py as a real subprocess::

    python fleet_worker.py BASE_URL REDIS_URL PREFIX WORKER COUNT LIMIT WINDOW

The key comes from ``$TUTORFLOW_CONTENT_API_KEY`` (never on the command line). Each
finished input is printed as one JSON line ``{"input", "job", "status"}``; the last line
is ``{"done": true, ...}``.
"""

from __future__ import annotations

import asyncio
import json
import sys

import tutorflow_async as tf
from edu_async_core.fleet.redis import RedisFleet

CONCURRENCY = 8
WAIT_TIMEOUT = 60.0


def payload(worker: int, index: int) -> dict[str, object]:
    return {"level": {"id": f"w{worker}-{index}", "lessons": [{"id": "l1", "type": "dialogue"}]}}


def emit(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def main(argv: list[str]) -> None:
    base_url, redis_url, prefix = argv[0], argv[1], argv[2]
    worker, count, limit, window = int(argv[3]), int(argv[4]), int(argv[5]), float(argv[6])
    config = tf.TransportConfig(rate_limit_window=window, rate_limit_margin=0.2, timeout=3.0)
    gate = asyncio.Semaphore(CONCURRENCY)
    async with (
        RedisFleet(redis_url, prefix=prefix, lease_margin=1.0) as fleet,
        tf.ContentSession(
            base_url=base_url,
            rate_limit_per_minute=limit,
            config=config,
            fleet=fleet,
            poll_interval=0.3,
            max_interval=1.0,
        ) as session,
    ):

        async def one(index: int) -> None:
            async with gate:
                job = await session.expansions.create(payload(worker, index))
                result = await session.wait_for_expansion(job.id, timeout=WAIT_TIMEOUT)
                emit({"input": f"w{worker}-{index}", "job": job.id, "status": result.job.status})

        await asyncio.gather(*(one(i) for i in range(count)))
    emit({"done": True, "worker": worker})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
