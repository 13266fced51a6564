"""Waits against a server that misbehaves the ways the vendor's thin docs allow.

Each test stands for one finding: a wait must end on time and say why, never poll silently
until its deadline; a huge ``Retry-After`` must not freeze a key; abandoned polls must not
starve the poller; the poller runs on the session's clock; a borrowed aiohttp session
closed by its owner ends the waits with ``SessionClosedError``; a refused redirect ends
the wait with that error.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from fast_settings import FAST

import tutorflow_async as tf
from edu_async_core.clock import SystemClock
from tutorflow_async.testing import EmulatorConfig, Fault, TutorFlowEmulator

PAYLOAD = {"level": {"id": "m1", "lessons": [{"id": "l1", "type": "vocabulary"}]}}
QUICK = {"poll_interval": 0.05, "max_interval": 0.2}
GET_JOB = ("GET", "/v1/content/integrations/expansions/{jobId}")


@pytest.fixture
async def slow_emu() -> AsyncIterator[TutorFlowEmulator]:
    async with TutorFlowEmulator(EmulatorConfig(queued_seconds=0.0, processing_seconds=60.0,
                                                shutdown_timeout=0.1)) as e:
        yield e


def session_on(emu: TutorFlowEmulator, **kwargs: object) -> tf.ContentSession:
    issued = emu.create_api_key(name="misbehaving", rate_limit_per_minute=100_000)
    return tf.ContentSession(issued.api_key, base_url=emu.base_url, config=FAST,
                             rate_limit_per_minute=100_000, **kwargs)  # type: ignore[arg-type]


async def test_a_huge_retry_after_pauses_the_key_no_longer_than_max_retry_after(
    slow_emu: TutorFlowEmulator,
) -> None:
    # One call answered 429 with Retry-After: 86400. Before the fix the key's limiter was
    # paused for a day: every later call on the key waited with 0 requests sent.
    config = tf.TransportConfig(retry=tf.RetryPolicy(max_attempts=2, max_retry_after=0.3,
                                                     deadline=5.0, backoff_base=0.01))
    issued = slow_emu.create_api_key(name="huge", rate_limit_per_minute=100_000)
    async with tf.ContentSession(issued.api_key, base_url=slow_emu.base_url, config=config,
                                 rate_limit_per_minute=100_000) as s:
        job = await s.expansions.create(PAYLOAD)
        slow_emu.add_fault(Fault(kind="status", status=429, retry_after=86400, method="GET"))
        with pytest.raises(tf.RateLimitExceededError):
            await s.expansions.get(job.id)  # its own Retry-After is past max_retry_after
        started = time.monotonic()
        before = slow_emu.counters.requests
        again = await asyncio.wait_for(s.expansions.get(job.id), 5)
        assert again.id == job.id
        assert slow_emu.counters.requests == before + 1
        assert time.monotonic() - started < 2.0  # paused at most max_retry_after (0.3 s)


async def test_a_call_does_not_wait_for_a_pause_past_its_deadline(
    slow_emu: TutorFlowEmulator,
) -> None:
    # max_retry_after 60 s but a call deadline of 1 s: the call fails at once, typed, and
    # sends nothing, instead of waiting out the pause.
    config = tf.TransportConfig(retry=tf.RetryPolicy(max_attempts=1, max_retry_after=60.0,
                                                     deadline=1.0))
    issued = slow_emu.create_api_key(name="deadline", rate_limit_per_minute=100_000)
    async with tf.ContentSession(issued.api_key, base_url=slow_emu.base_url, config=config,
                                 rate_limit_per_minute=100_000) as s:
        job = await s.expansions.create(PAYLOAD)
        slow_emu.add_fault(Fault(kind="status", status=429, retry_after=30, method="GET"))
        with pytest.raises(tf.RateLimitExceededError):
            await s.expansions.get(job.id)
        before = slow_emu.counters.requests
        started = time.monotonic()
        with pytest.raises(tf.RateLimitExceededError, match="paused") as info:
            await s.expansions.get(job.id)
        assert time.monotonic() - started < 0.5
        assert info.value.retry_after is not None and 20 < info.value.retry_after <= 30
        assert slow_emu.counters.requests == before


async def test_abandoned_polls_give_their_slots_back_at_once(
    slow_emu: TutorFlowEmulator,
) -> None:
    # 80 waits whose polls hang on the server time out; a wait for a job that is already
    # done must still be served. Before the fix the hung polls kept all 64 slots.
    async with session_on(slow_emu, poll_interval=0.01, max_interval=0.01) as s:
        jobs = [await s.expansions.create({**PAYLOAD, "n": n}) for n in range(80)]
        slow_emu.add_fault(Fault(kind="delay", delay=30.0, method="GET", times=None))
        results = await asyncio.gather(
            *(s.wait_for_expansion(job.id, timeout=0.3) for job in jobs),
            return_exceptions=True,
        )
        assert all(isinstance(r, tf.ExpansionTimeoutError) for r in results)
        slow_emu.clear_faults()
        done = await s.expansions.create({**PAYLOAD, "done": True})
        slow_emu.advance(120)  # the job clock: every job is completed now
        result = await s.wait_for_expansion(done.id, timeout=3)
        assert result.job.is_completed
        await asyncio.sleep(0)
        assert s.poller.stats.watched == 0


class SteppingClock(SystemClock):
    """The real monotonic clock, and a wall clock that jumps an hour ahead once read."""

    def __init__(self) -> None:
        self.jump = 0.0

    def time(self) -> float:
        value = time.time() + self.jump
        self.jump = 3600.0
        return value


async def test_waited_is_measured_on_the_monotonic_clock(slow_emu: TutorFlowEmulator) -> None:
    # A wall-clock step during a wait: before the fix a 0.3 s wait said waited=3600.3 s.
    async with session_on(slow_emu, clock=SteppingClock(), **QUICK) as s:
        job = await s.expansions.create(PAYLOAD)
        with pytest.raises(tf.ExpansionTimeoutError) as info:
            await s.wait_for_expansion(job.id, timeout=0.3)
        assert 0.25 <= info.value.waited < 5.0, info.value.waited


class FastForward(SystemClock):
    """A clock whose sleeps return at once: the poller must use it, not real time."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)
        self.slept += max(0.0, seconds)
        await asyncio.sleep(0)


