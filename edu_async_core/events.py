"""What an SDK needs from a bus that carries events between the processes of a fleet.

A webhook delivery reaches one process of a fleet; the wait for its job may run in
another. An :class:`EventBus` carries each event, once, to every process: the process
that received it publishes it under a topic (a job id) with a de-duplication id, and any
process subscribed to that topic gets it, including one that subscribed after it was
published (the bus remembers the last event of each topic for a while, since a broadcast
does not replay).

Nothing here imports a store's client: :class:`~edu_async_core.fleet.redis_events.RedisEventBus`
(the ``[redis]`` extra) is one implementation, and an SDK only ever sees this protocol.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["EventBus"]


class EventBus(Protocol):
    """Publish an event under a topic once per fleet; subscribe to a topic's next event."""

    async def publish(self, topic: str, dedupe_id: str, payload: str) -> bool:
        """Send ``payload`` to every subscriber of ``topic`` in every process.

        ``dedupe_id`` names the event: a second publish of the same id (the sender
        delivered it twice, to two processes) is dropped. Returns whether this call was
        the first. Raises :class:`~edu_async_core.errors.FleetUnavailableError` when the
        bus cannot be reached (the event is then not published).
        """
        ...

    def subscribe(self, topic: str) -> asyncio.Future[str]:
        """A future resolved with the payload of ``topic``'s event, the one already
        published (and still remembered) or the next; cancel it to unsubscribe."""
        ...
