"""What the fuzz found, and the emulator held exactly as strict as ``openapi/tutorflow.yaml``.

Every refusal is the documented envelope (``content_invalid_request``, 400), never a crash;
requests the document allows are still accepted. The per-field decisions are in
``openapi/README.md``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from yarl import URL

from tutorflow_async.testing import TutorFlowEmulator

EXPANSIONS = "/v1/content/integrations/expansions"
PAYLOAD: dict[str, Any] = {"a": 1}


async def _post(
    http: aiohttp.ClientSession,
    emu: TutorFlowEmulator,
    path: str,
    body: object,
    headers: dict[str, str],
) -> tuple[int, dict[str, Any]]:
    async with http.post(emu.base_url + path, json=body, headers=headers) as r:
        assert r.content_type == "application/json", await r.text()
        data: dict[str, Any] = await r.json()
        return r.status, data


def _assert_invalid(status: int, body: dict[str, Any], *words: str) -> None:
    assert status == 400, body
    error = body["error"]
    assert (error["code"], error["status"]) == ("content_invalid_request", 400)
    for word in words:
        assert word in error["message"], error["message"]


# -- the two findings ---------------------------------------------------------------------


@pytest.mark.parametrize("outputs", [[{}], [[]], ["interactive_module", {"a": 1}], [None]])
async def test_an_unhashable_requested_output_is_400_not_500(
    emu: TutorFlowEmulator,
    http: aiohttp.ClientSession,
    bearer: dict[str, str],
    outputs: list[object],
) -> None:
    body = {"payload": PAYLOAD, "requestedOutputs": outputs}
    status, answer = await _post(http, emu, EXPANSIONS, body, bearer)
    _assert_invalid(status, answer, "requestedOutputs")
    assert emu.counters.by_status == {400: 1}


@pytest.mark.parametrize(
    "path",
    [
        f"{EXPANSIONS}/a%0Ab",
        f"{EXPANSIONS}/a%0Ab/result",
        f"{EXPANSIONS}/%0A",
        "/nowhere%0A",
        "/v1/content/organizations/org_demo/webhooks%0D%0A",
    ],
)
async def test_a_path_with_a_newline_gets_the_json_envelope_log_and_counters(
    emu: TutorFlowEmulator,
    http: aiohttp.ClientSession,
    bearer: dict[str, str],
    path: str,
) -> None:
    async with http.get(URL(emu.base_url + path, encoded=True), headers=bearer) as r:
        assert r.status == 404
        assert r.content_type == "application/json"
        error = (await r.json())["error"]
    assert (error["code"], error["status"]) == ("content_not_found", 404)
    assert emu.request_log[-1].path == path
    assert emu.counters.requests == 1
    assert emu.counters.by_status == {404: 1}


async def test_a_path_with_a_newline_goes_through_auth_and_faults(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    from tutorflow_async.testing import Fault

    target = URL(f"{emu.base_url}{EXPANSIONS}/a%0Ab", encoded=True)
    # A route that exists takes the credential check: without a key, 401 (not a bare 404).
    async with http.get(target) as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "content_invalid_api_key"
    emu.add_fault(Fault("status", status=503, path=f"{EXPANSIONS}/{{jobId}}"))
    async with http.get(target, headers=bearer) as r:
        assert r.status == 503
        assert (await r.json())["error"]["code"] == "content_internal_error"
    assert emu.counters.faults_injected == 1
