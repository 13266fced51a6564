"""No secret reaches a log record, a repr or an exception; DEBUG logs say what happened."""

from __future__ import annotations

import logging
import traceback

import pytest
from aioresponses import aioresponses
from fast_settings import FAST

import tutorflow_async as tf
from tutorflow_async.testing import Fault, TutorFlowEmulator

PAYLOAD = {"level": {"id": "c1", "lessons": [{"id": "l1", "type": "review"}]}}


async def test_every_path_keeps_secrets_out_of_logs_reprs_and_errors(
    emu: TutorFlowEmulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    seen: list[object] = []
    errors: list[tf.TutorFlowError] = []
    secrets = {emu.admin_password, emu.admin_jwt}

    admin = await tf.AdminSession.login(emu.admin_email, emu.admin_password,
                                        base_url=emu.base_url, config=FAST)
    async with admin:
        created = await admin.api_keys.create("scan", rate_limit_per_minute=1000)
        hook = await admin.webhooks.create("https://example.invalid/h")
        rotated = await admin.api_keys.rotate(created.key_id)
        secrets |= {created.api_key.reveal(), hook.secret.reveal(), rotated.api_key.reveal()}
        seen += [admin, created, hook, rotated, await admin.api_keys.list(),
                 await admin.webhooks.list()]

    async with tf.ContentSession(rotated.api_key, base_url=emu.base_url, config=FAST) as s:
        seen.append(s)
        emu.add_fault(Fault(kind="status", status=500, method="POST"))
        emu.add_fault(Fault(kind="reset", method="GET"))
        emu.add_fault(Fault(kind="status", status=429, retry_after=0, method="GET"))
        job = await s.expansions.create(PAYLOAD)
        seen += [job, await s.expansions.get(job.id), await s.expansions.result(job.id)]
        emu.add_fault(Fault(kind="status", status=500, method="GET", times=None))
        try:
            await s.expansions.get(job.id)
        except tf.TutorFlowError as exc:
            errors.append(exc)
        emu.clear_faults()

    for bad_key in (created.api_key, rotated.api_key):  # rotated away / still valid
        async with tf.ContentSession(bad_key, base_url=emu.base_url, config=FAST) as s:
            try:
                await s.transport.request("GET", f"/v1/content/organizations/"
                                                 f"{emu.organization_id}/api-keys")
            except tf.TutorFlowError as exc:
                errors.append(exc)
    try:
        await tf.AdminSession.login(emu.admin_email, emu.admin_password + "x",
                                    base_url=emu.base_url)
    except tf.TutorFlowError as exc:
        errors.append(exc)

    assert len(errors) == 4
    texts = [r.getMessage() for r in debug_logs.records]
    texts += [repr(r.args) for r in debug_logs.records]
    texts += [repr(o) for o in seen] + [str(o) for o in seen]
    for error in errors:
        texts += [str(error), repr(error), repr(error.support_fields()),
                  "".join(traceback.format_exception(error))]
    blob = "\n".join(texts)
    assert len(debug_logs.records) > 10
    for secret in secrets:
        assert secret not in blob
        assert secret[:-4] not in blob  # not even most of it


async def test_debug_log_names_method_path_status_attempt_and_key_prefix(
    emu: TutorFlowEmulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    issued = emu.create_api_key(name="logs", rate_limit_per_minute=1000)
    emu.add_fault(Fault(kind="status", status=503, method="GET"))
    async with tf.ContentSession(issued.api_key, base_url=emu.base_url, config=FAST) as s:
        job = await s.expansions.create(PAYLOAD, idempotency_key="log-key-1")
        await s.expansions.get(job.id)
    messages = [r.getMessage() for r in debug_logs.records if r.name == "tutorflow_async"]
    prefix = issued.api_key[:15] + "…"
    path = f"/v1/content/integrations/expansions/{job.id}"
    assert f"POST /v1/content/integrations/expansions -> 200 attempt=1 key={prefix} " \
           f"idempotency_key=log-key-1" in messages
    assert f"GET {path} -> 503 attempt=1 key={prefix} idempotency_key=None" in messages
    assert f"GET {path} -> 200 attempt=2 key={prefix} idempotency_key=None" in messages
    # Each request at DEBUG; the retry between them at INFO.
    (retry,) = [r for r in debug_logs.records if r.getMessage().startswith("retrying ")]
    assert retry.getMessage().startswith(f"retrying GET {path} in ")
    assert retry.getMessage().endswith("after attempt 1 (status 503)")
    assert retry.levelno == logging.INFO
    assert all(r.levelno == logging.DEBUG for r in debug_logs.records
               if r.name == "tutorflow_async" and r is not retry)


async def test_rate_limit_waits_are_logged(debug_logs: pytest.LogCaptureFixture) -> None:
    from edu_async_core.clock import ManualClock
    from edu_async_core.ratelimit import SlidingWindowLimiter

    limiter = SlidingWindowLimiter(1, 60.0, clock=ManualClock(),
                                   logger=logging.getLogger("tutorflow_async"),
                                   label="tf_content_abcd…")
    async with limiter.slot():
        pass
    async with limiter.slot():
        pass
    (wait,) = [r for r in debug_logs.records if r.getMessage().startswith("rate limit:")]
    assert wait.getMessage().startswith("rate limit: key tf_content_abcd… waits 60.250s")
    assert wait.levelno == logging.INFO
    assert wait.key_prefix == "tf_content_abcd…"  # type: ignore[attr-defined]


async def test_a_listing_that_carries_secrets_keeps_none_of_them(mocked: aioresponses) -> None:
    base = "https://api.tutorflow.io/v1/content/organizations/org_1"
    leaked_key, leaked_hook = "tf_content_LEAKEDleakedLEAKED123", "whsec_LEAKEDleaked456"
    mocked.get(f"{base}/api-keys",
               payload=[{"id": "key_1", "name": "ci", "apiKey": leaked_key, "status": "ACTIVE"}])
    mocked.get(f"{base}/webhooks",
               payload={"webhooks": [{"id": "wh_1", "url": "https://x.example/h",
                                      "secret": leaked_hook}]})
    async with tf.AdminSession("eyJ.fake.jwt", organization_id="org_1") as admin:
        keys = await admin.api_keys.list()
        hooks = await admin.webhooks.list()

    assert keys[0].id == "key_1" and hooks[0].id == "wh_1"
    shown = [repr(m.raw) + repr(m) for m in keys] + [repr(m.raw) + repr(m) for m in hooks]
    assert not any(leaked_key in text or leaked_hook in text for text in shown)
