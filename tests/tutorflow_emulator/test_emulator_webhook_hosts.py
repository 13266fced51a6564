"""Webhook deliveries go to loopback hosts only, unless the emulator is told otherwise."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from webhook_endpoint import Endpoint, serving_endpoint
from yarl import URL

from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator
from tutorflow_async.testing._webhooks import loopback_refusal

FAST = EmulatorConfig(
    queued_seconds=0.0,
    processing_seconds=0.0,
    webhook_retry_delay=0.01,
    webhook_max_attempts=2,
    tick_interval=0.005,
)


@pytest.fixture
async def receiver() -> AsyncIterator[Endpoint]:
    async with serving_endpoint() as endpoint:
        yield endpoint


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name resolved from now on; ``receiver.test`` resolves to 127.0.0.1."""
    seen: list[str] = []
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(host))
        if host == "receiver.test":
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    return seen


async def _hook(http: aiohttp.ClientSession, emu: TutorFlowEmulator, url: str) -> None:
    async with http.post(
        f"{emu.base_url}/v1/content/organizations/{emu.organization_id}/webhooks",
        json={"url": url, "events": ["content.completed"]},
        headers={"Cookie": f"jwt={emu.admin_jwt}"},
    ) as r:
        assert r.status == 201, await r.text()


async def _complete_a_job(http: aiohttp.ClientSession, emu: TutorFlowEmulator) -> None:
    key = emu.create_api_key(rate_limit_per_minute=100)
    async with http.post(
        f"{emu.base_url}/v1/content/integrations/expansions",
        json={"payload": {"a": 1}},
        headers={"Authorization": f"Bearer {key.api_key}"},
    ) as r:
        assert r.status == 200
    emu.advance(1)
    for _ in range(200):
        await emu.drain_webhooks()
        if emu.counters.webhook_deliveries + emu.counters.webhook_failures:
            break
        await _sleep()
    await emu.drain_webhooks()


async def _sleep() -> None:
    import asyncio

    await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/h",
        "http://127.255.0.9/h",
        "http://localhost:8080/h",
        "http://LOCALHOST/h",
        "https://[::1]:9/h",
        "http://[::ffff:127.0.0.1]/h",
    ],
)
def test_loopback_hosts_are_allowed(url: str) -> None:
    assert loopback_refusal(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/h",
        "http://192.0.2.1/h",
        "http://10.0.0.1/h",
        "http://[2001:db8::1]/h",
        "http://127.1/h",  # read as 127.0.0.1 by some resolvers, but not a loopback literal
        "http://localhost.example.com/h",
        "http://127.0.0.1.example.com/h",
        "http://0.0.0.0/h",
    ],
)
def test_other_hosts_are_refused_with_a_reason(url: str) -> None:
    reason = loopback_refusal(url)
    assert reason is not None
    assert "not a loopback address" in reason
    assert "webhook_allow_any_host" in reason


def test_an_unusable_url_is_refused_not_raised() -> None:
    reason = loopback_refusal("http://127.0.0.1:99999/h")
    assert reason is not None
    assert "unusable" in reason


async def test_by_default_a_foreign_host_is_recorded_failed_never_sent_nor_resolved(
    receiver: Endpoint, lookups: list[str]
) -> None:
    async with TutorFlowEmulator(FAST) as emu, aiohttp.ClientSession() as http:
        await _hook(http, emu, "http://receiver.test:1/hook")
        await _hook(http, emu, "http://192.0.2.1/hook")
        await _hook(http, emu, receiver.url)
        lookups.clear()
        await _complete_a_job(http, emu)
        failed = emu.failed_webhook_deliveries
        counters = emu.counters
    assert len(receiver.deliveries) == 1  # the loopback one still goes out
    assert sorted(f.url for f in failed) == ["http://192.0.2.1/hook", "http://receiver.test:1/hook"]
    for failure in failed:
        assert failure.attempts == 0
        assert failure.event == "content.completed"
        assert "not a loopback address" in failure.reason
    assert (counters.webhook_refused, counters.webhook_failures) == (2, 2)
    assert "receiver.test" not in lookups


async def test_the_knob_allows_other_hosts(receiver: Endpoint, lookups: list[str]) -> None:
    config = attrs.evolve(FAST, webhook_allow_any_host=True)
    # A name that only this test's resolver knows stands for "another host".
    url = str(URL(receiver.url).with_host("receiver.test"))
    async with TutorFlowEmulator(config) as emu, aiohttp.ClientSession() as http:
        await _hook(http, emu, url)
        await _complete_a_job(http, emu)
        assert emu.failed_webhook_deliveries == []
        assert emu.counters.webhook_refused == 0
    assert len(receiver.deliveries) == 1
    assert "receiver.test" in lookups


async def test_a_redirect_is_a_failed_attempt_never_followed() -> None:
    followed: list[str] = []

    async def bounce(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": "http://192.0.2.1/elsewhere"})

    async def elsewhere(request: web.Request) -> web.Response:
        followed.append(request.path)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", bounce)
    app.router.add_post("/elsewhere", elsewhere)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with TutorFlowEmulator(FAST) as emu, aiohttp.ClientSession() as http:
            await _hook(http, emu, f"http://{host}:{port}/hook")
            await _complete_a_job(http, emu)
            failed = emu.failed_webhook_deliveries
    finally:
        await runner.cleanup()
    assert followed == []
    assert [(f.attempts, f.reason) for f in failed] == [(2, "HTTP 307")]


def test_the_knob_is_a_bool() -> None:
    assert EmulatorConfig().webhook_allow_any_host is False
    with pytest.raises(TypeError):
        EmulatorConfig(webhook_allow_any_host="yes")  # type: ignore[arg-type]


@pytest.mark.tutorflow_emulator(webhook_allow_any_host=True)
async def test_the_plugin_marker_passes_the_knob_through(
    tutorflow_emulator: TutorFlowEmulator,
) -> None:
    assert tutorflow_emulator.config.webhook_allow_any_host is True


@pytest.mark.parametrize(("argv", "expected"), [([], False), (["--webhook-allow-any-host"], True)])
def test_the_cli_flag_sets_the_knob(argv: list[str], expected: bool) -> None:
    from tutorflow_async.cli import build_parser

    args = build_parser().parse_args(["emulator", *argv])
    assert args.webhook_allow_any_host is expected
