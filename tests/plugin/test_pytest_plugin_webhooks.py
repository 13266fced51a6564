"""The webhook fixtures: a user's "webhooks end my waits" test is three lines."""

from __future__ import annotations

import asyncio

import pytest

import tutorflow_async as tf
from tutorflow_async.testing import TutorFlowEmulator
from tutorflow_async.webhooks import WebhookReceiver

LESSON = {"language": "en", "level": {"id": "a1", "lessons": [{"id": "greetings"}]}}


async def test_webhooks_end_my_waits(
    tutorflow_webhook_session: tf.ContentSession, tutorflow_webhook_receiver: WebhookReceiver
) -> None:
    job = await tutorflow_webhook_session.expansions.create(LESSON)
    result = await tutorflow_webhook_session.wait_for_expansion(job.id, timeout=10)
    assert result.job.status == tf.JobStatus.COMPLETED
    assert tutorflow_webhook_receiver.counters.accepted >= 1


async def test_the_wait_is_ended_by_the_delivery_not_by_polling(
    tutorflow_webhook_session: tf.ContentSession,
    tutorflow_webhook_receiver: WebhookReceiver,
) -> None:
    job = await tutorflow_webhook_session.expansions.create(LESSON)
    # Polling falls back only after 60 s: a wait that ends within seconds heard the event.
    await asyncio.wait_for(tutorflow_webhook_session.wait_for_expansion(job.id), 10)
    assert tutorflow_webhook_session.poller.stats.polls == 0
    assert tutorflow_webhook_receiver.counters.rejected_signature == 0


async def test_the_receiver_is_registered_and_removed_after(
    tutorflow_emulator: TutorFlowEmulator,
    tutorflow_admin_session: tf.AdminSession,
    tutorflow_webhook_receiver: WebhookReceiver,
) -> None:
    hooks = await tutorflow_admin_session.webhooks.list()
    assert len(hooks) == 1
    assert hooks[0].url.startswith("http://127.0.0.1:")


@pytest.mark.tutorflow_emulator(failure_rate=1.0)
async def test_a_failed_job_is_delivered_too(
    tutorflow_webhook_session: tf.ContentSession,
) -> None:
    job = await tutorflow_webhook_session.expansions.create(LESSON)
    with pytest.raises(tf.ExpansionFailed):
        await asyncio.wait_for(tutorflow_webhook_session.wait_for_expansion(job.id), 10)
    assert tutorflow_webhook_session.poller.stats.polls == 0
