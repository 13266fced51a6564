"""Retries, idempotency, rate limiting and typed errors against the real emulator."""

from __future__ import annotations

import asyncio
import time

import pytest
from fast_settings import FAST, FAST_RETRY

import tutorflow_async as tf
from tutorflow_async.testing import EmulatorConfig, Fault, IssuedKey, TutorFlowEmulator

EXPANSIONS = "/v1/content/integrations/expansions"
PAYLOAD = {"level": {"id": "b2", "lessons": [{"id": "l1", "type": "dialogue"}]}}


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="status", status=500, method="POST", path=EXPANSIONS),
        Fault(kind="status", status=503, method="POST", path=EXPANSIONS, after_commit=True),
        Fault(kind="reset", method="POST", path=EXPANSIONS),
        Fault(kind="reset", method="POST", path=EXPANSIONS, after_commit=True),
        Fault(kind="html", method="POST", path=EXPANSIONS, after_commit=True),
    ],
    ids=["500", "503-after-commit", "reset-before", "reset-after-commit", "html-after-commit"],
)
async def test_a_retried_create_makes_exactly_one_job(
    emu: TutorFlowEmulator, content: tf.ContentSession, fault: Fault
) -> None:
    emu.add_fault(fault)
    job = await content.expansions.create(PAYLOAD)
    assert emu.counters.faults_injected == 1
    assert emu.counters.by_route[("POST", EXPANSIONS)] == 2
    assert emu.jobs_created == 1
    assert emu.jobs_per_idempotency_key() == {job.idempotency_key: 1}


async def test_create_without_key_run_twice_makes_one_job(
    emu: TutorFlowEmulator, key: IssuedKey
) -> None:
    ids = []
    for _ in range(2):  # two separate runs, as after a process restart
        async with tf.ContentSession(key.api_key, base_url=emu.base_url) as s:
            ids.append((await s.expansions.create(PAYLOAD)).id)
    assert ids[0] == ids[1]
    assert emu.jobs_created == 1


async def test_same_key_different_body_is_a_typed_conflict(
    emu: TutorFlowEmulator, content: tf.ContentSession
) -> None:
    await content.expansions.create(PAYLOAD, idempotency_key="lesson-set-1")
    with pytest.raises(tf.ConflictError) as info:
        await content.expansions.create({"other": 1}, idempotency_key="lesson-set-1")
    err = info.value
    assert err.status == 409 and err.code == "content_conflict"
    assert err.idempotency_key == "lesson-set-1" and err.attempts == 1
    assert emu.jobs_created == 1


async def test_transient_get_faults_are_retried(
    emu: TutorFlowEmulator, content: tf.ContentSession
) -> None:
    job = await content.expansions.create(PAYLOAD)
    path = f"{EXPANSIONS}/{{jobId}}"
    for kind in ("reset", "status", "malformed", "html"):
        emu.add_fault(Fault(kind=kind, status=502, method="GET", path=path))
    # One call rides out a reset, a 502, a truncated 200 body and a proxy's HTML page.
    assert (await content.expansions.get(job.id)).id == job.id
    assert emu.counters.faults_injected == 4
    assert emu.counters.by_route[("GET", path)] == 5


async def test_malformed_answers_surface_typed_after_retries(
    emu: TutorFlowEmulator, content: tf.ContentSession
) -> None:
    emu.add_fault(Fault(kind="malformed", method="GET", times=None))
    with pytest.raises(tf.BadResponseError, match="not JSON") as info:
        await content.expansions.get("job_1")
    assert info.value.attempts == 4 and info.value.status == 200


async def test_empty_success_body_where_a_job_is_due_is_a_bad_response(
    emu: TutorFlowEmulator, content: tf.ContentSession
) -> None:
    # Empty every time: retried like a garbled body, then a typed error (an empty body
    # once is retried away; see tests/reliability/test_empty_answers.py).
    emu.add_fault(Fault(kind="empty", method="GET", times=None))
    with pytest.raises(tf.BadResponseError, match="empty response body") as info:
        await content.expansions.get("job_1")
    assert (info.value.attempts or 0) > 1


