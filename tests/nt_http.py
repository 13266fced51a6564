"""Raw HTTP to the Next Tech emulator, for tests that check its wire behaviour byte for byte."""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from nexttech_async.testing import NextTechEmulator


async def get(
    session: aiohttp.ClientSession,
    emu: NextTechEmulator,
    path: str = "/contents",
    query: str = "",
    *,
    headers: dict[str, str] | None = None,
    authenticated: bool = True,
) -> tuple[int, Any]:
    """GET ``path`` with ``query`` sent byte for byte as written; (status, JSON body)."""
    url = URL(emu.base_url + path + (f"?{query}" if query else ""), encoded=True)
    sent = {"Authorization": emu.authorization} if authenticated else {}
    sent.update(headers or {})
    async with session.get(url, headers=sent) as response:
        return response.status, await response.json()
