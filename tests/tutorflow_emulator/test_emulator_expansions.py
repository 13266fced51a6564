"""Expansion jobs: create, status, result, idempotency, the clock-driven state machine."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from yarl import URL

from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

PAYLOAD: dict[str, Any] = {
    "category": {"id": "en", "title": "English"},
    "language": "en",
    "level": {
        "id": "a1",
        "title": "A1 glossary",
        "lessons": [{"id": "l1", "type": "vocabulary", "title": "Greetings", "items": []}],
    },
}


EXPANSIONS = "/v1/content/integrations/expansions"


def _expansions(emu: TutorFlowEmulator) -> str:
    return f"{emu.base_url}/v1/content/integrations/expansions"


async def _create(
    http: aiohttp.ClientSession,
    emu: TutorFlowEmulator,
    headers: dict[str, str],
    body: dict[str, Any],
    *,
    expect: int = 200,
) -> dict[str, Any]:
    async with http.post(_expansions(emu), json=body, headers=headers) as r:
        assert r.status == expect, await r.text()
        data: dict[str, Any] = await r.json()
    return data


async def _get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], *, expect: int = 200
) -> dict[str, Any]:
    async with http.get(url, headers=headers) as r:
        assert r.status == expect, await r.text()
        data: dict[str, Any] = await r.json()
    return data


async def test_create_answers_200_with_a_queued_job(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    body = {
        "payload": PAYLOAD,
        "requestedOutputs": ["expanded_quiz", "interactive_module", "summary_video"],
        "sourceType": "floco",
    }
    created = await _create(http, emu, bearer, body)
    job = created["job"]
    assert job["id"].startswith("job_")
    assert job["status"] == "queued"
    assert job["sourceType"] == "floco"
    # Produced in priority order, whatever order they were asked in.
    order = ["interactive_module", "summary_video", "expanded_quiz"]
    assert job["requestedOutputs"] == order
    assert job["idempotencyKey"] is None
    assert job["createdAt"].endswith("Z")
    assert job["updatedAt"] == job["createdAt"]
    assert job["completedAt"] is None
    assert created["outputs"] == [
        {"outputType": "interactive_module", "resourceType": "module", "resourceId": None,
         "status": "queued"},
        {"outputType": "summary_video", "resourceType": "video", "resourceId": None,
         "status": "queued"},
        {"outputType": "expanded_quiz", "resourceType": "quiz", "resourceId": None,
         "status": "queued"},
    ]  # fmt: skip
    assert emu.jobs_created == 1


async def test_defaults_are_one_interactive_module_from_source_json(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    job = (await _create(http, emu, bearer, {"payload": PAYLOAD}))["job"]
    assert job["sourceType"] == "source_json"
    assert job["requestedOutputs"] == ["interactive_module"]


async def test_job_walks_queued_processing_completed_on_the_clock(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    body = {"payload": {**PAYLOAD, "_emulator": {"queued_seconds": 100, "processing_seconds": 100}}}
    job_id = (await _create(http, emu, bearer, body))["job"]["id"]
    url = f"{_expansions(emu)}/{job_id}"

    assert (await _get(http, url, bearer))["job"]["status"] == "queued"
    result = await _get(http, f"{url}/result", bearer)
    assert result["job"]["status"] == "queued"
    assert "manifest" not in result
    assert all("manifest" not in o for o in result["outputs"])

    emu.advance(100)
    status = await _get(http, url, bearer)
    assert status["job"]["status"] == "processing"
    assert status["outputs"][0]["status"] == "processing"
    assert status["job"]["updatedAt"] > status["job"]["createdAt"]
    assert emu.job_status(job_id) == "processing"

    emu.advance(100)
    status = await _get(http, url, bearer)
    assert status["job"]["status"] == "completed"
    assert status["job"]["completedAt"] == status["job"]["updatedAt"]
    assert status["outputs"][0]["resourceId"].startswith("module_")

    result = await _get(http, f"{url}/result", bearer)
    [output] = result["outputs"]
    assert output["status"] == "completed"
    assert output["manifest"]["title"].startswith("A1 glossary")
    public_url = output["manifest"]["urls"]["publicUrl"]
    assert public_url.startswith("https://tutorflow.io/share/module/")
    assert result["manifest"]["title"] == "A1 glossary"
    assert result["manifest"]["outputs"][0]["publicUrl"] == public_url
    # The same job always shows the same resources.
    assert await _get(http, f"{url}/result", bearer) == result


async def test_default_durations_complete_in_real_time(
    http: aiohttp.ClientSession,
) -> None:
    config = EmulatorConfig(queued_seconds=0.01, processing_seconds=0.01)
    async with TutorFlowEmulator(config) as emu:
        headers = {"Authorization": f"Bearer {emu.create_api_key().api_key}"}
        job_id = (await _create(http, emu, headers, {"payload": PAYLOAD}))["job"]["id"]
        emu.advance(0.05)
        status = await _get(http, f"{_expansions(emu)}/{job_id}", headers)
        assert status["job"]["status"] == "completed"


async def test_emulator_fail_knob_fails_the_job_with_errors(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    body = {
        "payload": {**PAYLOAD, "_emulator": {"fail": True}},
        "requestedOutputs": ["interactive_module", "expanded_quiz"],
    }
    job_id = (await _create(http, emu, bearer, body))["job"]["id"]
    emu.advance(10)
    result = await _get(http, f"{_expansions(emu)}/{job_id}/result", bearer)
    assert result["job"]["status"] == "failed"
    assert result["job"]["error"]["code"] == "content_generation_failed"
    assert result["job"]["completedAt"].endswith("Z")
    assert "manifest" not in result
    for output in result["outputs"]:
        assert output["status"] == "failed"
        assert output["error"]["code"] == "content_generation_failed"
        assert output["resourceId"] is None
        assert "manifest" not in output


async def test_failure_rate_is_seeded(http: aiohttp.ClientSession) -> None:
    async def failures(seed: int) -> list[bool]:
        config = EmulatorConfig(failure_rate=0.5, seed=seed)
        async with TutorFlowEmulator(config) as emu:
            headers = {"Authorization": f"Bearer {emu.create_api_key().api_key}"}
            ids = [
                (await _create(http, emu, headers, {"payload": {"n": n}}))["job"]["id"]
                for n in range(12)
            ]
            emu.advance(10)
            return [emu.job_status(i) == "failed" for i in ids]

    first = await failures(7)
    assert first == await failures(7)
    assert any(first)
    assert not all(first)


async def test_same_idempotency_key_and_body_return_the_same_job(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    headers = {**bearer, "Idempotency-Key": "level-a1-v3"}
    first = await _create(http, emu, headers, {"payload": PAYLOAD})
    emu.advance(10)
    # Defaults spelled out are the same request as defaults left out.
    explicit = {
        "payload": PAYLOAD,
        "requestedOutputs": ["interactive_module"],
        "sourceType": "source_json",
    }
    again = await _create(http, emu, headers, explicit)
    assert again["job"]["id"] == first["job"]["id"]
    assert again["job"]["status"] == "completed"  # the existing job, in its current state
    assert again["job"]["idempotencyKey"] == "level-a1-v3"
    via_body = await _create(http, emu, bearer, {**explicit, "idempotencyKey": "level-a1-v3"})
    assert via_body["job"]["id"] == first["job"]["id"]
    assert emu.jobs_created == 1
    assert emu.jobs_per_idempotency_key() == {"level-a1-v3": 1}


async def test_idempotency_key_reused_with_another_body_is_409(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    headers = {**bearer, "Idempotency-Key": "k1"}
    await _create(http, emu, headers, {"payload": PAYLOAD})
    for changed in (
        {"payload": {**PAYLOAD, "language": "fr"}},
        {"payload": PAYLOAD, "requestedOutputs": ["summary_video"]},
        {"payload": PAYLOAD, "sourceType": "floco"},
    ):
        body = await _create(http, emu, headers, changed, expect=409)
        assert body["error"]["code"] == "content_conflict"
    assert emu.jobs_created == 1


async def test_header_idempotency_key_wins_over_the_body(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    headers = {**bearer, "Idempotency-Key": "from-header"}
    job = (await _create(http, emu, headers, {"payload": PAYLOAD, "idempotencyKey": "b"}))["job"]
    assert job["idempotencyKey"] == "from-header"


async def test_without_a_key_every_create_is_a_new_job(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    a = await _create(http, emu, bearer, {"payload": PAYLOAD})
    b = await _create(http, emu, bearer, {"payload": PAYLOAD})
    assert a["job"]["id"] != b["job"]["id"]
    assert emu.jobs_created == 2
    assert emu.jobs_per_idempotency_key() == {}


async def test_jobs_are_invisible_to_other_organizations(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    job_id = (await _create(http, emu, bearer, {"payload": PAYLOAD}))["job"]["id"]
    stranger = emu.create_api_key(name="other", organization_id="org_other")
    headers = {"Authorization": f"Bearer {stranger.api_key}"}
    for suffix in ("", "/result"):
        body = await _get(http, f"{_expansions(emu)}/{job_id}{suffix}", headers, expect=404)
        assert body["error"]["code"] == "content_not_found"
    # The same idempotency key in another organization is another job.
    await _create(http, emu, {**bearer, "Idempotency-Key": "shared"}, {"payload": PAYLOAD})
    await _create(http, emu, {**headers, "Idempotency-Key": "shared"}, {"payload": {"x": 1}})
    assert emu.jobs_per_idempotency_key() == {"shared": 2}


async def test_content_endpoints_need_a_valid_key(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer tf_content_nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ):
        async with http.post(_expansions(emu), json={"payload": PAYLOAD}, headers=headers) as r:
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "content_invalid_api_key"
        async with http.get(f"{_expansions(emu)}/job_x", headers=headers) as r:
            assert r.status == 401
    assert emu.jobs_created == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"payload": {}},
        {"payload": []},
        {"payload": "text"},
        {"payload": PAYLOAD, "requestedOutputs": []},
        {"payload": PAYLOAD, "requestedOutputs": "interactive_module"},
        {"payload": PAYLOAD, "requestedOutputs": ["podcast"]},
        {"payload": PAYLOAD, "sourceType": "markdown"},
        {"payload": PAYLOAD, "idempotencyKey": ""},
        {"payload": PAYLOAD, "idempotencyKey": 42},
        {"payload": PAYLOAD, "idempotencyKey": "k" * 256},
        {"payload": {"_emulator": {"fail": "yes"}}},
        {"payload": {"_emulator": {"queued_seconds": -1}}},
        {"payload": {"_emulator": "fast"}},
    ],
)
async def test_invalid_expansion_requests_are_400(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str], body: object
) -> None:
    async with http.post(_expansions(emu), json=body, headers=bearer) as r:
        assert r.status == 400
        assert r.content_type == "application/json"
        error = (await r.json())["error"]
    assert error == {"code": "content_invalid_request", "message": error["message"], "status": 400}
    assert emu.jobs_created == 0


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b"\xff\xfe"])
async def test_unparseable_bodies_are_400(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str], raw: bytes
) -> None:
    headers = {**bearer, "Content-Type": "application/json"}
    async with http.post(_expansions(emu), data=raw, headers=headers) as r:
        assert r.status == 400


@pytest.mark.parametrize(
    "path",
    [
        "/v1/content/integrations/expansions/..%2Fx",
        "/v1/content/integrations/expansions/..%2F..%2Forganizations%2Forg_demo%2Fapi-keys",
        "/v1/content/integrations/expansions/{job}%2Fresult",
        "/v1/content/integrations/expansions/{job}%2F",
        "/v1/content/integrations/expansions/%FF",
        "/v1/content/integrations/expansions//result",
        "/v1/content/integrations/expansions/{job}/",
        "/v1/content/integrations/expansions/{job}/result/extra",
        "/nowhere",
    ],
)
async def test_encoded_slashes_and_odd_paths_are_404(
    emu: TutorFlowEmulator,
    http: aiohttp.ClientSession,
    bearer: dict[str, str],
    path: str,
) -> None:
    job_id = (await _create(http, emu, bearer, {"payload": PAYLOAD}))["job"]["id"]
    target = emu.base_url + path.replace("{job}", job_id)
    # encoded=True: send the path byte for byte, as a careless or hostile client would.
    async with http.get(URL(target, encoded=True), headers=bearer) as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "content_not_found"
    assert emu.request_log[-1].path == path.replace("{job}", job_id)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", EXPANSIONS, "POST"),
        ("GET", EXPANSIONS, "POST"),
        ("PUT", EXPANSIONS + "/job_x", "GET"),
        ("HEAD", EXPANSIONS + "/job_x/result", "GET"),
        ("OPTIONS", EXPANSIONS + "/job_x", "GET"),
        ("PATCH", "/v1/content/organizations/org_demo/webhooks", "GET, POST"),
        ("TRACE", "/auth/login", "POST"),
    ],
)
async def test_a_wrong_method_on_a_known_path_is_405_json_with_allow(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, method: str, path: str, allow: str
) -> None:
    # No credential: routing comes before it, as for an unknown path's 404.
    async with http.request(method, emu.base_url + path) as r:
        assert r.status == 405
        assert r.headers["Allow"] == allow
        if method != "HEAD":
            error = (await r.json())["error"]
            assert (error["code"], error["status"]) == ("content_invalid_request", 405)
            assert allow in error["message"]
    template = path.replace("job_x", "{jobId}").replace("org_demo", "{organizationId}")
    assert emu.counters.by_route[(method, template)] == 1
    assert emu.counters.by_status == {405: 1}


async def test_an_unknown_path_is_still_404_for_any_method(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.delete(emu.base_url + EXPANSIONS + "/job_x/nothing") as r:
        assert r.status == 404
        assert "Allow" not in r.headers
        assert (await r.json())["error"]["code"] == "content_not_found"
    assert emu.counters.by_route[("DELETE", "<unmatched>")] == 1


async def test_an_id_with_an_encoded_slash_is_still_one_id(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    """Parameters are decoded per segment: a properly quoted odd id reaches its handler."""
    url = f"{emu.base_url}/v1/content/classrooms/room%2F1/integrations/exports"
    async with http.post(URL(url, encoded=True), json={"lessonId": "l"}, headers=admin) as r:
        assert r.status == 201
        job_id = (await r.json())["job"]["id"]
    assert emu.job(job_id).classroom_id == "room/1"


async def test_counters_and_request_log(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    job_id = (await _create(http, emu, bearer, {"payload": PAYLOAD}))["job"]["id"]
    await _get(http, f"{_expansions(emu)}/{job_id}?verbose=1", bearer)
    await _get(http, f"{_expansions(emu)}/job_missing", bearer, expect=404)
    counters = emu.counters
    assert counters.requests == 3
    assert counters.by_route == {
        ("POST", "/v1/content/integrations/expansions"): 1,
        ("GET", "/v1/content/integrations/expansions/{jobId}"): 2,
    }
    assert counters.by_status == {200: 2, 404: 1}
    created, status, _ = emu.request_log
    assert created.method == "POST"
    assert b"A1 glossary" in created.body
    assert created.headers["Authorization"] == bearer["Authorization"]
    assert bearer["Authorization"] not in repr(created)
    assert (status.path, status.query_string) == (
        f"/v1/content/integrations/expansions/{job_id}",
        "verbose=1",
    )
    assert created.at <= status.at


async def test_request_log_is_bounded(http: aiohttp.ClientSession) -> None:
    async with TutorFlowEmulator(EmulatorConfig(request_log_limit=2)) as emu:
        for n in range(4):
            async with http.get(f"{emu.base_url}/n{n}") as r:
                assert r.status == 404
        assert [rec.path for rec in emu.request_log] == ["/n2", "/n3"]
        assert emu.counters.requests == 4