async def test_the_poller_schedules_on_the_session_clock(
    slow_emu: TutorFlowEmulator,
) -> None:
    clock = FastForward()
    async with session_on(slow_emu, clock=clock, poll_interval=30.0, max_interval=60.0) as s:
        job = await s.expansions.create(PAYLOAD)
        slow_emu.advance(120)
        started = time.monotonic()
        result = await s.wait_for_expansion(job.id, timeout=30)
        # Polls 30 s apart on the session's clock, but no real time spent waiting for them.
        assert result.job.is_completed and time.monotonic() - started < 2.0
        assert clock.slept >= 20.0


async def test_a_borrowed_session_closed_by_its_owner_ends_the_waits(
    slow_emu: TutorFlowEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    owned = aiohttp.ClientSession()
    async with session_on(slow_emu, session=owned, **QUICK) as s:
        job = await s.expansions.create(PAYLOAD)
        waits = [asyncio.create_task(s.wait_for_expansion(job.id, timeout=30))
                 for _ in range(3)]
        await asyncio.sleep(0.2)
        await owned.close()  # its owner closes it mid-wait
        started = time.monotonic()
        results = await asyncio.gather(*waits, return_exceptions=True)
        assert time.monotonic() - started < 2.0
        assert all(isinstance(r, tf.SessionClosedError) for r in results), results
        assert all(isinstance(r, tf.TutorFlowError) for r in results)
        with pytest.raises(tf.SessionClosedError):
            await s.expansions.get(job.id)
    gc.collect()
    assert "exception was never retrieved" not in caplog.text


async def test_a_refused_redirect_ends_the_wait_with_that_error(
    unused_tcp_port: int,
) -> None:
    # A server that redirects every status poll to another host: the SDK refuses to send
    # the key there, and the wait ends with that error instead of polling until its
    # deadline (before the fix: 29 polls in 3 s, then a timeout saying nothing).
    polls = 0

    async def create(_request: web.Request) -> web.Response:
        return web.json_response({"job": {"id": "job-1", "status": "queued"}, "outputs": []})

    async def status(_request: web.Request) -> web.Response:
        nonlocal polls
        polls += 1
        raise web.HTTPFound("http://elsewhere.invalid/v1/job-1")

    app = web.Application()
    app.router.add_post("/v1/content/integrations/expansions", create)
    app.router.add_get("/v1/content/integrations/expansions/{job}", status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    try:
        async with tf.ContentSession("tf_content_redirect0000", config=FAST,
                                     base_url=f"http://127.0.0.1:{unused_tcp_port}",
                                     poll_interval=0.05, max_interval=0.2) as s:
            job = await s.expansions.create(PAYLOAD)
            started = time.monotonic()
            with pytest.raises(tf.BadResponseError, match="another host"):
                await s.wait_for_expansion(job.id, timeout=10)
            assert time.monotonic() - started < 2.0 and polls == 1
    finally:
        await runner.cleanup()


# -- statuses ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["canceled", "cancelled", "expired", "EXPIRED", "aborted"])
async def test_a_status_that_says_the_job_ended_ends_the_wait_at_once(status: str) -> None:
    # Before the fix these were polled silently until the deadline (900 s by default).
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.1,
                            final_status=status.lower(),
                            status_case="upper" if status.isupper() else "lower")
    async with TutorFlowEmulator(config) as emu, session_on(emu, **QUICK) as s:
        job = await s.expansions.create(PAYLOAD)
        started = time.monotonic()
        with pytest.raises(tf.ExpansionEnded) as info:
            await s.wait_for_expansion(job.id, timeout=30)
        assert time.monotonic() - started < 3.0
        assert info.value.job_status == status and info.value.job_id == job.id
        assert isinstance(info.value, tf.ExpansionFailed)  # a bulk run reports it failed


@pytest.mark.parametrize("case", ["upper", "title"])
async def test_statuses_are_compared_case_insensitively(case: str) -> None:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.1, status_case=case)  # type: ignore[arg-type]
    async with TutorFlowEmulator(config) as emu, session_on(emu, **QUICK) as s:
        job = await s.expansions.create(PAYLOAD)
        result = await asyncio.wait_for(s.wait_for_expansion(job.id, timeout=30), 5)
        assert result.job.status in ("COMPLETED", "Completed")
        assert result.job.is_terminal and result.job.is_completed
        assert result.job.status == tf.JobStatus.COMPLETED == result.job.status


