"""Webhook deliveries: signed bodies, event filtering, retries, drops and duplicates."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from webhook_endpoint import Endpoint, serving_endpoint

from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

FAST = EmulatorConfig(
    queued_seconds=0.0,
    processing_seconds=0.0,
    webhook_retry_delay=0.01,
    webhook_max_attempts=3,
    tick_interval=0.005,
)


@pytest.fixture
async def receiver() -> AsyncIterator[Endpoint]:
    async with serving_endpoint() as endpoint:
        yield endpoint


async def _eventually(check: Callable[[], bool]) -> None:
    # Polls because the counters being watched live in the emulator, not behind an event.
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached within 2 s")


async def _hook(
    http: aiohttp.ClientSession, emu: TutorFlowEmulator, url: str, events: list[str]
) -> dict[str, Any]:
    async with http.post(
        f"{emu.base_url}/v1/content/organizations/{emu.organization_id}/webhooks",
        json={"url": url, "events": events},
        headers={"Cookie": f"jwt={emu.admin_jwt}"},
    ) as r:
        assert r.status == 201
        hook: dict[str, Any] = await r.json()
    return hook


async def _expand(
    http: aiohttp.ClientSession, emu: TutorFlowEmulator, api_key: str, *, fail: bool = False
) -> str:
    payload: dict[str, Any] = {"title": "t", "_emulator": {"fail": fail}}
    async with http.post(
        f"{emu.base_url}/v1/content/integrations/expansions",
        json={"payload": payload, "requestedOutputs": ["interactive_module", "expanded_quiz"]},
        headers={"Authorization": f"Bearer {api_key}"},
    ) as r:
        assert r.status == 200
        job_id: str = (await r.json())["job"]["id"]
    return job_id


async def test_terminal_jobs_are_delivered_signed_per_event(
    receiver: Endpoint, http: aiohttp.ClientSession
) -> None:
    async with TutorFlowEmulator(FAST) as emu:
        everything = await _hook(http, emu, receiver.url, ["content.completed", "content.failed"])
        only_failed = await _hook(http, emu, receiver.url + "?only=failed", ["content.failed"])
        key = emu.create_api_key().api_key
        ok_id = await _expand(http, emu, key)
        bad_id = await _expand(http, emu, key, fail=True)
        await _eventually(lambda: len(receiver.deliveries) == 3)
        await emu.drain_webhooks()
        assert emu.counters.webhook_deliveries == 3
        assert emu.counters.webhook_failures == 0

    secrets = {everything["secret"], only_failed["secret"]}
    seen: list[tuple[str, str]] = []
    for delivery in receiver.deliveries:
        event = delivery.headers["X-Content-Integration-Event"]
        assert delivery.headers["Content-Type"] == "application/json"
        signature = delivery.headers["X-Content-Integration-Signature"]
        # Signed over the raw bytes, with the secret of the hook it went to.
        assert any(
            hmac.compare_digest(
                signature, hmac.new(s.encode(), delivery.body, hashlib.sha256).hexdigest()
            )
            for s in secrets
        )
        body = json.loads(delivery.body)
        assert body["event"] == event
        assert body["requestedOutputs"] == ["interactive_module", "expanded_quiz"]
        assert body["sourceType"] == "source_json"
        assert body["completedAt"].endswith("Z")
        assert body["status"] == event.removeprefix("content.")
        seen.append((event, body["jobId"]))
    assert sorted(seen) == sorted(
        [("content.completed", ok_id), ("content.failed", bad_id), ("content.failed", bad_id)]
    )


async def test_failed_deliveries_are_retried(
    receiver: Endpoint, http: aiohttp.ClientSession
) -> None:
    receiver.fail_next = 2
    async with TutorFlowEmulator(FAST) as emu:
        await _hook(http, emu, receiver.url, ["content.completed"])
        await _expand(http, emu, emu.create_api_key().api_key)
        await _eventually(lambda: len(receiver.deliveries) == 1)
        await emu.drain_webhooks()
        assert emu.counters.webhook_failures == 2
        assert emu.counters.webhook_deliveries == 1


async def test_delivery_gives_up_after_max_attempts(
    receiver: Endpoint, http: aiohttp.ClientSession
) -> None:
    receiver.fail_next = 100
    async with TutorFlowEmulator(FAST) as emu:
        await _hook(http, emu, receiver.url, ["content.completed"])
        await _expand(http, emu, emu.create_api_key().api_key)
        await _eventually(lambda: receiver.failures_answered == 3)
        await emu.drain_webhooks()
        assert emu.counters.webhook_failures == 3
        assert emu.counters.webhook_deliveries == 0


async def test_unreachable_receiver_counts_failures(http: aiohttp.ClientSession) -> None:
    async with TutorFlowEmulator(FAST) as emu:
        # Port 1 on loopback: nothing listens there, so every attempt is refused.
        await _hook(http, emu, "http://127.0.0.1:1/hook", ["content.completed"])
        await _expand(http, emu, emu.create_api_key().api_key)
        await _eventually(lambda: emu.counters.webhook_failures == 3)


async def test_dropped_and_duplicated_deliveries(
    receiver: Endpoint, http: aiohttp.ClientSession
) -> None:
    async with TutorFlowEmulator(attrs.evolve(FAST, webhook_duplicate_rate=1.0)) as emu:
        await _hook(http, emu, receiver.url, ["content.completed"])
        emu.drop_webhooks(1)
        key = emu.create_api_key().api_key
        lost = await _expand(http, emu, key)
        await _eventually(lambda: emu.counters.webhook_dropped == 1)
        kept = await _expand(http, emu, key)
        await _eventually(lambda: len(receiver.deliveries) == 2)
        await emu.drain_webhooks()
    job_ids = [json.loads(d.body)["jobId"] for d in receiver.deliveries]
    assert job_ids == [kept, kept]
    assert lost not in job_ids
    assert receiver.deliveries[0].body == receiver.deliveries[1].body


async def test_deleted_webhooks_and_exports(
    receiver: Endpoint, http: aiohttp.ClientSession
) -> None:
    async with TutorFlowEmulator(FAST) as emu:
        gone = await _hook(http, emu, receiver.url + "?gone", ["content.completed"])
        await _hook(http, emu, receiver.url, ["content.completed"])
        admin = {"Cookie": f"jwt={emu.admin_jwt}"}
        orgs = f"{emu.base_url}/v1/content/organizations/{emu.organization_id}"
        async with http.delete(f"{orgs}/webhooks/{gone['id']}", headers=admin) as r:
            assert r.status == 200
        url = f"{emu.base_url}/v1/content/classrooms/c1/integrations/exports"
        async with http.post(url, json={"lessonId": "l1"}, headers=admin) as r:
            job_id = (await r.json())["job"]["id"]
        await _eventually(lambda: len(receiver.deliveries) == 1)
        await emu.drain_webhooks()
    body = json.loads(receiver.deliveries[0].body)
    assert (body["jobId"], body["sourceType"]) == (job_id, "ui_authored")


async def test_close_leaves_no_tasks_behind(http: aiohttp.ClientSession) -> None:
    hanging = asyncio.Event()

    async def never_answers(request: web.Request) -> web.Response:
        hanging.set()
        await asyncio.sleep(30)
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", never_answers)
    # The receiver's handler must die with the connection the emulator drops, so that any
    # task left afterwards can only be the emulator's.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    before = asyncio.all_tasks()
    emu = TutorFlowEmulator(FAST)
    try:
        await emu.start()
        await _hook(http, emu, f"http://{host}:{port}/hook", ["content.completed"])
        await _expand(http, emu, emu.create_api_key().api_key)
        await asyncio.wait_for(hanging.wait(), 2)
        assert emu.counters.webhook_deliveries == 0  # still in flight
    finally:
        await emu.close()
        await emu.close()  # idempotent
        await runner.cleanup()
    await asyncio.sleep(0)
    leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert leftover == set()
