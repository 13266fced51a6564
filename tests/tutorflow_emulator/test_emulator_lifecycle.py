"""The emulator object itself: lifecycle, configuration, direct controls."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import attrs
import pytest

from tutorflow_async.testing import EmulatorConfig, Fault, TutorFlowEmulator


def test_config_defaults_and_validation() -> None:
    config = EmulatorConfig()
    assert (config.host, config.port, config.organization_id) == ("127.0.0.1", 0, "org_demo")
    assert (config.admin_email, config.admin_password) == (
        "admin@example.com",
        "emulator-password",
    )
    assert (config.queued_seconds, config.processing_seconds) == (0.05, 0.2)
    assert (config.rate_limit_window, config.default_rate_limit_per_minute) == (60.0, 60)
    assert config.request_log_limit == 10_000
    assert "emulator-password" not in repr(config)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.port = 1  # type: ignore[misc]
    bad: list[dict[str, Any]] = [
        {"failure_rate": 1.5},
        {"queued_seconds": -1.0},
        {"rate_limit_window": 0.0},
        {"default_rate_limit_per_minute": 0},
        {"port": 70000},
        {"webhook_duplicate_rate": -0.1},
    ]
    for kwargs in bad:
        with pytest.raises(ValueError):  # noqa: PT011 - attrs words each one differently
            EmulatorConfig(**kwargs)


async def test_start_and_close_by_hand_and_on_a_chosen_port(http: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    emu = TutorFlowEmulator(EmulatorConfig(port=port, organization_id="org_x"))
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.base_url
    await emu.start()
    try:
        assert emu.base_url == f"http://127.0.0.1:{port}"
        assert emu.organization_id == "org_x"
        with pytest.raises(RuntimeError, match="already started"):
            await emu.start()
        async with http.get(f"{emu.base_url}/") as r:
            assert r.status == 404
    finally:
        await emu.close()
    await emu.close()


async def test_create_api_key_directly(emu: TutorFlowEmulator) -> None:
    key = emu.create_api_key(name="direct", rate_limit_per_minute=7)
    assert key.api_key.startswith("tf_content_")
    assert key.key_prefix == key.api_key[:15]
    assert key.key_id.startswith("key_")
    assert key.rate_limit_per_minute == 7
    assert emu.create_api_key().rate_limit_per_minute == emu.config.default_rate_limit_per_minute
    with pytest.raises(ValueError, match="rate_limit_per_minute"):
        emu.create_api_key(rate_limit_per_minute=0)
    with pytest.raises(ValueError, match="name"):
        emu.create_api_key(name="")


async def test_advance_rejects_going_back(emu: TutorFlowEmulator) -> None:
    before = emu.now()
    emu.advance(3600)
    assert emu.now() - before >= 3600
    with pytest.raises(ValueError, match="seconds"):
        emu.advance(-1)


async def test_jobs_per_request_catches_a_client_that_changes_keys(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    url = f"{emu.base_url}/v1/content/integrations/expansions"
    for attempt in ("a", "b"):
        headers = {**bearer, "Idempotency-Key": f"fresh-{attempt}"}
        async with http.post(url, json={"payload": {"x": 1}}, headers=headers) as r:
            assert r.status == 200
    assert emu.jobs_per_idempotency_key() == {"fresh-a": 1, "fresh-b": 1}
    assert list(emu.jobs_per_request().values()) == [2]


async def test_oversized_bodies_are_refused(http: aiohttp.ClientSession) -> None:
    async with TutorFlowEmulator(EmulatorConfig(max_body_bytes=1024)) as emu:
        headers = {"Authorization": f"Bearer {emu.create_api_key().api_key}"}
        body = {"payload": {"blob": "x" * 4096}}
        async with http.post(
            f"{emu.base_url}/v1/content/integrations/expansions", json=body, headers=headers
        ) as r:
            assert r.status == 413
            assert (await r.json())["error"]["code"] == "content_invalid_request"
        assert emu.jobs_created == 0


async def test_handler_bugs_answer_a_json_500(
    emu: TutorFlowEmulator,
    http: aiohttp.ClientSession,
    bearer: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(emu._state, "get_job", explode)
    url = f"{emu.base_url}/v1/content/integrations/expansions/job_1"
    async with http.get(url, headers=bearer) as r:
        assert r.status == 500
        assert (await r.json())["error"]["code"] == "content_internal_error"


def test_pending_faults_lists_what_can_still_fire() -> None:
    emu = TutorFlowEmulator()
    emu.add_fault(Fault("empty", times=None))
    assert [f.kind for f in emu.pending_faults] == ["empty"]
    emu.clear_faults()
    assert emu.pending_faults == []
