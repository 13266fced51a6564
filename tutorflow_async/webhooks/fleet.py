"""Webhook events shared by a fleet: a delivery to any process ends waits in every one.

TutorFlow posts each event to one URL, so behind a load balancer it reaches one process
of a fleet, while the wait for that job may run in another. :class:`FleetWebhookEvents`
joins the two through an :class:`~edu_async_core.events.EventBus` (for Redis,
:class:`~edu_async_core.fleet.redis_events.RedisEventBus`, ``fleet.events()``):

- every process that runs a :class:`~tutorflow_async.webhooks.WebhookReceiver` hands it
  to ``relay()``; each terminal delivery it accepts is published on the bus, once for
  the whole fleet (the bus drops the repeats that reach a second process);
- every session is given the same object as its event source
  (``ContentSession(webhooks=events)``): its waits subscribe on the bus, and a wait that
  starts after its job's event finds the event the bus remembers.

Polling stays the fallback: a wait is first polled after the session's webhook fallback
interval, so an event lost in a Redis outage costs that delay, never the wait. A wait of
a process with its own receiver also hears that receiver directly, Redis or not.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Final

from edu_async_core.errors import FleetUnavailableError
from edu_async_core.events import EventBus
from edu_async_core.task_set import drain

from ..errors import InvalidArgumentError
from .delivery import WebhookDelivery, WebhookPayloadError, parse_delivery
from .receiver import WebhookReceiver

__all__ = ["FleetWebhookEvents"]

logger: Final = logging.getLogger("tutorflow_async")

#: Pauses between attempts to publish while the bus is unreachable, doubled up to the last.
PUBLISH_RETRY_FIRST: Final = 0.1
PUBLISH_RETRY_LAST: Final = 5.0


def encode(delivery: WebhookDelivery) -> str:
    """A delivery as the bus carries it: its event name and its signed JSON object."""
    return json.dumps({"event": delivery.event, "body": dict(delivery.raw)}, default=str)


def decode(payload: str) -> WebhookDelivery:
    """The delivery :func:`encode` wrote (read by the same tolerant reader as a body)."""
    try:
        envelope = json.loads(payload)
    except ValueError:
        raise WebhookPayloadError("malformed fleet event") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("body"), dict):
        raise WebhookPayloadError("malformed fleet event")
    event = envelope.get("event")
    return parse_delivery(envelope["body"], event_header=event if isinstance(event, str) else None)


def dedupe_id(delivery: WebhookDelivery) -> str:
    """What names one event for the whole fleet: the receiver's key ``(job, event, status)``."""
    return "\x1f".join("" if part is None else part for part in delivery.key)


