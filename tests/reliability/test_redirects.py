"""Credentials never follow a redirect to another host (real servers on two loopback hosts)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import nexttech_async as nt
import tutorflow_async as tf

KEY = "tf_content_RedirectSecret0123456789"


@pytest.fixture
async def servers() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A server on 127.0.0.1 that redirects to a collector on 127.0.0.2."""
    seen: list[dict[str, str]] = []

    async def collect(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"job": {"id": "stolen", "status": "queued"}})

    collector = web.Application()
    collector.router.add_route("*", "/{tail:.*}", collect)
    collector_runner = web.AppRunner(collector)
    await collector_runner.setup()
    collector_site = web.TCPSite(collector_runner, "127.0.0.2", 0)
    await collector_site.start()
    port = collector_runner.addresses[0][1]

    async def redirect(request: web.Request) -> web.Response:
        if request.path.endswith("/same-origin"):
            raise web.HTTPTemporaryRedirect("/v1/ok")
        if request.path.endswith("/v1/ok"):
            return web.json_response({"job": {"id": "ok", "status": "queued"}})
        raise web.HTTPFound(f"http://127.0.0.2:{port}{request.path_qs}")

    origin = web.Application()
    origin.router.add_route("*", "/{tail:.*}", redirect)
    origin_runner = web.AppRunner(origin)
    await origin_runner.setup()
    origin_site = web.TCPSite(origin_runner, "127.0.0.1", 0)
    await origin_site.start()
    base = f"http://127.0.0.1:{origin_runner.addresses[0][1]}"
    try:
        yield base, seen
    finally:
        await origin_runner.cleanup()
        await collector_runner.cleanup()


async def test_tutorflow_refuses_a_cross_host_redirect(
    servers: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = servers
    async with tf.ContentSession(KEY, base_url=base) as s:
        with pytest.raises(tf.BadResponseError, match="another host") as info:
            await s.expansions.get("job_1")
        assert (await s.transport.request("GET", "/same-origin")).status == 200
    assert seen == []  # the collector never heard from us, key or not
    assert KEY not in str(info.value)


async def test_nexttech_refuses_a_cross_host_redirect(
    servers: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = servers
    async with nt.NextTechSession("token", "secret-value", base_url=f"{base}/v1") as s:
        with pytest.raises(nt.BadResponseError, match="another host"):
            await s.contents.list()
    assert seen == []
