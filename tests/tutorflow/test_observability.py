"""What a session tells its hooks and its logger, against the real emulators on 127.0.0.1.

A hook sees every attempt of a retried call in order; waits, bulk runs and walks are
framed as operations; log records carry their fields in ``extra=`` at the documented
levels; no secret reaches an event, a record's message or any of its fields.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fast_settings import FAST

import nexttech_async as nt
import tutorflow_async as tf
from edu_async_core.hooks import (
    CallEnded,
    CallStarted,
    Event,
    Hooks,
    OperationEnded,
    OperationStarted,
    PollDecision,
    RateLimitWait,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
)
from nexttech_async.testing import NextTechEmulator
from tutorflow_async.testing import EmulatorConfig, Fault, TutorFlowEmulator

PAYLOAD = {"level": {"id": "m1", "lessons": [{"id": "l1", "type": "vocabulary"}]}}
CREATE = ("POST", "/v1/content/integrations/expansions")
QUICK: dict[str, Any] = {"poll_interval": 0.02, "max_interval": 0.05}
# What the request records may hold, field by field.
FIELDS = {"method", "path", "status", "attempt", "key_prefix", "idempotency_key"}


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    plain = logging.makeLogRecord({}).__dict__
    return {k: v for k, v in record.__dict__.items() if k not in plain and k != "message"}


@pytest.fixture
async def quick_emu() -> Any:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.05)
    async with TutorFlowEmulator(config) as emu:
        yield emu


async def test_a_hook_sees_every_attempt_of_a_retried_create_in_order(
    quick_emu: TutorFlowEmulator,
) -> None:
    issued = quick_emu.create_api_key(name="hooks", rate_limit_per_minute=10_000)
    events: list[Event] = []
    quick_emu.add_fault(Fault(kind="status", status=503, method="POST", times=2))
    async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url, config=FAST,
                                 rate_limit_per_minute=10_000, hooks=[events.append]) as s:
        job = await s.expansions.create(PAYLOAD, idempotency_key="lesson-1")
    assert kinds(events) == [
        "CallStarted",
        "RequestSent", "ResponseReceived", "RetryScheduled",
        "RequestSent", "ResponseReceived", "RetryScheduled",
        "RequestSent", "ResponseReceived",
        "CallEnded",
    ]
    started, ended = events[0], events[-1]
    assert isinstance(started, CallStarted) and isinstance(ended, CallEnded)
    assert started.operation == ended.operation == "expansions.create"
    assert started.idempotency_key == "lesson-1"
    assert started.key_prefix == issued.api_key[:15] + "…"
    assert {getattr(e, "call_id", None) for e in events} == {started.call_id}
    sent = [e for e in events if isinstance(e, RequestSent)]
    answered = [e for e in events if isinstance(e, ResponseReceived)]
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert [e.attempt for e in sent] == [1, 2, 3]
    assert [(e.attempt, e.status) for e in answered] == [(1, 503), (2, 503), (3, 200)]
    assert [(e.attempt, e.reason, e.status) for e in retries] == [(1, "status", 503),
                                                                   (2, "status", 503)]
    assert all(e.delay > 0 for e in retries)
    assert all(isinstance(e.error, tf.InternalServerError) for e in retries)
    assert ended.error is None and ended.attempts == 3 and ended.status == 200
    assert job.id


async def test_a_call_that_gives_up_ends_with_its_error(quick_emu: TutorFlowEmulator) -> None:
    issued = quick_emu.create_api_key(name="hooks", rate_limit_per_minute=10_000)
    events: list[Event] = []
    quick_emu.add_fault(Fault(kind="status", status=503, method="GET", times=None))
    config = tf.TransportConfig(retry=tf.RetryPolicy(max_attempts=2, backoff_base=0.01))
    async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url, config=config,
                                 rate_limit_per_minute=10_000) as s:
        s.hooks.add(events.append)  # attached after the session was made
        with pytest.raises(tf.InternalServerError):
            await s.expansions.get("job_missing")
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.operation == "expansions.get"
    assert isinstance(ended.error, tf.InternalServerError) and ended.attempts == 2


async def test_a_wait_is_an_operation_and_each_poll_says_what_it_decided(
    quick_emu: TutorFlowEmulator,
) -> None:
    issued = quick_emu.create_api_key(name="hooks", rate_limit_per_minute=10_000)
    events: list[Event] = []
    async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url, config=FAST,
                                 rate_limit_per_minute=10_000, hooks=[events.append],
                                 **QUICK) as s:
        job = await s.expansions.create(PAYLOAD)
        events.clear()
        result = await s.wait_for_expansion(job.id, timeout=10)
    assert result.job.status == "completed"
    start = events[0]
    assert isinstance(start, OperationStarted) and start.name == "wait_for_expansion"
    assert start.attributes == {"job_id": job.id}
    decisions = [e for e in events if isinstance(e, PollDecision)]
    assert decisions, "no poll decision was reported"
    assert [d.polls for d in decisions] == list(range(1, len(decisions) + 1))
    assert all(not d.done and d.next_poll_in is not None for d in decisions[:-1])
    assert decisions[-1].done and decisions[-1].status == "completed"
    assert decisions[-1].next_poll_in is None
    end = events[-1]
    assert isinstance(end, OperationEnded) and end.operation_id == start.operation_id
    assert end.error is None and end.attributes["status"] == "completed"
    polls = [e for e in events if isinstance(e, CallStarted)]
    assert {e.operation for e in polls} == {"expansions.get", "expansions.result"}


async def test_a_wait_that_times_out_ends_its_operation_with_the_timeout() -> None:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=60.0)
    async with TutorFlowEmulator(config) as emu:
        issued = emu.create_api_key(name="hooks", rate_limit_per_minute=10_000)
        events: list[Event] = []
        async with tf.ContentSession(issued.api_key, base_url=emu.base_url, config=FAST,
                                     rate_limit_per_minute=10_000, hooks=[events.append],
                                     **QUICK) as s:
            job = await s.expansions.create(PAYLOAD)
            with pytest.raises(tf.ExpansionTimeoutError):
                await s.wait_for_expansion(job.id, timeout=0.2)
    end = [e for e in events if isinstance(e, OperationEnded)][-1]
    assert isinstance(end.error, tf.ExpansionTimeoutError)
    assert end.attributes["status"] == "processing"


async def test_a_bulk_run_is_one_operation_with_its_counts(quick_emu: TutorFlowEmulator) -> None:
    issued = quick_emu.create_api_key(name="hooks", rate_limit_per_minute=10_000)
    events: list[Event] = []
    inputs: list[Any] = [PAYLOAD, {"level": {"id": "m2", "lessons": []}}, "not an object"]
    async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url, config=FAST,
                                 rate_limit_per_minute=10_000, hooks=[events.append],
                                 **QUICK) as s:
        outcomes = [o async for o in s.expand_many(inputs, concurrency=2, timeout=10)]
    assert len(outcomes) == 3
    ops = [e for e in events if isinstance(e, OperationStarted | OperationEnded)]
    names = [(type(e).__name__, e.name) for e in ops]
    assert names[0] == ("OperationStarted", "expand_many")
    assert names[-1] == ("OperationEnded", "expand_many")
    end = ops[-1]
    assert isinstance(end, OperationEnded) and end.error is None
    assert end.attributes["stopped_early"] is False
    by_status: dict[str, int] = {}
    for outcome in outcomes:
        by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
    assert end.attributes["completed"] == by_status.get("completed", 0)
    assert end.attributes["errors"] + end.attributes["failed"] == 3 - by_status.get(  # type: ignore[operator]
        "completed", 0
    )


async def test_a_walk_is_one_operation_with_its_item_count() -> None:
    async with NextTechEmulator() as emu:
        emu.add_contents(1_700_000_000 + s for s in range(30))
        events: list[Event] = []
        async with nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url,
                                      hooks=Hooks([events.append])) as s:
            got = [c.id async for c in s.contents.iterate()]
    assert len(got) == 30
    start, end = events[0], events[-1]
    assert isinstance(start, OperationStarted) and start.name == "walk"
    assert start.attributes == {"kind": "contents", "shards": 1}
    assert isinstance(end, OperationEnded)
    assert end.attributes["items"] == 30 and end.attributes["stopped_early"] is False
    calls = [e for e in events if isinstance(e, CallStarted)]
    assert calls and {c.operation for c in calls} == {"contents.list"}


async def test_a_walk_stopped_early_says_so() -> None:
    async with NextTechEmulator() as emu:
        emu.add_contents(1_700_000_000 + s for s in range(30))
        events: list[Event] = []
        async with nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url,
                                      hooks=[events.append]) as s, s.contents.iterate() as walk:
            async for _ in walk:
                break
    end = events[-1]
    assert isinstance(end, OperationEnded)
    assert end.attributes["items"] == 1 and end.attributes["stopped_early"] is True


async def test_without_hooks_a_walk_is_not_wrapped() -> None:
    async with NextTechEmulator() as emu, nt.NextTechSession(
        emu.api_token, emu.secret_key, base_url=emu.base_url
    ) as s:
        assert type(s.contents.iterate()).__name__ == "Walk"


async def test_a_rate_limit_wait_is_reported_with_its_seconds(
    quick_emu: TutorFlowEmulator,
) -> None:
    issued = quick_emu.create_api_key(name="hooks", rate_limit_per_minute=10_000)
    events: list[Event] = []
    config = tf.TransportConfig(rate_limit_window=0.3, rate_limit_margin=0.0)
    async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url, config=config,
                                 rate_limit_per_minute=2, hooks=[events.append]) as s:
        job = await s.expansions.create(PAYLOAD)
        for _ in range(2):
            await s.expansions.get(job.id)
    waits = [e for e in events if isinstance(e, RateLimitWait)]
    assert len(waits) == 1
    assert waits[0].operation == "expansions.get" and 0.05 < waits[0].seconds < 1.0
    assert waits[0].key_prefix == issued.api_key[:15] + "…"


async def test_log_records_carry_their_fields_and_no_secret(
    quick_emu: TutorFlowEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    issued = quick_emu.create_api_key(name="logs", rate_limit_per_minute=10_000)
    quick_emu.add_fault(Fault(kind="status", status=503, method="POST", times=1))
    with caplog.at_level(logging.DEBUG, logger="tutorflow_async"):
        async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url, config=FAST,
                                     rate_limit_per_minute=10_000, **QUICK) as s:
            job = await s.expansions.create(PAYLOAD, idempotency_key="lesson-7")
            await s.wait_for_expansion(job.id, timeout=10)
    records = [r for r in caplog.records if r.name == "tutorflow_async"]
    requests = [r for r in records if r.levelno == logging.DEBUG and "status" in fields_of(r)
                and "attempt" in fields_of(r)]
    assert requests, "no request record"
    for record in requests:
        assert set(fields_of(record)) >= FIELDS, fields_of(record)
        assert record.key_prefix == issued.api_key[:15] + "…"  # type: ignore[attr-defined]
    first = requests[0]
    assert (first.method, first.status, first.attempt) == ("POST", 503, 1)  # type: ignore[attr-defined]
    assert first.idempotency_key == "lesson-7"  # type: ignore[attr-defined]
    (retry,) = [r for r in records if r.getMessage().startswith("retrying")]
    assert retry.levelno == logging.INFO
    fields = fields_of(retry)
    assert fields["delay"] > 0 and fields["reason"] == "status" and fields["status"] == 503
    assert fields["attempt"] == 1 and fields["method"] == "POST"
    assert "POST /v1/content/integrations/expansions" in retry.getMessage()
    polls = [r for r in records if "job_id" in fields_of(r)]
    assert polls and all(r.job_id == job.id for r in polls)  # type: ignore[attr-defined]
    secret = issued.api_key
    for record in records:
        assert secret not in record.getMessage()
        assert all(secret not in repr(v) for v in fields_of(record).values())


async def test_a_give_up_is_logged_at_info_with_why(
    quick_emu: TutorFlowEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    issued = quick_emu.create_api_key(name="logs", rate_limit_per_minute=10_000)
    quick_emu.add_fault(Fault(kind="status", status=503, method="GET", times=None))
    config = tf.TransportConfig(retry=tf.RetryPolicy(max_attempts=2, backoff_base=0.01))
    with caplog.at_level(logging.INFO, logger="tutorflow_async"):
        async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url, config=config,
                                     rate_limit_per_minute=10_000) as s:
            with pytest.raises(tf.InternalServerError):
                await s.expansions.get("job_x")
    (gave_up,) = [r for r in caplog.records if r.getMessage().startswith("giving up")]
    assert gave_up.levelno == logging.INFO
    assert fields_of(gave_up)["give_up"] == "retries exhausted"
    assert fields_of(gave_up)["attempt"] == 2


async def test_a_429_pause_is_logged_at_info_with_its_delay(
    quick_emu: TutorFlowEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    issued = quick_emu.create_api_key(name="logs", rate_limit_per_minute=10_000)
    quick_emu.add_fault(Fault(kind="status", status=429, retry_after=0.1, method="POST"))
    with caplog.at_level(logging.INFO, logger="tutorflow_async"):
        async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url, config=FAST,
                                     rate_limit_per_minute=10_000) as s:
            await s.expansions.create(PAYLOAD)
            # The retry itself waited out the Retry-After; a call made during a pause waits
            # in the limiter, and says so.
            limiter = s.transport.state.limiter
            assert limiter is not None
            limiter.pause(0.1)
            await s.expansions.create(PAYLOAD)
    (pause,) = [r for r in caplog.records if r.getMessage().startswith("429 on")]
    assert pause.levelno == logging.INFO and fields_of(pause)["delay"] == pytest.approx(0.1)
    (wait,) = [r for r in caplog.records if r.getMessage().startswith("rate limit:")]
    assert wait.levelno == logging.INFO
    assert fields_of(wait)["reason"] == "paused" and fields_of(wait)["delay"] > 0
    assert fields_of(wait)["key_prefix"] == issued.api_key[:15] + "…"
