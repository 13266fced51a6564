"""A bare webhook endpoint on 127.0.0.1 that records what the emulator delivers to it.

Not the SDK's receiver: the emulator's own tests check its deliveries byte for byte,
headers included, and can make the endpoint fail to provoke retries.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import attrs
from aiohttp import web


class Delivery(NamedTuple):
    headers: dict[str, str]
    body: bytes


@attrs.define
class Endpoint:
    """Records every delivery; answers 500 to the next ``fail_next`` of them."""

    url: str = ""
    deliveries: list[Delivery] = attrs.Factory(list)
    fail_next: int = 0
    failures_answered: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.fail_next:
            self.fail_next -= 1
            self.failures_answered += 1
            return web.Response(status=500)
        self.deliveries.append(Delivery(dict(request.headers), body))
        return web.Response(status=204)

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """(event header, parsed body) of each delivery, in arrival order."""
        return [
            (headers["X-Content-Integration-Event"], json.loads(body))
            for headers, body in self.deliveries
        ]


@contextlib.asynccontextmanager
async def serving_endpoint() -> AsyncIterator[Endpoint]:
    endpoint = Endpoint()
    app = web.Application()
    app.router.add_post("/hook", endpoint.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    endpoint.url = f"http://{host}:{port}/hook"
    try:
        yield endpoint
    finally:
        await runner.cleanup()
