"""FleetWebhookEvents in one process: what it relays, how it reads, when the bus is down."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import AsyncIterator

import pytest

import tutorflow_async as tf
from edu_async_core.fleet.redis_events import RedisEventBus
from tutorflow_async.webhooks import compute_signature
from tutorflow_async.webhooks import fleet as fleet_events

pytestmark = pytest.mark.fleet

SECRET = "whsec_test_fleet"


def signed(body: bytes) -> dict[str, str]:
    return {"X-Content-Integration-Signature": compute_signature(body, SECRET)}


def body(job_id: str, status: str = "completed", event: str = "content.completed") -> bytes:
    return (
        f'{{"event": "{event}", "jobId": "{job_id}", "status": "{status}", '
        f'"requestedOutputs": ["summary"], "extra": {{"kept": true}}}}'
    ).encode()


@pytest.fixture
async def bus(redis_url: str) -> AsyncIterator[RedisEventBus]:
    async with RedisEventBus(redis_url, prefix=f"wf{secrets.token_hex(4)}") as bus:
        yield bus


def test_the_bus_carries_a_delivery_unchanged() -> None:
    delivery = tf.webhooks.parse_delivery(body("j1"), event_header=None)
    again = fleet_events.decode(fleet_events.encode(delivery))
    assert again == delivery
    assert again.raw == delivery.raw
    with pytest.raises(tf.WebhookPayloadError):
        fleet_events.decode("[1, 2]")
    with pytest.raises(tf.WebhookPayloadError):
        fleet_events.decode("not json")


def test_the_dedupe_id_is_the_receivers_key() -> None:
    one = tf.webhooks.parse_delivery(body("j1"))
    failed = tf.webhooks.parse_delivery(body("j1", "failed", "content.failed"))
    assert fleet_events.dedupe_id(one) == fleet_events.dedupe_id(
        tf.webhooks.parse_delivery(body("j1"))
    )
    assert fleet_events.dedupe_id(one) != fleet_events.dedupe_id(failed)


async def test_two_processes_one_event(redis_url: str, bus: RedisEventBus) -> None:
    # Two receivers (two pods) get the same delivery; the waiting pod hears it once.
    async with (
        tf.WebhookReceiver(SECRET) as pod_a,
        tf.WebhookReceiver(SECRET) as pod_b,
        RedisEventBus(redis_url, prefix=bus.prefix) as waiting_bus,
    ):
        relay_a = tf.FleetWebhookEvents(bus, pod_a)
        relay_b = tf.FleetWebhookEvents(bus, pod_b)
        waiting = tf.FleetWebhookEvents(waiting_bus)
        future = waiting.subscribe("j2")
        await waiting_bus.listening()
        for pod in (pod_a, pod_b):
            assert pod.receive(body("j2"), signed(body("j2"))).status == 200
        await relay_a.flush()
        await relay_b.flush()
        delivery = await asyncio.wait_for(future, 5)
        assert (delivery.job_id, delivery.is_completed) == ("j2", True)
        assert relay_a.published + relay_b.published == 1
        assert relay_a.repeats + relay_b.repeats == 1
        assert waiting_bus.delivered == 1


async def test_only_terminal_deliveries_are_relayed(bus: RedisEventBus) -> None:
    async with tf.WebhookReceiver(SECRET) as receiver:
        relay = tf.FleetWebhookEvents(bus, receiver)
        running = body("j3", status="processing", event="content.progress")
        assert receiver.receive(running, signed(running)).status == 200
        await relay.flush()
        assert relay.published == 0


def _unreachable_bus() -> RedisEventBus:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return RedisEventBus(
        f"redis://127.0.0.1:{port}/0", client_options={"socket_connect_timeout": 0.2}
    )


async def test_with_the_bus_down_a_local_receiver_still_ends_local_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tutorflow_async")
    async with _unreachable_bus() as down, tf.WebhookReceiver(SECRET) as receiver:
        relay = tf.FleetWebhookEvents(down, receiver, publish_patience=0.3)
        future = relay.subscribe("j4")
        assert receiver.receive(body("j4"), signed(body("j4"))).status == 200
        delivery = await asyncio.wait_for(future, 5)  # from the receiver, no Redis needed
        assert delivery.job_id == "j4"
        await relay.flush()  # tried again for publish_patience, then given up
        assert (relay.published, relay.lost) == (0, 1)
        assert "fleet bus unreachable, trying again" in caplog.text
        assert "not shared with the fleet" in caplog.text


async def test_argument_checks(bus: RedisEventBus) -> None:
    with pytest.raises(tf.InvalidArgumentError, match="publish_patience"):
        tf.FleetWebhookEvents(bus, publish_patience=-1)
    relay = tf.FleetWebhookEvents(bus)
    with pytest.raises(tf.InvalidArgumentError, match="receiver"):
        relay.relay(object())  # type: ignore[arg-type]
    with pytest.raises(tf.InvalidArgumentError, match="job_id"):
        relay.subscribe("")


async def test_a_listener_that_raises_is_counted_not_fatal() -> None:
    async with tf.WebhookReceiver(SECRET) as receiver:

        def broken(_: tf.WebhookDelivery) -> None:
            raise RuntimeError("boom")

        receiver.add_listener(broken)
        future = receiver.subscribe("j5")
        assert receiver.receive(body("j5"), signed(body("j5"))).status == 200
        assert future.done()
        assert receiver.counters.callback_errors == 1
        assert receiver.remove_listener(broken)
        assert not receiver.remove_listener(broken)
