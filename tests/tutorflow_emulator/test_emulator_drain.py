"""``drain_webhooks()`` returns once every delivery finished, on every supported Python.

From CPython 3.12, ``asyncio.gather()`` over tasks already done returns without yielding to
the loop. The old ``drain`` looped on ``gather`` while waiting for done-callbacks to empty
its set of tasks; they never ran, so it spun for ever (``./dev test`` hung at 99 % on 3.12).
The check runs in a subprocess so that a regression fails by its timeout instead of hanging
the suite.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import asyncio

from tutorflow_async.testing import Counters, EmulatorConfig
from tutorflow_async.testing._webhooks import WebhookSender


async def main() -> None:
    sender = WebhookSender(EmulatorConfig(), Counters())

    async def delivered() -> None:
        return None

    task = asyncio.ensure_future(delivered())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    # Done, with the callback that takes it out of the set not run yet: what a delivery
    # that just finished looks like to drain().
    sender._tasks.add(task)
    task.add_done_callback(sender._tasks.discard)
    await sender.drain()
    print("drained", sender.in_flight)


asyncio.run(main())
"""


def test_drain_returns_when_the_last_delivery_is_already_done() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,  # noqa: S603 (our own script)
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "drained 0"