async def test_three_hundred_concurrent_gets_stay_under_the_key_limit() -> None:
    window = 1.0  # time scaled down: "per minute" becomes "per second" on both sides
    async with TutorFlowEmulator(EmulatorConfig(rate_limit_window=window)) as emu:
        issued = emu.create_api_key(name="limited", rate_limit_per_minute=60)
        config = tf.TransportConfig(rate_limit_window=window, rate_limit_margin=0.2)
        async with tf.ContentSession(issued.api_key, base_url=emu.base_url,
                                     rate_limit_per_minute=60, config=config) as s:
            job = await s.expansions.create(PAYLOAD)
            jobs = await asyncio.gather(*(s.expansions.get(job.id) for _ in range(300)))
        assert len(jobs) == 300
        assert emu.counters.rate_limited == 0
        assert emu.counters.by_status[429] == 0
        assert emu.max_requests_in_window(issued.key_id) <= 60


async def test_two_sessions_of_one_key_share_the_limit() -> None:
    window = 1.0
    async with TutorFlowEmulator(EmulatorConfig(rate_limit_window=window)) as emu:
        issued = emu.create_api_key(name="shared", rate_limit_per_minute=20)
        config = tf.TransportConfig(rate_limit_window=window, rate_limit_margin=0.2)
        sessions = [tf.ContentSession(issued.api_key, base_url=emu.base_url,
                                      rate_limit_per_minute=20, config=config)
                    for _ in range(2)]
        job = await sessions[0].expansions.create(PAYLOAD)
        await asyncio.gather(*(sessions[i % 2].expansions.get(job.id) for i in range(60)))
        for s in sessions:
            await s.close()
        assert emu.counters.rate_limited == 0
        assert emu.max_requests_in_window(issued.key_id) <= 20


async def test_a_429_with_retry_after_is_honoured(
    emu: TutorFlowEmulator, content: tf.ContentSession
) -> None:
    job = await content.expansions.create(PAYLOAD)
    emu.add_fault(Fault(kind="status", status=429, retry_after=1, method="GET"))
    started = time.monotonic()
    assert (await content.expansions.get(job.id)).id == job.id
    assert time.monotonic() - started >= 1.0
    assert emu.counters.by_status[429] == 1


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (400, tf.InvalidRequestError, "content_invalid_request"),
        (401, tf.InvalidApiKeyError, "content_invalid_api_key"),
        (403, tf.ForbiddenError, "content_forbidden"),
        (404, tf.NotFoundError, "content_not_found"),
        (409, tf.ConflictError, "content_conflict"),
        (429, tf.RateLimitExceededError, "content_rate_limit_exceeded"),
        (500, tf.InternalServerError, "content_internal_error"),
    ],
)
async def test_each_error_class_carries_the_support_fields(
    emu: TutorFlowEmulator, content: tf.ContentSession, key: IssuedKey,
    status: int, cls: type[tf.TutorFlowAPIError], code: str,
) -> None:
    emu.add_fault(Fault(kind="status", status=status, method="POST", path=EXPANSIONS,
                        times=None))
    with pytest.raises(cls) as info:
        await content.expansions.create(PAYLOAD, idempotency_key="support-1")
    err = info.value
    assert isinstance(err, tf.TutorFlowError)
    assert (err.status, err.code, err.method, err.path) == (status, code, "POST", EXPANSIONS)
    assert err.idempotency_key == "support-1"
    assert err.key_prefix == key.api_key[:15] + "…"
    retried = status in (429, 500)
    assert err.attempts == (FAST_RETRY.max_attempts if retried else 1)
    fields = err.support_fields()
    assert fields["code"] == code and fields["path"] == EXPANSIONS
    assert key.api_key not in str(err) and key.api_key not in repr(err)


async def test_content_key_cannot_reach_admin_endpoints(
    emu: TutorFlowEmulator, content: tf.ContentSession
) -> None:
    with pytest.raises(tf.ForbiddenError) as info:
        await content.transport.request(
            "GET", f"/v1/content/organizations/{emu.organization_id}/api-keys"
        )
    assert info.value.code == "content_forbidden"