async def test_the_ended_statuses_are_configurable() -> None:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.1, final_status="retired")
    async with TutorFlowEmulator(config) as emu:
        async with session_on(emu, ended_statuses=["Retired"], **QUICK) as s:
            job = await s.expansions.create(PAYLOAD)
            with pytest.raises(tf.ExpansionEnded):
                await asyncio.wait_for(s.wait_for_expansion(job.id, timeout=30), 5)
        with pytest.raises(tf.InvalidArgumentError, match="ended_statuses"):
            session_on(emu, ended_statuses="canceled")


async def test_an_unknown_status_is_warned_once_and_taken_as_running(
    slow_emu: TutorFlowEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    async with session_on(slow_emu, **QUICK) as s:
        job = await s.expansions.create(PAYLOAD)
        slow_emu.override_status(job.id, "on_hold")
        with (caplog.at_level("WARNING", logger="tutorflow_async"),
              pytest.raises(tf.ExpansionTimeoutError) as info):
            await s.wait_for_expansion(job.id, timeout=0.8)
        warned = [r for r in caplog.records if "on_hold" in r.getMessage()]
        assert len(warned) == 1 and warned[0].levelname == "WARNING"
        assert getattr(warned[0], "job_id", None) == job.id
        assert info.value.last_status == "on_hold" and s.poller.stats.polls >= 3


@pytest.mark.parametrize("sent", ["", None, "missing"])
async def test_a_status_that_cannot_be_read_backs_off_and_the_timeout_says_so(
    slow_emu: TutorFlowEmulator, sent: str | None
) -> None:
    from tutorflow_async.testing import MISSING

    async with session_on(slow_emu, poll_interval=0.05, max_interval=1.0) as s:
        job = await s.expansions.create(PAYLOAD)
        first = await s.expansions.get(job.id)
        slow_emu.override_status(job.id, MISSING if sent == "missing" else sent)
        with pytest.raises(tf.ExpansionTimeoutError) as info:
            await s.wait_for_expansion(job.id, timeout=2.0)
        err = info.value
        if sent == "":
            # An empty status is read (and kept: "" is not None), and taken as running.
            assert err.last_status == "" and err.last_error is None
        else:
            # Unreadable: the last readable status stays, and the failure is carried.
            assert err.last_status is None or err.last_status == first.status
            assert isinstance(err.last_error, tf.BadResponseError)
            # Failed polls back off like answered ones (before the fix: 19 polls in 3 s).
            assert s.poller.stats.transient_errors <= 8


@pytest.mark.parametrize("lag_status", [404, 409])
async def test_a_result_that_lags_behind_completed_is_waited_for(lag_status: int) -> None:
    # Before the fix every waiter ended with NotFoundError the moment the job said
    # completed while its result was not there yet.
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.1,
                            result_lag_seconds=1.0, result_lag_status=lag_status)
    async with TutorFlowEmulator(config) as emu, session_on(emu, **QUICK) as s:
        job = await s.expansions.create(PAYLOAD)
        result = await asyncio.wait_for(s.wait_for_expansion(job.id, timeout=30), 10)
        assert result.job.is_completed and result.outputs


async def test_a_result_that_never_comes_ends_the_wait_after_the_grace() -> None:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.1,
                            result_lag_seconds=3600.0)
    async with TutorFlowEmulator(config) as emu, session_on(emu, **QUICK) as s:
        s.poller._result_grace = 1.0  # what defaults.RESULT_GRACE sets (30 s) in a test
        job = await s.expansions.create(PAYLOAD)
        started = time.monotonic()
        with pytest.raises(tf.NotFoundError):
            await s.wait_for_expansion(job.id, timeout=30)
        assert 1.0 <= time.monotonic() - started < 5.0


async def test_a_failed_jobs_missing_result_is_raised_at_once() -> None:
    # The result grace is for a job said to be completed; a failed one's 404 is not waited
    # for (it would have cost every failed wait 30 s).
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.1, failure_rate=1.0)
    async with TutorFlowEmulator(config) as emu, session_on(emu, **QUICK) as s:
        job = await s.expansions.create(PAYLOAD)
        emu.add_fault(Fault(kind="status", status=404, method="GET", times=None,
                            path="/v1/content/integrations/expansions/{jobId}/result"))
        started = time.monotonic()
        with pytest.raises(tf.NotFoundError):
            await s.wait_for_expansion(job.id, timeout=30)
        assert time.monotonic() - started < 5.0
