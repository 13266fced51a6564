"""Exact wire traffic of the transport, pinned with aioresponses (no server)."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

import tutorflow_async as tf
from edu_async_core.clock import ManualClock
from edu_async_core.retry import RetryPolicy

BASE = "https://api.tutorflow.io"
KEY = "tf_content_S3cr3tValueThatMustNotLeak000"
CREATE = f"{BASE}/v1/content/integrations/expansions"
JOB = {"job": {"id": "job_1", "status": "queued"}, "outputs": []}
PAYLOAD = {"level": {"id": "a1", "lessons": [{"id": "l1", "type": "vocabulary"}]}}


def calls(m: aioresponses, method: str, url: str) -> list[Any]:
    return list(m.requests.get((method, URL(url)), []))


def session(clock: ManualClock, **kwargs: Any) -> tf.ContentSession:
    return tf.ContentSession(KEY, base_url=BASE, clock=clock, **kwargs)


async def test_create_retries_reuse_one_idempotency_key_and_one_body(
    mocked: aioresponses,
) -> None:
    mocked.post(CREATE, status=500, payload={"error": {"code": "content_internal_error"}})
    mocked.post(CREATE, exception=aiohttp.ServerDisconnectedError())
    mocked.post(CREATE, status=200, payload=JOB)
    async with session(ManualClock()) as s:
        job = await s.expansions.create(PAYLOAD, requested_outputs=["expanded_quiz",
                                                                     "interactive_module"])
    sent = calls(mocked, "POST", CREATE)
    assert job.id == "job_1" and len(sent) == 3
    keys = {c.kwargs["headers"]["Idempotency-Key"] for c in sent}
    bodies = {c.kwargs["data"] for c in sent}
    assert len(keys) == 1 and len(bodies) == 1
    body = json.loads(bodies.pop())
    assert body["idempotencyKey"] == keys.pop()
    # Outputs are sent once each, in the server's priority order.
    assert body["requestedOutputs"] == ["interactive_module", "expanded_quiz"]
    assert body["sourceType"] == "source_json" and body["payload"] == PAYLOAD
    headers = sent[0].kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Content-Type"] == "application/json"


async def test_derived_key_is_stable_across_sessions_and_names_the_input(
    mocked: aioresponses,
) -> None:
    for _ in range(3):
        mocked.post(CREATE, status=200, payload=JOB)
    for _ in range(2):
        async with session(ManualClock()) as s:
            await s.expansions.create(dict(reversed(list(PAYLOAD.items()))))
    async with session(ManualClock()) as s:
        await s.expansions.create({**PAYLOAD, "language": "en"})
    keys = [c.kwargs["headers"]["Idempotency-Key"] for c in calls(mocked, "POST", CREATE)]
    assert keys[0] == keys[1] != keys[2]
    assert re.fullmatch(r"tfa-[0-9a-f]{40}", keys[0])


async def test_caller_key_is_sent_verbatim(mocked: aioresponses) -> None:
    mocked.post(CREATE, status=200, payload=JOB)
    async with session(ManualClock()) as s:
        await s.expansions.create(PAYLOAD, idempotency_key="level-a1-v3")
    (call,) = calls(mocked, "POST", CREATE)
    assert call.kwargs["headers"]["Idempotency-Key"] == "level-a1-v3"


async def test_post_without_idempotency_key_is_not_retried(mocked: aioresponses) -> None:
    url = f"{BASE}/v1/content/organizations/org_1/api-keys"
    mocked.post(url, status=500, payload={"error": {"code": "content_internal_error",
                                                   "message": "boom", "status": 500}})
    async with tf.AdminSession("eyJhbGciOi.jwt.sig", organization_id="org_1", base_url=BASE,
                               clock=ManualClock()) as admin:
        with pytest.raises(tf.InternalServerError) as info:
            await admin.api_keys.create("ci")
    assert len(calls(mocked, "POST", url)) == 1
    assert info.value.attempts == 1 and info.value.code == "content_internal_error"
    assert calls(mocked, "POST", url)[0].kwargs["headers"]["Cookie"] == "jwt=eyJhbGciOi.jwt.sig"


async def test_retry_after_is_honoured_and_pauses_the_key(mocked: aioresponses) -> None:
    url = f"{CREATE}/job_1"
    mocked.get(url, status=429, headers={"Retry-After": "7"},
               payload={"error": {"code": "content_rate_limit_exceeded", "status": 429}})
    mocked.get(url, status=200, payload=JOB)
    clock = ManualClock()
    async with session(clock) as s:
        job = await s.expansions.get("job_1")
    assert job.id == "job_1"
    assert sum(clock.sleeps) >= 7.0
    assert len(calls(mocked, "GET", url)) == 2


async def test_html_bad_gateway_becomes_typed_error_with_snippet(mocked: aioresponses) -> None:
    url = f"{CREATE}/job_1"
    page = "<html><body><h1>502 Bad Gateway</h1>" + "x" * 5000 + "</body></html>"
    for _ in range(3):
        mocked.get(url, status=502, body=page, content_type="text/html")
    policy = RetryPolicy(max_attempts=3)
    async with session(ManualClock(), config=tf.TransportConfig(retry=policy)) as s:
        with pytest.raises(tf.InternalServerError) as info:
            await s.expansions.get("job_1")
    err = info.value
    assert err.status == 502 and err.attempts == 3
    assert err.body_snippet is not None and "502 Bad Gateway" in err.body_snippet
    assert len(err.body_snippet) <= 200
    assert err.method == "GET" and err.path == "/v1/content/integrations/expansions/job_1"
    assert err.key_prefix == "tf_content_S3cr…"


async def test_non_json_success_body_is_retried_then_a_bad_response(
    mocked: aioresponses,
) -> None:
    url = f"{CREATE}/job_1"
    mocked.get(url, status=200, body="{not json", content_type="application/json", repeat=True)
    config = tf.TransportConfig(retry=RetryPolicy(max_attempts=2))
    async with session(ManualClock(), config=config) as s:
        with pytest.raises(tf.BadResponseError, match="not JSON") as info:
            await s.expansions.get("job_1")
    assert info.value.attempts == 2 and len(calls(mocked, "GET", url)) == 2


async def test_non_json_answer_to_an_unkeyed_post_is_not_repeated(mocked: aioresponses) -> None:
    url = f"{BASE}/v1/content/organizations/org_1/webhooks"
    mocked.post(url, status=201, body="<html>", content_type="text/html", repeat=True)
    async with tf.AdminSession("eyJ.a.b", organization_id="org_1", base_url=BASE,
                               clock=ManualClock()) as admin:
        with pytest.raises(tf.BadResponseError):
            await admin.webhooks.create("https://example.invalid/h")
    assert len(calls(mocked, "POST", url)) == 1


async def test_redirect_to_another_host_is_refused_without_forwarding(
    mocked: aioresponses,
) -> None:
    url = f"{CREATE}/job_1"
    mocked.get(url, status=302, headers={"Location": "https://collector.invalid/steal"})
    async with session(ManualClock()) as s:
        with pytest.raises(tf.BadResponseError, match="another host"):
            await s.expansions.get("job_1")
    assert [k for k in mocked.requests if k[1].host == "collector.invalid"] == []


async def test_same_origin_redirect_is_followed(mocked: aioresponses) -> None:
    mocked.get(f"{CREATE}/job_1", status=307, headers={"Location": "/v1/moved/job_1"})
    mocked.get(f"{BASE}/v1/moved/job_1", status=200, payload=JOB)
    async with session(ManualClock()) as s:
        assert (await s.expansions.get("job_1")).id == "job_1"


async def test_borrowed_session_stays_open_and_closed_session_refuses(
    mocked: aioresponses,
) -> None:
    mocked.get(f"{CREATE}/job_1", status=200, payload=JOB)
    async with aiohttp.ClientSession() as http:
        s = tf.ContentSession(KEY, base_url=BASE, session=http)
        await s.expansions.get("job_1")
        await s.aclose()
        assert s.closed and not http.closed
        with pytest.raises(tf.SessionClosedError):
            await s.expansions.get("job_1")


async def test_a_runtime_error_of_aiohttp_s_own_propagates_as_it_came(
    mocked: aioresponses,
) -> None:
    # Not a failure of the exchange (the session is open): no retry, no SDK error around it.
    bug = RuntimeError("a bug below us")
    mocked.get(f"{CREATE}/job_1", exception=bug)
    mocked.get(f"{CREATE}/job_1", status=200, payload=JOB)
    async with session(ManualClock()) as s:
        with pytest.raises(RuntimeError) as info:
            await s.expansions.get("job_1")
    assert info.value is bug
    assert len(calls(mocked, "GET", f"{CREATE}/job_1")) == 1
    # Nothing of the SDK's own keeps the exception alive from its frames (no cycle).
    frames = []
    tb = info.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    sdk = [f for f in frames if "edu_async_core" in f.f_code.co_filename]
    assert sdk and not any(v is bug for f in sdk for v in f.f_locals.values())