async def test_timeouts_and_connection_failures_are_typed(emu: TutorFlowEmulator,
                                                          key: IssuedKey) -> None:
    quick = tf.TransportConfig(timeout=0.2, retry=tf.RetryPolicy(max_attempts=2,
                                                                 backoff_base=0.01))
    emu.add_fault(Fault(kind="delay", delay=1.0, method="GET", times=None))
    async with tf.ContentSession(key.api_key, base_url=emu.base_url, config=quick) as s:
        with pytest.raises(tf.APITimeoutError) as info:
            await s.expansions.get("job_x")
    assert info.value.attempts == 2 and info.value.path == f"{EXPANSIONS}/job_x"
    async with tf.ContentSession(key.api_key, base_url="http://127.0.0.1:9",
                                 config=quick) as s:
        with pytest.raises(tf.APIConnectionError) as conn:
            await s.expansions.get("job_x")
    assert conn.value.attempts == 2


@pytest.mark.parametrize("job_id", ["../x", "x/result", "..%2Fx", "a b", "é"])
async def test_path_parameters_cannot_reach_another_endpoint(
    emu: TutorFlowEmulator, content: tf.ContentSession, job_id: str
) -> None:
    with pytest.raises(tf.NotFoundError):
        await content.expansions.get(job_id)
    last = emu.request_log[-1]
    assert last.path.startswith(f"{EXPANSIONS}/")
    assert "/" not in last.path[len(EXPANSIONS) + 1 :]


def test_credentials_are_refused_over_plain_http_to_another_host() -> None:
    with pytest.raises(tf.InvalidArgumentError, match=r"^base_url: .*plain http"):
        tf.ContentSession("tf_content_x" * 3, base_url="http://api.tutorflow.io")
    with pytest.raises(tf.InvalidArgumentError, match=r"^base_url: "):
        tf.AdminSession("eyJ.jwt.x", base_url="http://10.0.0.8")


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda s: s.expansions.create({}), "payload"),
        (lambda s: s.expansions.create([1]), "payload"),
        (lambda s: s.expansions.create({"x": {1, 2}}), "payload"),
        (lambda s: s.expansions.create({"x": 1}, requested_outputs=["podcast"]),
         "requested_outputs"),
        (lambda s: s.expansions.create({"x": 1}, requested_outputs=[]), "requested_outputs"),
        (lambda s: s.expansions.create({"x": 1}, source_type="pdf"), "source_type"),
        (lambda s: s.expansions.create({"x": 1}, idempotency_key=""), "idempotency_key"),
        (lambda s: s.expansions.create({"x": 1}, idempotency_key="a\nb"), "idempotency_key"),
        (lambda s: s.expansions.get(""), "job_id"),
        (lambda s: s.expansions.result(".."), "job_id"),
    ],
)
async def test_bad_input_fails_before_any_request(
    emu: TutorFlowEmulator, content: tf.ContentSession, call: object, argument: str
) -> None:
    before = emu.counters.requests
    with pytest.raises(tf.InvalidArgumentError, match=rf"^{argument}"):
        await call(content)  # type: ignore[operator]
    assert emu.counters.requests == before


async def test_bad_admin_input_fails_before_any_request(
    emu: TutorFlowEmulator, admin: tf.AdminSession
) -> None:
    before = emu.counters.requests
    with pytest.raises(tf.InvalidArgumentError, match=r"^rate_limit_per_minute"):
        await admin.api_keys.create("ci", rate_limit_per_minute=0)
    with pytest.raises(tf.InvalidArgumentError, match=r"^name"):
        await admin.api_keys.create("  ")
    with pytest.raises(tf.InvalidArgumentError, match=r"^key_id"):
        await admin.api_keys.revoke("")
    with pytest.raises(tf.InvalidArgumentError, match=r"^events"):
        await admin.webhooks.create("https://x.invalid/h", events=["content.deleted"])
    with pytest.raises(tf.InvalidArgumentError, match=r"^url"):
        await admin.webhooks.create("ftp://x.invalid/h")
    with pytest.raises(tf.InvalidArgumentError, match=r"^lesson_id"):
        await admin.exports.create("class_1", lesson_id="")
    with pytest.raises(tf.InvalidArgumentError, match=r"^rate_limit_per_minute"):
        tf.ContentSession("tf_content_abcdefgh", base_url=emu.base_url, rate_limit_per_minute=0)
    assert emu.counters.requests == before


async def test_fast_config_is_used(content: tf.ContentSession) -> None:
    assert content.transport.config.retry == FAST.retry
