"""Every endpoint round-trips through the SDK against the emulator."""

from __future__ import annotations

import pytest

import tutorflow_async as tf
from tutorflow_async.testing import TutorFlowEmulator

PAYLOAD = {
    "category": {"id": "c1", "title": "Travel"},
    "language": "en",
    "level": {"id": "a1", "title": "A1", "lessons": [
        {"id": "l1", "type": "vocabulary", "title": "Airport", "items": [{"term": "gate"}]},
        {"id": "l2", "type": "quiz", "questions": [{"q": "?", "choices": ["a"], "answer": "a"}]},
    ]},
    "customField": {"kept": True},
}


async def test_expansion_create_get_result(
    emu: TutorFlowEmulator, content: tf.ContentSession
) -> None:
    job = await content.expansions.create(
        PAYLOAD, requested_outputs=["summary_video", "interactive_module"]
    )
    assert job.status == tf.JobStatus.PROCESSING or job.status == tf.JobStatus.QUEUED
    assert not job.is_terminal
    assert [o.output_type for o in job.outputs] == ["interactive_module", "summary_video"]
    assert job.idempotency_key is not None and job.idempotency_key.startswith("tfa-")

    again = await content.expansions.get(job.id)
    assert again.id == job.id and again.created_at is not None

    emu.advance(120)
    done = await content.expansions.get(job.id)
    assert done.is_completed and done.completed_at is not None
    result = await content.expansions.result(job.id)
    assert result.job.id == job.id and result.job.is_completed
    assert len(result.outputs) == 2
    for output in result.outputs:
        assert output.manifest is not None
        assert output.manifest.public_url is not None
        assert output.manifest.public_url.startswith("https://tutorflow.io/share/")
    assert result.manifest is not None
    assert "job" in result.raw  # the whole document is kept


async def test_failed_job_reports_its_errors(
    emu: TutorFlowEmulator, content: tf.ContentSession
) -> None:
    job = await content.expansions.create({**PAYLOAD, "_emulator": {"fail": True}})
    emu.advance(120)
    result = await content.expansions.result(job.id)
    assert result.job.is_failed
    assert result.job.error is not None and result.job.error.code
    assert all(o.error is not None for o in result.outputs)


async def test_api_keys_lifecycle(emu: TutorFlowEmulator, admin: tf.AdminSession) -> None:
    created = await admin.api_keys.create("ci", rate_limit_per_minute=120)
    secret = created.api_key.reveal()
    assert secret.startswith("tf_content_")
    assert created.key_prefix is not None and secret.startswith(created.key_prefix)
    assert secret not in repr(created) and "apiKey" not in created.raw

    listed = {k.id: k for k in await admin.api_keys.list()}
    assert listed[created.key_id].rate_limit_per_minute == 120
    assert listed[created.key_id].status == "ACTIVE"
    assert all(secret not in repr(k.raw) for k in listed.values())

    async with tf.ContentSession(secret, base_url=emu.base_url) as s:
        with pytest.raises(tf.NotFoundError):
            await s.expansions.get("job_missing")  # authenticated: 404, not 401

    rotated = await admin.api_keys.rotate(created.key_id)
    assert rotated.key_id == created.key_id and rotated.api_key.reveal() != secret
    async with tf.ContentSession(secret, base_url=emu.base_url) as old:
        with pytest.raises(tf.InvalidApiKeyError):
            await old.expansions.get("job_missing")

    await admin.api_keys.revoke(created.key_id)
    statuses = {k.id: k.status for k in await admin.api_keys.list()}
    assert statuses[created.key_id] == "REVOKED"
    async with tf.ContentSession(rotated.api_key, base_url=emu.base_url) as revoked:
        with pytest.raises(tf.InvalidApiKeyError):
            await revoked.expansions.get("job_missing")


async def test_webhooks_lifecycle(admin: tf.AdminSession) -> None:
    hook = await admin.webhooks.create("https://example.invalid/hooks",
                                       events=["content.completed"])
    assert hook.secret.reveal().startswith("whsec_")
    assert hook.secret.reveal() not in repr(hook) and "secret" not in hook.raw
    assert hook.events == ("content.completed",) and hook.status == "ACTIVE"
    assert [h.id for h in await admin.webhooks.list()] == [hook.id]
    await admin.webhooks.delete(hook.id)
    assert await admin.webhooks.list() == []
    with pytest.raises(tf.NotFoundError):
        await admin.webhooks.delete(hook.id)


async def test_export_is_completed_and_idempotent(
    emu: TutorFlowEmulator, admin: tf.AdminSession
) -> None:
    first = await admin.exports.create("class_1", lesson_id="lesson_7")
    second = await admin.exports.create("class_1", lesson_id="lesson_7")
    assert first.job.is_completed and first.job.id == second.job.id
    assert first.outputs[0].manifest is not None
    assert emu.jobs_created == 1


async def test_login_takes_organization_from_the_answer(emu: TutorFlowEmulator) -> None:
    admin = await tf.AdminSession.login(emu.admin_email, emu.admin_password,
                                        base_url=emu.base_url)
    async with admin:
        assert admin.organization_id == emu.organization_id
        assert await admin.api_keys.list() == []


async def test_wrong_password_is_an_authentication_error(emu: TutorFlowEmulator) -> None:
    with pytest.raises(tf.InvalidApiKeyError) as info:
        await tf.AdminSession.login(emu.admin_email, "wrong", base_url=emu.base_url)
    assert info.value.status == 401 and "wrong" not in str(info.value)


async def test_settings_come_from_the_environment(
    emu: TutorFlowEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = emu.create_api_key(name="env")
    monkeypatch.setenv("TUTORFLOW_CONTENT_API_KEY", issued.api_key)
    monkeypatch.setenv("TUTORFLOW_API_BASE_URL", emu.base_url)
    monkeypatch.setenv("TUTORFLOW_ORGANIZATION_ID", emu.organization_id)
    monkeypatch.setenv("TUTORFLOW_CLASSROOM_ID", "class_env")
    async with tf.ContentSession() as s:
        job = await s.expansions.create(PAYLOAD)
        assert (await s.expansions.get(job.id)).id == job.id
    async with tf.AdminSession(emu.admin_jwt) as a:
        assert a.organization_id == emu.organization_id
        assert len(await a.api_keys.list()) == 1
        assert (await a.exports.create(lesson_id="l1")).job.is_completed


def test_missing_credentials_name_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUTORFLOW_CONTENT_API_KEY", raising=False)
    with pytest.raises(tf.InvalidArgumentError, match=r"^api_key: .*TUTORFLOW_CONTENT_API_KEY"):
        tf.ContentSession()
