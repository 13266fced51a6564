"""The per-key sliding-window rate limit and the audit of admitted requests."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator
from tutorflow_async.testing._admission import AdmissionWindow, max_in_window


def test_max_in_window_uses_half_open_windows() -> None:
    assert max_in_window([], 1.0) == 0
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.5], 1.0) == 3
    # Exactly one window apart: the first has left when the second arrives.
    assert max_in_window([0.0, 1.0, 2.0], 1.0) == 1
    assert max_in_window([0.0, 0.0, 0.0], 1.0) == 3


def test_limiter_admits_up_to_the_limit_then_says_when() -> None:
    limiter = AdmissionWindow(window=10.0)
    assert [limiter.check("k", 3, t).admitted for t in (0.0, 1.0, 2.0)] == [True] * 3
    refused = limiter.check("k", 3, 2.5)
    assert not refused.admitted
    assert refused.retry_after == 8  # 0.0 leaves the window at 10.0
    assert limiter.check("k", 3, 10.0).admitted
    assert limiter.check("other", 3, 10.0).admitted  # per key
    assert limiter.max_in_window("k") == 3
    assert limiter.max_in_window("k", window=100.0) == 4
    with pytest.raises(ValueError, match="window"):
        limiter.max_in_window("k", window=0)


def test_retry_after_is_at_least_one_second() -> None:
    limiter = AdmissionWindow(window=0.2)
    assert limiter.check("k", 1, 0.0).admitted
    assert limiter.check("k", 1, 0.1).retry_after == 1


async def test_429_with_retry_after_then_admitted_again(http: aiohttp.ClientSession) -> None:
    async with TutorFlowEmulator(EmulatorConfig(rate_limit_window=0.3)) as emu:
        key = emu.create_api_key(name="slow", rate_limit_per_minute=3)
        headers = {"Authorization": f"Bearer {key.api_key}"}
        url = f"{emu.base_url}/v1/content/integrations/expansions/job_missing"

        async def status() -> tuple[int, str | None]:
            async with http.get(url, headers=headers) as r:
                await r.read()
                return r.status, r.headers.get("Retry-After")

        results = await asyncio.gather(*(status() for _ in range(5)))
        assert sorted(s for s, _ in results) == [404, 404, 404, 429, 429]
        for code, retry_after in results:
            if code == 429:
                assert retry_after == "1"
        async with http.get(url, headers=headers) as r:
            body = await r.json()
            assert r.status == 429
        assert body["error"]["code"] == "content_rate_limit_exceeded"
        assert emu.counters.rate_limited == 3
        assert emu.max_requests_in_window(key.key_id) == 3

        await asyncio.sleep(0.35)
        assert (await status())[0] == 404
        assert emu.max_requests_in_window(key.key_id) == 3
        assert emu.max_requests_in_window(key.key_id, window=10.0) == 4


async def test_admin_calls_and_invalid_keys_are_not_rate_limited(
    http: aiohttp.ClientSession,
) -> None:
    async with TutorFlowEmulator(EmulatorConfig(rate_limit_window=5.0)) as emu:
        emu.create_api_key(rate_limit_per_minute=1)
        admin = {"Cookie": f"jwt={emu.admin_jwt}"}
        url = f"{emu.base_url}/v1/content/organizations/{emu.organization_id}/api-keys"
        for _ in range(5):
            async with http.get(url, headers=admin) as r:
                assert r.status == 200
        assert emu.counters.rate_limited == 0


async def test_keys_are_limited_independently(http: aiohttp.ClientSession) -> None:
    async with TutorFlowEmulator(EmulatorConfig(rate_limit_window=5.0)) as emu:
        keys = [emu.create_api_key(name=f"k{i}", rate_limit_per_minute=1) for i in range(2)]
        url = f"{emu.base_url}/v1/content/integrations/expansions/job_x"
        for key in keys:
            async with http.get(url, headers={"Authorization": f"Bearer {key.api_key}"}) as r:
                assert r.status == 404
        assert [emu.max_requests_in_window(k.key_id) for k in keys] == [1, 1]
        assert emu.max_requests_in_window("key_unknown") == 0
