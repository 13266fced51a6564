"""Admin surface of the emulator: login, API keys, webhooks, exports and the auth rules."""

from __future__ import annotations

import aiohttp
import pytest

from tutorflow_async.testing import IssuedKey, TutorFlowEmulator


def _orgs(emu: TutorFlowEmulator) -> str:
    return f"{emu.base_url}/v1/content/organizations/{emu.organization_id}"


async def _error_code(response: aiohttp.ClientResponse) -> str:
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["status"] == response.status
    code: str = body["error"]["code"]
    return code


async def test_login_sets_a_cookie_that_opens_admin_endpoints(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession
) -> None:
    credentials = {
        "email": emu.admin_email,
        "password": emu.admin_password,
        "timezone": "Europe/Paris",
    }
    async with http.post(f"{emu.base_url}/auth/login", json=credentials) as r:
        assert r.status == 200
        assert await r.json() == {
            "user": {"email": emu.admin_email, "organizationId": emu.organization_id}
        }
        set_cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie
        assert "Path=/" in set_cookie
        token = r.cookies["jwt"].value
    for name in ("jwt", "tutorflow_admin_session"):
        headers = {"Cookie": f"theme=dark; {name}={token}"}
        async with http.get(f"{_orgs(emu)}/api-keys", headers=headers) as r:
            assert r.status == 200, name


async def test_login_with_wrong_password_is_401(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession
) -> None:
    body = {"email": emu.admin_email, "password": "nope", "timezone": "UTC"}
    async with http.post(f"{emu.base_url}/auth/login", json=body) as r:
        assert r.status == 401
        assert "Set-Cookie" not in r.headers
        assert await _error_code(r) == "content_invalid_api_key"


async def test_api_key_lifecycle_round_trips(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    async with http.post(
        f"{_orgs(emu)}/api-keys", json={"name": "ci", "rateLimitPerMinute": 30}, headers=admin
    ) as r:
        assert r.status == 201
        created = await r.json()
    assert created["apiKey"].startswith("tf_content_")
    assert created["keyPrefix"] == created["apiKey"][:15]
    assert created["keyId"].startswith("key_")
    assert (created["name"], created["rateLimitPerMinute"]) == ("ci", 30)
    content = f"{emu.base_url}/v1/content/integrations/expansions/job_missing"
    old = {"Authorization": f"Bearer {created['apiKey']}"}
    async with http.get(content, headers=old) as r:
        assert r.status == 404  # authenticated, the job just does not exist

    async with http.get(f"{_orgs(emu)}/api-keys", headers=admin) as r:
        assert r.status == 200
        listed = await r.json()
    assert listed == [
        {
            "id": created["keyId"],
            "name": "ci",
            "keyPrefix": created["keyPrefix"],
            "status": "ACTIVE",
            "organizationId": emu.organization_id,
            "rateLimitPerMinute": 30,
            "lastUsedAt": listed[0]["lastUsedAt"],
            "expiresAt": None,
        }
    ]
    assert listed[0]["lastUsedAt"].endswith("Z")
    assert created["apiKey"] not in str(listed)

    async with http.post(f"{_orgs(emu)}/api-keys/{created['keyId']}/rotate", headers=admin) as r:
        assert r.status == 200
        rotated = await r.json()
    assert rotated["keyId"] == created["keyId"]
    assert rotated["apiKey"] != created["apiKey"]
    async with http.get(content, headers=old) as r:
        assert r.status == 401
        assert await _error_code(r) == "content_invalid_api_key"
    new = {"Authorization": f"Bearer {rotated['apiKey']}"}
    async with http.get(content, headers=new) as r:
        assert r.status == 404

    async with http.post(f"{_orgs(emu)}/api-keys/{created['keyId']}/revoke", headers=admin) as r:
        assert r.status == 200
        assert await r.read() == b""
    async with http.get(content, headers=new) as r:
        assert r.status == 401
    async with http.get(f"{_orgs(emu)}/api-keys", headers=admin) as r:
        assert [k["status"] for k in await r.json()] == ["REVOKED"]


async def test_unknown_key_id_is_404(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    for action in ("rotate", "revoke"):
        async with http.post(f"{_orgs(emu)}/api-keys/key_nope/{action}", headers=admin) as r:
            assert r.status == 404
            assert await _error_code(r) == "content_not_found"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": 3},
        {"name": "x", "rateLimitPerMinute": 0},
        {"name": "x", "rateLimitPerMinute": "60"},
        {"name": "x", "rateLimitPerMinute": True},
        ["not", "an", "object"],
    ],
)
async def test_invalid_key_requests_are_400(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, admin: dict[str, str], body: object
) -> None:
    async with http.post(f"{_orgs(emu)}/api-keys", json=body, headers=admin) as r:
        assert r.status == 400
        assert await _error_code(r) == "content_invalid_request"


