"""wait_for_expansion and the shared poller against the emulator."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from fast_settings import FAST

import tutorflow_async as tf
from tutorflow_async.testing import EmulatorConfig, Fault, TutorFlowEmulator
from tutorflow_async.waiting import next_poll_delay

PAYLOAD = {"level": {"id": "w1", "lessons": [{"id": "l1", "type": "vocabulary"}]}}
QUICK = {"poll_interval": 0.05, "max_interval": 0.2}
GET_JOB = ("GET", "/v1/content/integrations/expansions/{jobId}")
GET_RESULT = ("GET", "/v1/content/integrations/expansions/{jobId}/result")


@pytest.fixture
async def quick_emu() -> AsyncIterator[TutorFlowEmulator]:
    async with TutorFlowEmulator(EmulatorConfig(queued_seconds=0.05,
                                                processing_seconds=0.25)) as e:
        yield e


@pytest.fixture
async def session(quick_emu: TutorFlowEmulator) -> AsyncIterator[tf.ContentSession]:
    issued = quick_emu.create_api_key(name="wait", rate_limit_per_minute=100_000)
    async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url,
                                 rate_limit_per_minute=100_000, config=FAST) as s:
        yield s


def test_poll_delay_backs_off_with_bounded_jitter() -> None:
    low = [next_poll_delay(n, poll_interval=1, max_interval=10, rand=lambda: 0.0)
           for n in range(8)]
    high = [next_poll_delay(n, poll_interval=1, max_interval=10, rand=lambda: 1.0)
            for n in range(8)]
    assert low == pytest.approx([0.8, 1.2, 1.8, 2.7, 4.05, 6.075, 8.0, 8.0])
    assert high == pytest.approx([1.2, 1.8, 2.7, 4.05, 6.075, 9.1125, 12.0, 12.0])


async def test_wait_returns_the_result_of_a_completed_job(session: tf.ContentSession) -> None:
    job = await session.expansions.create(PAYLOAD)
    result = await session.wait_for_expansion(job.id, timeout=10, **QUICK)
    assert result.job.id == job.id and result.job.is_completed
    assert result.outputs[0].manifest is not None


async def test_the_session_sets_the_polling_of_waits_that_do_not(
    quick_emu: TutorFlowEmulator,
) -> None:
    issued = quick_emu.create_api_key(name="intervals", rate_limit_per_minute=100_000)
    async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url, config=FAST,
                                 rate_limit_per_minute=100_000, poll_interval=0.05,
                                 max_interval=0.2) as s:
        job = await s.expansions.create(PAYLOAD)
        started = time.monotonic()
        result = await s.wait_for_expansion(job.id, timeout=10)
        took = time.monotonic() - started
        resolved = (s.intervals(None, None), s.intervals(0.5, 1.0))

    assert result.job.is_completed
    # The job takes 0.3 s; the SDK's own first poll would come after about 2 s.
    assert took < 1.5
    assert resolved == ((0.05, 0.2), (0.5, 1.0))  # a wait's own settings win
    with pytest.raises(tf.InvalidArgumentError, match="max_interval"):
        tf.ContentSession(issued.api_key, base_url=quick_emu.base_url, poll_interval=5,
                          max_interval=1)


async def test_a_failed_job_raises_with_its_error_details(session: tf.ContentSession) -> None:
    job = await session.expansions.create({**PAYLOAD, "_emulator": {"fail": True}})
    with pytest.raises(tf.ExpansionFailed) as info:
        await session.wait_for_expansion(job.id, timeout=10, **QUICK)
    err = info.value
    assert err.job_id == job.id and err.error is not None and err.error.code
    assert len(err.output_errors) == 1
    assert err.result is not None and err.result.job.is_failed
    assert isinstance(err, tf.TutorFlowError) and err.support_fields()["job_id"] == job.id


async def test_a_wait_past_its_deadline_raises_and_resumes_elsewhere(
    quick_emu: TutorFlowEmulator, session: tf.ContentSession
) -> None:
    job = await session.expansions.create({**PAYLOAD, "_emulator": {"processing_seconds": 60}})
    waiter = session.expansion_waiter(job.id, timeout=0.4, **QUICK)
    started = time.monotonic()
    with pytest.raises(tf.ExpansionTimeoutError) as info:
        await waiter
    assert 0.35 < time.monotonic() - started < 2.0
    assert info.value.job_id == job.id and info.value.last_status == "processing"
    token = json.loads(waiter.continuation_token())
    assert token["job_id"] == job.id and token["last_status"] == "processing"
    assert token["deadline"] - token["started_at"] == pytest.approx(0.4)

    # Another process picks the wait up with a fresh deadline once the job is done.
    token["deadline"] = time.time() + 10
    quick_emu.advance(120)
    issued = quick_emu.create_api_key(name="other-process")
    async with tf.ContentSession(issued.api_key, base_url=quick_emu.base_url) as other:
        result = await other.resume_wait(json.dumps(token), **QUICK)
    assert result.job.id == job.id and result.job.is_completed


async def test_many_waits_share_one_schedule(
    quick_emu: TutorFlowEmulator, session: tf.ContentSession
) -> None:
    jobs = [await session.expansions.create({**PAYLOAD, "n": i}) for i in range(20)]
    waits = [session.wait_for_expansion(j.id, timeout=10, **QUICK) for j in jobs for _ in range(10)]
    results = await asyncio.gather(*waits)
    assert len(results) == 200 and all(r.job.is_completed for r in results)
    # Ten waiters per job cost what one does: about one poll per interval, one result each.
    assert quick_emu.counters.by_route[GET_RESULT] == 20
    assert quick_emu.counters.by_route[GET_JOB] <= 20 * 8
    assert session.poller.stats.watched == 0


async def test_transient_errors_while_polling_do_not_end_the_wait(
    quick_emu: TutorFlowEmulator, session: tf.ContentSession
) -> None:
    job = await session.expansions.create(PAYLOAD)
    quick_emu.add_fault(Fault(kind="status", status=503, method="GET", times=12))
    result = await session.wait_for_expansion(job.id, timeout=10, **QUICK)
    assert result.job.is_completed and quick_emu.counters.faults_injected == 12
    assert session.poller.stats.transient_errors >= 1


async def test_cancelling_a_wait_stops_it_cleanly(
    quick_emu: TutorFlowEmulator, session: tf.ContentSession
) -> None:
    job = await session.expansions.create({**PAYLOAD, "_emulator": {"processing_seconds": 60}})
    task = asyncio.create_task(session.wait_for_expansion(job.id, timeout=30, **QUICK))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert session.poller.stats.watched == 0
    polls = quick_emu.counters.by_route[GET_JOB]
    await asyncio.sleep(0.4)
    assert quick_emu.counters.by_route[GET_JOB] == polls  # nobody polls for it any more


async def test_many_waits_stay_under_the_key_limit() -> None:
    window = 1.0
    async with TutorFlowEmulator(EmulatorConfig(rate_limit_window=window, queued_seconds=0.0,
                                                processing_seconds=0.5)) as emu:
        issued = emu.create_api_key(name="limited", rate_limit_per_minute=40)
        config = tf.TransportConfig(rate_limit_window=window, rate_limit_margin=0.05)
        async with tf.ContentSession(issued.api_key, base_url=emu.base_url,
                                     rate_limit_per_minute=40, config=config) as s:
            jobs = await asyncio.gather(*(s.expansions.create({**PAYLOAD, "n": i})
                                          for i in range(30)))
            results = await asyncio.gather(*(s.wait_for_expansion(j.id, timeout=20, **QUICK)
                                             for j in jobs))
        assert all(r.job.is_completed for r in results)
        assert emu.counters.rate_limited == 0
        assert emu.max_requests_in_window(issued.key_id) <= 40


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"timeout": 0}, "timeout"), ({"poll_interval": -1}, "poll_interval"),
     ({"poll_interval": 5, "max_interval": 1}, "max_interval"), ({"timeout": "5"}, "timeout")],
)
async def test_bad_wait_arguments_fail_before_any_request(
    quick_emu: TutorFlowEmulator, session: tf.ContentSession, kwargs: dict[str, object],
    argument: str,
) -> None:
    before = quick_emu.counters.requests
    with pytest.raises(tf.InvalidArgumentError, match=rf"^{argument}"):
        await session.wait_for_expansion("job_1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(tf.InvalidArgumentError, match=r"^job_id"):
        await session.wait_for_expansion("")
    with pytest.raises(tf.InvalidArgumentError, match=r"^token"):
        session.resume_wait("{}")
    assert quick_emu.counters.requests == before
