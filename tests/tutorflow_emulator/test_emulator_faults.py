"""Injected faults: statuses, proxy pages, resets, delays, broken bodies, after-commit."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tutorflow_async.testing import Fault, TutorFlowEmulator

EXPANSIONS = "/v1/content/integrations/expansions"
STATUS = "/v1/content/integrations/expansions/{jobId}"
BODY = {"payload": {"title": "x"}}


async def test_status_fault_answers_the_error_envelope_then_clears(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    emu.add_fault(Fault("status", method="POST", path=EXPANSIONS, status=503, retry_after=2))
    url = emu.base_url + EXPANSIONS
    async with http.post(url, json=BODY, headers=bearer) as r:
        assert r.status == 503
        assert r.headers["Retry-After"] == "2"
        assert (await r.json())["error"] == {
            "code": "content_internal_error",
            "message": "injected fault (HTTP 503)",
            "status": 503,
        }
    assert emu.jobs_created == 0  # refused before the handler ran
    async with http.post(url, json=BODY, headers=bearer) as r:
        assert r.status == 200
    assert emu.counters.faults_injected == 1
    assert emu.counters.by_status == {503: 1, 200: 1}
    assert emu.pending_faults == []


async def test_429_fault_uses_the_rate_limit_code(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    emu.add_fault(Fault("status", status=429, retry_after=0.5))
    async with http.get(
        f"{emu.base_url}/v1/content/integrations/expansions/j", headers=bearer
    ) as r:
        assert r.status == 429
        assert r.headers["Retry-After"] == "0.5"
        assert (await r.json())["error"]["code"] == "content_rate_limit_exceeded"
    assert emu.counters.rate_limited == 0  # only the limiter's own 429s count there


async def test_html_fault_is_a_proxy_page(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault("html"))
    async with http.get(f"{emu.base_url}/anything") as r:
        assert r.status == 502
        assert r.content_type == "text/html"
        assert await r.text() == "<html><body><h1>502 Bad Gateway</h1></body></html>"


async def test_malformed_and_empty_faults(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    emu.add_fault(Fault("malformed", path=STATUS))
    emu.add_fault(Fault("empty", path=STATUS))
    url = f"{emu.base_url}/v1/content/integrations/expansions/job_1"
    async with http.get(url, headers=bearer) as r:
        assert (r.status, r.content_type) == (200, "application/json")
        raw = await r.read()
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    async with http.get(url, headers=bearer) as r:
        assert r.status == 200
        assert await r.read() == b""
    async with http.get(url, headers=bearer) as r:
        assert r.status == 404


async def test_reset_drops_the_connection_without_an_answer(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    emu.add_fault(Fault("reset", method="POST"))
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        async with http.post(emu.base_url + EXPANSIONS, json=BODY, headers=bearer) as r:
            await r.read()
    assert emu.jobs_created == 0
    assert emu.counters.faults_injected == 1
    assert sum(emu.counters.by_status.values()) == 0


async def test_reset_after_commit_keeps_the_created_job(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    emu.add_fault(Fault("reset", method="POST", path=EXPANSIONS, after_commit=True))
    headers = {**bearer, "Idempotency-Key": "retry-me"}
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        async with http.post(emu.base_url + EXPANSIONS, json=BODY, headers=headers) as r:
            await r.read()
    assert emu.jobs_created == 1
    # The retry a correct client makes finds the committed job instead of a second one.
    async with http.post(emu.base_url + EXPANSIONS, json=BODY, headers=headers) as r:
        assert r.status == 200
    assert emu.jobs_created == 1
    assert emu.jobs_per_idempotency_key() == {"retry-me": 1}


async def test_status_after_commit_keeps_the_created_job(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    emu.add_fault(Fault("status", status=500, after_commit=True))
    async with http.post(emu.base_url + EXPANSIONS, json=BODY, headers=bearer) as r:
        assert r.status == 500
    assert emu.jobs_created == 1


async def test_delay_fault_trips_a_client_timeout(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    emu.add_fault(Fault("delay", delay=0.5))
    url = f"{emu.base_url}/v1/content/integrations/expansions/job_1"
    with pytest.raises(TimeoutError):
        async with http.get(url, headers=bearer, timeout=aiohttp.ClientTimeout(total=0.1)) as r:
            await r.read()
    emu.add_fault(Fault("delay", delay=0.05))
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with http.get(url, headers=bearer) as r:
        assert r.status == 404  # delayed, then answered normally
    assert loop.time() - started >= 0.05


async def test_times_probability_and_matching(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession
) -> None:
    emu.add_fault(Fault("status", method="GET", path="/a", status=500, times=2))
    emu.add_fault(Fault("status", path="/b", status=503, times=None, probability=0.5))
    statuses = []
    for path in ["/a", "/a", "/a", "/c"]:
        async with http.get(emu.base_url + path) as r:
            statuses.append(r.status)
    assert statuses == [500, 500, 404, 404]
    async with http.post(emu.base_url + "/a") as r:
        assert r.status == 404  # method does not match
    b_statuses = []
    for _ in range(40):
        async with http.get(emu.base_url + "/b") as r:
            b_statuses.append(r.status)
    assert 5 < b_statuses.count(503) < 35
    emu.clear_faults()
    async with http.get(emu.base_url + "/b") as r:
        assert r.status == 404


async def test_header_fault_hits_only_the_client_it_names(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    emu.add_fault(
        Fault("status", status=429, retry_after=2, header=("user-agent", "worker/2"), times=1)
    )
    url = f"{emu.base_url}/v1/content/integrations/expansions/job_1"
    statuses = []
    for agent in ["sdk/1.0 worker/1", "sdk/1.0 worker/20", "sdk/1.0 worker/2", "sdk worker/2"]:
        async with http.get(url, headers={**bearer, "User-Agent": agent}) as r:
            statuses.append(r.status)
    # "worker/2" is a substring of "worker/20": the first of them takes the fault's hit.
    assert statuses == [404, 429, 404, 404]
    log = emu.request_log
    assert [rec.fault is not None for rec in log] == [False, True, False, False]
    hit = log[1].fault
    assert hit is not None and hit.status == 429 and hit.retry_after == 2
    assert log[1].headers["User-Agent"] == "sdk/1.0 worker/20"
    assert emu.pending_faults == []


def test_header_matching_is_by_name_in_any_case_and_text_as_is() -> None:
    fault = Fault("status", method="GET", header=("X-Worker", "Blue"))
    assert fault.matches("GET", ("/a",), {"x-worker": "dark Blue"})
    assert fault.matches("get", ("/a",), {"Other": "x", "X-WORKER": "Blue"})
    assert not fault.matches("GET", ("/a",), {"X-Worker": "blue"})
    assert not fault.matches("GET", ("/a",), {"X-Other": "Blue"})
    assert not fault.matches("GET", ("/a",), {})
    assert not fault.matches("GET", ("/a",))  # no headers given: a header fault selects nothing
    assert not fault.matches("POST", ("/a",), {"X-Worker": "Blue"})
    assert Fault("status").matches("GET", ("/a",))  # without ``header`` nothing changes


def test_fault_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="times"):
        Fault("status", times=0)
    with pytest.raises(ValueError, match="probability"):
        Fault("status", probability=2.0)
    with pytest.raises(ValueError, match="header"):
        Fault("status", header=("", "x"))
    with pytest.raises(ValueError, match="header"):
        Fault("status", header=("User-Agent",))  # type: ignore[arg-type]


async def test_close_cuts_a_pending_delay_short(http: aiohttp.ClientSession) -> None:
    emu = TutorFlowEmulator()
    await emu.start()
    emu.add_fault(Fault("delay", delay=30))

    async def fetch() -> None:
        async with http.get(f"{emu.base_url}/x") as r:
            await r.read()

    request = asyncio.create_task(fetch())
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await emu.close()
    assert loop.time() - started < 2
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await request


def test_fault_kinds_are_an_enum_and_their_strings_are_accepted() -> None:
    from tutorflow_async.testing import FaultKind

    assert Fault(FaultKind.SLOW_BODY) == Fault("slow_body")
    assert Fault("status").kind is FaultKind.STATUS
    assert {kind.value for kind in FaultKind} == {
        "status", "html", "reset", "delay", "malformed", "empty", "slow_body", "truncated"
    }
