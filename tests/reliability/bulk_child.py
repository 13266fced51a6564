"""A bulk run in its own process, for the crash tests: killed at random, then re-run.

``crash_run`` is also what the in-process (cancelled) variant runs, so both variants
expand the same inputs with the same options.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncGenerator

import tutorflow_async as tf


def crash_run(
    session: tf.ContentSession, count: int, journal: str | os.PathLike[str]
) -> AsyncGenerator[tf.ExpansionOutcome, None]:
    """``count`` inputs through ``expand_many``, 25 at a time, journaled to ``journal``."""
    requests = [tf.ExpansionRequest({"level": {"id": f"crash-{i}"}}, label=str(i))
                for i in range(count)]
    return session.expand_many(requests, concurrency=25, journal=journal,
                               poll_interval=0.02, max_interval=0.1, timeout=60)


async def main(base_url: str, api_key: str, journal: str, count: int) -> None:
    async with tf.ContentSession(api_key, base_url=base_url,
                                 rate_limit_per_minute=1_000_000) as s:
        async for outcome in crash_run(s, count, journal):
            print(json.dumps({"index": outcome.index, "status": str(outcome.status),
                              "job": outcome.job_id, "journal": outcome.from_journal}),
                  flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
