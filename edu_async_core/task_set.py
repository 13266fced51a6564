"""Waiting for a set of background tasks that removes its members as they finish."""

from __future__ import annotations

import asyncio
from typing import Any


async def drain(tasks: set[asyncio.Task[Any]]) -> None:
    """Return once ``tasks`` is empty, counting tasks added to it meanwhile.

    Finished tasks are taken out here rather than left to their done-callbacks: from
    Python 3.12, ``gather()`` over tasks that are already done returns without yielding to
    the loop, so a ``while tasks: await gather(*tasks)`` loop never lets those callbacks
    run and spins for ever.
    """
    while tasks:
        done, _ = await asyncio.wait(set(tasks))
        tasks -= done