async def test_key_defaults_its_rate_limit(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    async with http.post(f"{_orgs(emu)}/api-keys", json={"name": "x"}, headers=admin) as r:
        assert (await r.json())["rateLimitPerMinute"] == emu.config.default_rate_limit_per_minute


async def test_a_content_key_can_never_manage_anything(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, bearer: dict[str, str]
) -> None:
    calls = [
        ("POST", f"{_orgs(emu)}/api-keys"),
        ("GET", f"{_orgs(emu)}/api-keys"),
        ("POST", f"{_orgs(emu)}/api-keys/key_x/rotate"),
        ("GET", f"{_orgs(emu)}/webhooks"),
        ("POST", f"{emu.base_url}/v1/content/classrooms/c1/integrations/exports"),
    ]
    for headers in (bearer, {"Authorization": "Bearer tf_content_forged"}):
        for method, url in calls:
            async with http.request(method, url, json={"name": "x"}, headers=headers) as r:
                assert r.status == 403, (method, url)
                assert await _error_code(r) == "content_forbidden"


async def test_admin_endpoints_without_credentials_are_401(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession
) -> None:
    for headers in ({}, {"Cookie": "jwt=not.a.token"}, {"Cookie": "other=1"}):
        async with http.get(f"{_orgs(emu)}/api-keys", headers=headers) as r:
            assert r.status == 401


async def test_tampered_admin_token_is_401(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession
) -> None:
    header, payload, signature = emu.admin_jwt.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}AA"
    async with http.get(f"{_orgs(emu)}/api-keys", headers={"Cookie": f"jwt={forged}"}) as r:
        assert r.status == 401


async def test_admin_of_another_organization_is_403(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    url = f"{emu.base_url}/v1/content/organizations/org_other/api-keys"
    async with http.get(url, headers=admin) as r:
        assert r.status == 403
        assert await _error_code(r) == "content_forbidden"


async def test_admin_cookie_does_not_open_content_endpoints(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    url = f"{emu.base_url}/v1/content/integrations/expansions"
    async with http.post(url, json={"payload": {"a": 1}}, headers=admin) as r:
        assert r.status == 401
        assert await _error_code(r) == "content_invalid_api_key"
    assert emu.jobs_created == 0


async def test_webhook_crud_round_trips(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    body = {"url": "https://example.com/hook", "events": ["content.completed", "content.failed"]}
    async with http.post(f"{_orgs(emu)}/webhooks", json=body, headers=admin) as r:
        assert r.status == 201
        hook = await r.json()
    assert hook["secret"].startswith("whsec_")
    assert hook["status"] == "ACTIVE"
    assert hook["organizationId"] == emu.organization_id
    assert (hook["url"], hook["events"]) == (body["url"], body["events"])

    async with http.get(f"{_orgs(emu)}/webhooks", headers=admin) as r:
        listed = await r.json()
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]

    async with http.delete(f"{_orgs(emu)}/webhooks/{hook['id']}", headers=admin) as r:
        assert r.status == 200
        assert await r.read() == b""
    async with http.delete(f"{_orgs(emu)}/webhooks/{hook['id']}", headers=admin) as r:
        assert r.status == 404
    async with http.get(f"{_orgs(emu)}/webhooks", headers=admin) as r:
        assert await r.json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/x", "events": ["content.completed"]},
        {"url": "not a url", "events": ["content.completed"]},
        {"url": "https://example.com/x", "events": []},
        {"url": "https://example.com/x", "events": ["content.started"]},
        {"url": "https://example.com/x"},
    ],
)
async def test_invalid_webhooks_are_400(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, admin: dict[str, str], body: object
) -> None:
    async with http.post(f"{_orgs(emu)}/webhooks", json=body, headers=admin) as r:
        assert r.status == 400


async def test_export_is_completed_and_idempotent(
    emu: TutorFlowEmulator,
    http: aiohttp.ClientSession,
    admin: dict[str, str],
    bearer: dict[str, str],
) -> None:
    url = f"{emu.base_url}/v1/content/classrooms/class_1/integrations/exports"
    body = {"lessonId": "lesson_1", "idempotencyKey": "export-1"}
    async with http.post(url, json=body, headers=admin) as r:
        assert r.status == 201
        first = await r.json()
    job = first["job"]
    assert (job["sourceType"], job["status"]) == ("ui_authored", "completed")
    assert job["completedAt"].endswith("Z")
    [output] = first["outputs"]
    assert output["outputType"] == "interactive_module"
    assert output["status"] == "completed"
    assert output["manifest"]["urls"]["publicUrl"].startswith("https://tutorflow.io/share/module/")

    async with http.post(url, json=body, headers=admin) as r:
        assert r.status == 200
        assert (await r.json())["job"]["id"] == job["id"]
    assert emu.jobs_per_idempotency_key() == {"export-1": 1}

    conflicting = {"lessonId": "lesson_2", "idempotencyKey": "export-1"}
    async with http.post(url, json=conflicting, headers=admin) as r:
        assert r.status == 409
        assert await _error_code(r) == "content_conflict"

    # An export is a job of the organization, so its content keys can read it.
    result_url = f"{emu.base_url}/v1/content/integrations/expansions/{job['id']}/result"
    async with http.get(result_url, headers=bearer) as r:
        assert (await r.json())["manifest"]["outputs"][0]["resourceType"] == "module"


async def test_export_needs_a_lesson_id(
    emu: TutorFlowEmulator, http: aiohttp.ClientSession, admin: dict[str, str]
) -> None:
    url = f"{emu.base_url}/v1/content/classrooms/class_1/integrations/exports"
    for body in ({}, {"lessonId": ""}, {"lessonId": 5}):
        async with http.post(url, json=body, headers=admin) as r:
            assert r.status == 400
    assert emu.jobs_created == 0


def test_issued_key_repr_hides_the_secret(key: IssuedKey) -> None:
    assert key.api_key not in repr(key)
    assert key.key_prefix in repr(key)
