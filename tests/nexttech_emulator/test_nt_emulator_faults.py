"""Injected faults, counters and the request log of the Next Tech emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from nexttech_async.testing import Fault, NextTechEmulator, NextTechEmulatorConfig

T0 = 1_600_000_000


@pytest.fixture
async def emu() -> AsyncIterator[NextTechEmulator]:
    async with NextTechEmulator() as emulator:
        emulator.add_contents([T0, T0 + 1])
        emulator.add_grade(T0)
        yield emulator


@pytest.fixture
async def session(emu: NextTechEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": emu.authorization}
    async with aiohttp.ClientSession(headers=headers) as client:
        yield client


async def status_of(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


async def test_status_fault_with_retry_after_fires_once(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault(kind="status", status=503, retry_after=2))
    async with session.get(emu.base_url + "/contents") as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "2"
        assert (await response.json())["detail"]
    assert await status_of(session, emu.base_url + "/contents") == 200
    assert emu.counters.faults_injected == 1
    assert emu.pending_faults == []


async def test_status_fault_defaults_to_500_without_retry_after(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault(kind="status"))
    async with session.get(emu.base_url + "/grades") as response:
        assert response.status == 500
        assert "Retry-After" not in response.headers
        assert response.content_type == "application/json"


async def test_fault_path_selects_requests_and_times_none_is_unlimited(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault(kind="status", status=429, path="/grades", times=None))
    for _ in range(3):
        assert await status_of(session, emu.base_url + "/grades") == 429
        assert await status_of(session, emu.base_url + "/contents") == 200
    emu.clear_faults()
    assert await status_of(session, emu.base_url + "/grades") == 200


async def test_faults_fire_in_order_and_before_auth(emu: NextTechEmulator) -> None:
    emu.add_fault(Fault(kind="status", status=502, path="/v1/contents", times=2))
    emu.add_fault(Fault(kind="html"))
    async with aiohttp.ClientSession() as anonymous:
        statuses = [await status_of(anonymous, emu.base_url + "/contents") for _ in range(4)]
    assert statuses == [502, 502, 502, 401]
    assert emu.counters.by_status == {502: 3, 401: 1}


async def test_probability_zero_never_fires(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault(kind="status", times=None, probability=0.0))
    assert await status_of(session, emu.base_url + "/contents") == 200
    assert emu.counters.faults_injected == 0


async def test_probabilistic_faults_repeat_with_the_seed(session: aiohttp.ClientSession) -> None:
    async def pattern(seed: int) -> list[int]:
        async with NextTechEmulator(NextTechEmulatorConfig(seed=seed)) as emulator:
            emulator.add_fault(Fault(kind="status", times=None, probability=0.5))
            headers = {"Authorization": emulator.authorization}
            statuses = []
            for _ in range(12):
                async with session.get(emulator.base_url + "/contents", headers=headers) as r:
                    statuses.append(r.status)
            return statuses

    first = await pattern(7)
    assert first == await pattern(7)
    assert set(first) == {200, 500}


async def test_reset_fault_drops_the_connection(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    # aiohttp silently retries an idempotent request once after a disconnect, so two
    # resets in a row are needed before the caller sees the error.
    emu.add_fault(Fault(kind="reset", times=2))
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await status_of(session, emu.base_url + "/contents")
    assert await status_of(session, emu.base_url + "/contents") == 200
    assert emu.counters.faults_injected == 2
    assert emu.counters.requests == 3
    assert emu.counters.by_status == {200: 1}


async def test_single_reset_is_absorbed_by_aiohttps_own_retry(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault(kind="reset"))
    assert await status_of(session, emu.base_url + "/contents") == 200
    assert emu.counters.requests == 2
    assert emu.counters.faults_injected == 1


async def test_delay_fault_answers_late_but_normally(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault(kind="delay", delay=0.2))
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with session.get(emu.base_url + "/contents") as response:
        assert response.status == 200
        assert len(await response.json()) == 2
    assert loop.time() - started >= 0.2


async def test_delay_fault_can_outlast_a_client_timeout(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault(kind="delay", delay=0.3))
    with pytest.raises(asyncio.TimeoutError):
        await session.get(emu.base_url + "/contents", timeout=aiohttp.ClientTimeout(total=0.05))


async def test_malformed_fault_is_truncated_json(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault(kind="malformed"))
    async with session.get(emu.base_url + "/contents") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            await response.json()


async def test_html_fault_is_a_502_page(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault(kind="html", retry_after=5))
    async with session.get(emu.base_url + "/contents") as response:
        assert response.status == 502
        assert response.content_type == "text/html"
        assert response.headers["Retry-After"] == "5"
        assert "<h1>502 Bad Gateway</h1>" in await response.text()


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault(kind="explode")
    with pytest.raises(ValueError, match="times"):
        Fault(kind="status", times=0)
    with pytest.raises(ValueError, match="probability"):
        Fault(kind="status", probability=1.5)


async def test_counters_and_bounded_request_log(session: aiohttp.ClientSession) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(request_log_limit=3)) as emu:
        emu.add_contents([T0, T0 + 1, T0 + 2])
        headers = {"Authorization": emu.authorization}
        for query in ("", "?before=2020-09-13T12:26:42.000Z", "?x=%5B1%5D", "?bad=1"):
            async with session.get(emu.base_url + "/contents" + query, headers=headers) as r:
                await r.read()
        async with session.get(emu.base_url + "/grades", headers=headers) as r:
            await r.read()
        async with session.get(emu.base_url + "/contents?before=nope", headers=headers) as r:
            assert r.status == 400
        assert emu.counters.requests == 6
        assert emu.counters.by_path == {"/v1/contents": 5, "/v1/grades": 1}
        assert emu.counters.by_status == {200: 5, 400: 1}
        assert emu.counters.items_served == 3 + 2 + 3 + 3
        log = emu.request_log
        assert [(entry.path, entry.query_string) for entry in log] == [
            ("/v1/contents", "bad=1"),
            ("/v1/grades", ""),
            ("/v1/contents", "before=nope"),
        ]
        assert log[0].at <= log[1].at <= log[2].at
        emu.counters.reset()
        assert emu.counters.requests == 0
        assert not emu.counters.by_path


def test_fault_kinds_are_an_enum_and_their_strings_are_accepted() -> None:
    from nexttech_async.testing import FaultKind

    assert Fault(kind=FaultKind.TRUNCATED) == Fault(kind="truncated")
    assert Fault(kind="reset").kind is FaultKind.RESET
    assert {kind.value for kind in FaultKind} == {
        "status", "reset", "delay", "malformed", "html", "slow_body", "truncated"
    }
