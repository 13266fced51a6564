"""Date-cursor walks against the Next Tech emulator: on_request insertions and snapshots."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from yarl import URL

from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig

T0 = 1_600_000_000


def iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def walk(
    session: aiohttp.ClientSession, emu: NextTechEmulator, path: str, filters: str = ""
) -> list[dict[str, Any]]:
    """A plain date-cursor walk, as the API contract describes it.

    Each next page asks for everything before the end of the oldest second seen so far,
    so the boundary second is fetched again whatever the bounds' inclusivity, and repeats
    are dropped by id.  (It assumes fewer items per second than a page holds; the SDK's
    own walker must not, but this is only a test oracle for the emulator.)
    """
    seen: dict[int, dict[str, Any]] = {}
    cursor: int | None = None
    while True:
        params = [filters] if filters else []
        if cursor is not None:
            params.append(f"before={iso((cursor + 1) * 1000)}")
        url = URL(f"{emu.base_url}{path}?{'&'.join(params)}", encoded=True)
        async with session.get(url, headers={"Authorization": emu.authorization}) as response:
            assert response.status == 200
            page: list[dict[str, Any]] = await response.json()
        fresh = [item for item in page if item["id"] not in seen]
        if not fresh:
            break
        seen.update((item["id"], item) for item in fresh)
        cursor = min(item["created_at"] for item in page)
    # Pages continue one another, so first appearance is already newest-first order.
    return list(seen.values())


def seed_spread_contents(emu: NextTechEmulator) -> None:
    """54 contents, at most two per second, some exactly on a second, shuffled."""
    times = []
    for offset in range(40):
        second = (T0 + offset) * 1000
        times += [[second, second + 999], [second + 500], [second]][offset % 3]
    random.Random(3).shuffle(times)
    for index, millis in enumerate(times):
        emu.add_content(millis / 1000, course_uid=f"u{index % 3}")


@pytest.mark.parametrize("inclusive", [False, True])
async def test_snapshot_equals_a_full_walk(session: aiohttp.ClientSession, inclusive: bool) -> None:
    config = NextTechEmulatorConfig(
        page_size=5, before_inclusive=inclusive, after_inclusive=inclusive
    )
    async with NextTechEmulator(config) as emu:
        seed_spread_contents(emu)
        walked = await walk(session, emu, "/contents")
        assert walked == emu.contents_snapshot()
        assert len(walked) == 54
        filtered = await walk(session, emu, "/contents", "course_uid[]=u1&course_uid[]=u2")
        assert filtered == emu.contents_snapshot(course_uid=["u1", "u2"])
        assert 0 < len(filtered) < len(walked)


async def test_snapshot_equals_a_full_walk_of_grades(session: aiohttp.ClientSession) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=3)) as emu:
        for offset in range(10):
            emu.add_grade(T0 + offset + (offset % 2) / 2)
        assert await walk(session, emu, "/grades") == emu.grades_snapshot()


async def test_on_request_inserts_during_a_walk_without_skips_or_repeats(
    session: aiohttp.ClientSession,
) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=2)) as emu:
        emu.add_contents(T0 + n for n in range(6))  # ids 1..6
        calls: list[int] = []

        def insert(emulator: NextTechEmulator, number: int) -> None:
            calls.append(number)
            if number == 2:
                emulator.add_content(T0 + 100, name="arrived mid-walk")  # id 7, newest
            if number == 3:
                emulator.add_content(T0 + 0.5, name="backfilled")  # id 8, not yet walked

        emu.on_request(insert)
        walked = await walk(session, emu, "/contents")
        assert [item["id"] for item in walked] == [6, 5, 4, 3, 2, 8, 1]
        assert calls == list(range(1, len(calls) + 1))
        emu.clear_request_callbacks()
        async with session.get(
            emu.base_url + "/contents", headers={"Authorization": emu.authorization}
        ) as response:
            assert [item["id"] for item in await response.json()] == [7, 6]
        assert len(calls) == emu.counters.requests - 1


async def test_on_request_awaits_async_callbacks_and_500s_on_errors(
    session: aiohttp.ClientSession,
) -> None:
    async with NextTechEmulator() as emu:

        async def add_one(emulator: NextTechEmulator, number: int) -> None:
            emulator.add_content(T0 + number)

        def explode(emulator: NextTechEmulator, number: int) -> None:
            if number == 2:
                raise RuntimeError("boom")

        emu.on_request(add_one)
        emu.on_request(explode)
        headers = {"Authorization": emu.authorization}
        async with session.get(emu.base_url + "/contents", headers=headers) as response:
            assert [item["created_at"] for item in await response.json()] == [T0 + 1]
        async with session.get(emu.base_url + "/contents", headers=headers) as response:
            assert response.status == 500
            assert "detail" in await response.json()