class FleetWebhookEvents:
    """The event source of every session of a fleet, fed by every process's receiver.

    ``bus`` is the fleet's :class:`~edu_async_core.events.EventBus`; ``receiver`` (or
    later ``relay(receiver)``) is this process's webhook receiver, if it runs one. A
    publish that finds the bus unreachable is tried again, with a growing pause, for
    ``publish_patience`` seconds, then given up with a WARNING (the other processes'
    waits then end by polling).
    """

    def __init__(
        self,
        bus: EventBus,
        receiver: WebhookReceiver | None = None,
        *,
        publish_patience: float = 60.0,
    ) -> None:
        if isinstance(publish_patience, bool) or not isinstance(publish_patience, int | float):
            raise InvalidArgumentError("publish_patience", "must be a number of seconds")
        if not publish_patience >= 0:
            raise InvalidArgumentError("publish_patience", "must be >= 0")
        self._bus = bus
        self._patience = float(publish_patience)
        self._receivers: list[WebhookReceiver] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: Terminal deliveries this process published first / found published already
        #: (the sender delivered them to another process too) / could not publish.
        self.published = 0
        self.repeats = 0
        self.lost = 0
        if receiver is not None:
            self.relay(receiver)

    def __repr__(self) -> str:
        return f"FleetWebhookEvents(bus={self._bus!r}, receivers={len(self._receivers)})"

    def relay(self, receiver: WebhookReceiver) -> None:
        """Publish ``receiver``'s accepted terminal deliveries to the fleet."""
        if not isinstance(receiver, WebhookReceiver):
            raise InvalidArgumentError("receiver", "must be a WebhookReceiver")
        if receiver not in self._receivers:
            receiver.add_listener(self._heard)
            self._receivers.append(receiver)

    def _heard(self, delivery: WebhookDelivery) -> None:
        if not delivery.is_terminal:
            return  # waits end on terminal events only; the others stay local
        task = asyncio.create_task(
            self._publish(delivery), name=f"tutorflow-fleet-{delivery.job_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, delivery: WebhookDelivery) -> None:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._patience
        pause = PUBLISH_RETRY_FIRST
        warned = False
        while True:
            try:
                first = await self._bus.publish(
                    delivery.job_id, dedupe_id(delivery), encode(delivery)
                )
            except FleetUnavailableError:
                if loop.time() + pause > give_up_at:
                    self.lost += 1
                    logger.warning(
                        "webhook event of job %r not shared with the fleet: its bus stayed "
                        "unreachable for %.0fs; waits elsewhere end by polling",
                        delivery.job_id,
                        self._patience,
                        extra={"job_id": delivery.job_id},
                    )
                    return
                if not warned:
                    warned = True
                    logger.info(
                        "webhook event of job %r: fleet bus unreachable, trying again",
                        delivery.job_id,
                        extra={"job_id": delivery.job_id},
                    )
                await asyncio.sleep(pause)
                pause = min(pause * 2, PUBLISH_RETRY_LAST)
                continue
            except Exception as exc:  # a bus of another kind failing in its own way
                self.lost += 1
                logger.warning(
                    "webhook event of job %r not shared with the fleet: its bus failed "
                    "(%s); waits elsewhere end by polling",
                    delivery.job_id,
                    type(exc).__name__,
                    extra={"job_id": delivery.job_id},
                )
                return
            if first:
                self.published += 1
            else:
                self.repeats += 1
            return

    def subscribe(self, job_id: str) -> asyncio.Future[WebhookDelivery]:
        """A future for ``job_id``'s terminal event, from any process (cancel to stop)."""
        if not isinstance(job_id, str) or not job_id:
            raise InvalidArgumentError("job_id", "must be a non-empty string")
        outer: asyncio.Future[WebhookDelivery] = asyncio.get_running_loop().create_future()
        sources: list[asyncio.Future[Any]] = [self._bus.subscribe(job_id)]
        sources[0].add_done_callback(lambda done: _from_bus(outer, job_id, done))
        # This process's own receivers need no round trip (and work while Redis is down).
        for receiver in self._receivers:
            local = receiver.subscribe(job_id)
            local.add_done_callback(lambda done: _from_receiver(outer, done))
            sources.append(local)

        def stop(_: asyncio.Future[WebhookDelivery]) -> None:
            for source in sources:
                if not source.done():
                    source.cancel()

        outer.add_done_callback(stop)
        return outer

    async def flush(self) -> None:
        """Wait until every delivery heard so far is published (or given up)."""
        await drain(self._tasks)

    async def aclose(self) -> None:
        """Stop relaying, after publishing what was heard (the bus stays open)."""
        for receiver in self._receivers:
            receiver.remove_listener(self._heard)
        self._receivers.clear()
        await self.flush()

    async def __aenter__(self) -> FleetWebhookEvents:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _from_bus(
    outer: asyncio.Future[WebhookDelivery], job_id: str, done: asyncio.Future[str]
) -> None:
    if outer.done() or done.cancelled() or done.exception() is not None:
        return
    try:
        delivery = decode(done.result())
    except WebhookPayloadError as exc:
        # Left pending: the wait's polling ends it.
        logger.warning(
            "fleet event of job %r unreadable (%s); its wait goes on polling",
            job_id,
            exc,
            extra={"job_id": job_id},
        )
        return
    outer.set_result(delivery)


def _from_receiver(
    outer: asyncio.Future[WebhookDelivery], done: asyncio.Future[WebhookDelivery]
) -> None:
    if not outer.done() and not done.cancelled() and done.exception() is None:
        outer.set_result(done.result())
