"""Fault kinds beyond the basics, through both SDKs against their emulators.

Slow bodies (headers at once, body slower than the read timeout), truncated bodies
(``Content-Length`` larger than what comes, then a close), bursts of 429, 502/503 with and
without ``Retry-After`` (seconds and HTTP date), and webhook deliveries duplicated, out of
order or lost at bulk scale.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from reliability.figures import FigureBook, Scenario, counting_retries
from webhook_helpers import hooked_receiver

import nexttech_async as nt
import tutorflow_async as tf
from nexttech_async.testing import Fault as NtFault
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from tutorflow_async.testing import EmulatorConfig, Fault, IssuedKey, TutorFlowEmulator

EXPANSIONS = "/v1/content/integrations/expansions"
JOB = f"{EXPANSIONS}/{{jobId}}"
PAYLOAD = {"level": {"id": "faults", "lessons": [{"id": "l1"}]}}
#: Attempts time out after 0.3 s; a slow body takes a second.
QUICK = tf.TransportConfig(
    timeout=0.3,
    retry=tf.RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05, deadline=10),
)
NT_QUICK = nt.TransportConfig(timeout=QUICK.timeout, retry=QUICK.retry)
PAST_HTTP_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


def http_date_in(seconds: float) -> str:
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


@pytest.fixture
async def emu() -> AsyncIterator[TutorFlowEmulator]:
    async with TutorFlowEmulator(EmulatorConfig(queued_seconds=0.0, processing_seconds=60)) as e:
        yield e


@pytest.fixture
def key(emu: TutorFlowEmulator) -> IssuedKey:
    return emu.create_api_key(name="faults", rate_limit_per_minute=100_000)


@pytest.fixture
async def content(emu: TutorFlowEmulator, key: IssuedKey) -> AsyncIterator[tf.ContentSession]:
    async with tf.ContentSession(key.api_key, base_url=emu.base_url, config=QUICK,
                                 rate_limit_per_minute=100_000) as s:
        yield s


@pytest.fixture
async def nt_emu() -> AsyncIterator[NextTechEmulator]:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=50)) as e:
        e.add_contents([1_700_000_000 + i * 0.5 for i in range(120)])
        yield e


@pytest.fixture
async def nexttech(nt_emu: NextTechEmulator) -> AsyncIterator[nt.NextTechSession]:
    async with nt.NextTechSession(nt_emu.api_token, nt_emu.secret_key,
                                  base_url=nt_emu.base_url, config=NT_QUICK) as s:
        yield s


# -- slow and truncated bodies ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["slow_body", "truncated"])
async def test_a_damaged_body_is_retried_then_read(
    emu: TutorFlowEmulator, content: tf.ContentSession, kind: str
) -> None:
    job = await content.expansions.create(PAYLOAD)
    emu.add_fault(Fault(kind, method="GET", path=JOB, delay=1.0))
    started = time.monotonic()
    assert (await content.expansions.get(job.id)).id == job.id
    assert emu.counters.faults_injected == 1
    assert emu.counters.by_route[("GET", JOB)] == 2
    assert time.monotonic() - started < 0.9  # the slow body was given up at the timeout


@pytest.mark.parametrize(
    ("kind", "error"),
    [("slow_body", tf.APITimeoutError), ("truncated", tf.APIConnectionError)],
)
async def test_a_body_damaged_every_time_is_a_typed_error(
    emu: TutorFlowEmulator, content: tf.ContentSession, kind: str, error: type[tf.TutorFlowError]
) -> None:
    emu.add_fault(Fault(kind, method="GET", times=None, delay=1.0))
    with pytest.raises(error) as info:
        await content.expansions.get("job_1")
    err = info.value
    assert err.attempts == QUICK.retry.max_attempts
    assert (err.method, err.path) == ("GET", f"{EXPANSIONS}/job_1")


@pytest.mark.parametrize("kind", ["slow_body", "truncated"])
async def test_a_create_whose_answer_is_damaged_makes_one_job(
    emu: TutorFlowEmulator, content: tf.ContentSession, kind: str
) -> None:
    # The server committed the job, then its answer was cut short or came too slowly.
    emu.add_fault(Fault(kind, method="POST", path=EXPANSIONS, delay=1.0))
    job = await content.expansions.create(PAYLOAD)
    assert emu.counters.by_route[("POST", EXPANSIONS)] == 2
    assert emu.jobs_created == 1
    assert emu.jobs_per_idempotency_key() == {job.idempotency_key: 1}


@pytest.mark.parametrize(
    ("kind", "error"),
    [("slow_body", nt.APITimeoutError), ("truncated", nt.APIConnectionError)],
)
async def test_next_tech_damaged_bodies_retried_then_typed(
    nt_emu: NextTechEmulator, nexttech: nt.NextTechSession, kind: str,
    error: type[nt.NextTechError],
) -> None:
    nt_emu.add_fault(NtFault(kind, delay=1.0))
    assert len(await nexttech.contents.list()) == 50
    nt_emu.add_fault(NtFault(kind, delay=1.0, times=None))
    with pytest.raises(error) as info:
        await nexttech.contents.list()
    assert info.value.attempts == NT_QUICK.retry.max_attempts
    assert info.value.path == "/contents"


async def slow_then_truncated(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], arm: Callable[[str], None]
) -> None:
    arm("slow_body")
    started = time.monotonic()
    async with http.get(url, headers=headers) as r:
        headers_after = time.monotonic() - started
        body = await r.read()
    assert headers_after < 0.2 and time.monotonic() - started >= 0.35
    assert len(body) == r.content_length and body.strip()
    arm("truncated")
    async with http.get(url, headers=headers) as r:
        promised = r.content_length
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    assert promised is not None and promised > 2


async def test_on_the_wire_slow_bodies_trickle_and_truncated_ones_stop_short(
    emu: TutorFlowEmulator, key: IssuedKey, nt_emu: NextTechEmulator
) -> None:
    async with aiohttp.ClientSession() as http:
        await slow_then_truncated(
            http, f"{emu.base_url}{EXPANSIONS}/job_1", {"Authorization": f"Bearer {key.api_key}"},
            lambda kind: emu.add_fault(Fault(kind, delay=0.4)),
        )
        await slow_then_truncated(
            http, f"{nt_emu.base_url}/contents", {"Authorization": nt_emu.authorization},
            lambda kind: nt_emu.add_fault(NtFault(kind, delay=0.4)),
        )


async def test_webhook_disturbance_settings_are_checked() -> None:
    async with TutorFlowEmulator() as e:
        for kwargs in ({"lose_rate": 1.5}, {"duplicate_rate": -0.1}, {"max_delay": -1.0}):
            with pytest.raises(ValueError, match="must be"):
                e.disturb_webhooks(**kwargs)


# -- 429 bursts ---------------------------------------------------------------------------


async def test_a_burst_of_429s_is_ridden_out_by_concurrent_calls(
    emu: TutorFlowEmulator, key: IssuedKey, figures: FigureBook
) -> None:
    patient = tf.TransportConfig(
        retry=tf.RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05, deadline=10)
    )
    async with tf.ContentSession(key.api_key, base_url=emu.base_url, config=patient,
                                 rate_limit_per_minute=100_000) as s:
        job = await s.expansions.create(PAYLOAD)
        emu.add_fault(Fault("status", status=429, method="GET", times=30))  # no Retry-After
        emu.add_fault(Fault("status", status=429, method="GET", times=10, retry_after=0))
        started = time.monotonic()
        with counting_retries("tutorflow_async") as counter:
            jobs = await asyncio.gather(*(s.expansions.get(job.id) for _ in range(25)))
        wall = time.monotonic() - started
    assert {j.id for j in jobs} == {job.id}
    assert emu.counters.by_status[429] == 40
    assert counter.retries == 40 and counter.gave_up == 0
    figures.record(Scenario(
        name="429 burst: 40 in a row over 25 concurrent calls", inputs=25, outcomes=len(jobs),
        requests=emu.counters.by_route[("GET", JOB)], faults=40, retries=counter.retries,
        http_429=40, wall_s=wall, note="30 without Retry-After, 10 with Retry-After: 0",
    ))


async def test_next_tech_429_burst(nt_emu: NextTechEmulator) -> None:
    patient = nt.TransportConfig(retry=nt.RetryPolicy(max_attempts=8, backoff_base=0.01,
                                                      backoff_max=0.05))
    nt_emu.add_fault(NtFault("status", status=429, times=12))
    async with nt.NextTechSession(nt_emu.api_token, nt_emu.secret_key,
                                  base_url=nt_emu.base_url, config=patient) as s:
        pages = await asyncio.gather(*(s.contents.list() for _ in range(6)))
    assert [len(p) for p in pages] == [50] * 6
    assert nt_emu.counters.by_status[429] == 12


# -- 502/503 with and without Retry-After --------------------------------------------------

RETRY_AFTERS: list[tuple[int, Any, float, float]] = [
    # status, Retry-After, least and most seconds the call should take
    (503, None, 0.0, 0.5),
    (502, None, 0.0, 0.5),
    (503, 0, 0.0, 0.5),
    (502, 1, 1.0, 1.8),
    (503, "HTTP-date +2s", 1.0, 2.8),  # one-second resolution: waits 1 to 2 s
    (502, PAST_HTTP_DATE, 0.0, 0.5),
]
RETRY_AFTER_IDS = ["503-none", "502-none", "503-0s", "502-1s", "503-date", "502-past-date"]


def retry_after(value: Any) -> Any:
    return http_date_in(2) if value == "HTTP-date +2s" else value


@pytest.mark.parametrize(("status", "value", "least", "most"), RETRY_AFTERS, ids=RETRY_AFTER_IDS)
async def test_tutorflow_5xx_honours_retry_after(
    emu: TutorFlowEmulator, content: tf.ContentSession,
    status: int, value: Any, least: float, most: float,
) -> None:
    job = await content.expansions.create(PAYLOAD)
    emu.add_fault(Fault("status", status=status, retry_after=retry_after(value), path=JOB))
    started = time.monotonic()
    assert (await content.expansions.get(job.id)).id == job.id
    assert least <= time.monotonic() - started <= most
    assert emu.counters.by_status[status] == 1


@pytest.mark.parametrize(("status", "value", "least", "most"), RETRY_AFTERS, ids=RETRY_AFTER_IDS)
async def test_next_tech_5xx_honours_retry_after(
    nt_emu: NextTechEmulator, nexttech: nt.NextTechSession,
    status: int, value: Any, least: float, most: float,
) -> None:
    if value not in (0, 1, "HTTP-date +2s"):  # the slow ones run once, on TutorFlow
        nt_emu.add_fault(NtFault("status", status=status, retry_after=retry_after(value)))
        started = time.monotonic()
        assert len(await nexttech.contents.list()) == 50
        assert least <= time.monotonic() - started <= most
        assert nt_emu.counters.by_status[status] == 1
    nt_emu.add_fault(NtFault("html", status=status, retry_after=0))
    assert len(await nexttech.contents.list()) == 50


async def test_a_retry_after_beyond_the_limit_ends_the_call_at_once(
    emu: TutorFlowEmulator, key: IssuedKey
) -> None:
    config = tf.TransportConfig(retry=tf.RetryPolicy(max_attempts=5, backoff_base=0.01,
                                                     max_retry_after=5))
    emu.add_fault(Fault("status", status=503, retry_after=3600, times=None))
    async with tf.ContentSession(key.api_key, base_url=emu.base_url, config=config) as s:
        started = time.monotonic()
        with pytest.raises(tf.InternalServerError) as info:
            await s.expansions.get("job_1")
    assert time.monotonic() - started < 1.0
    assert info.value.attempts == 1 and info.value.status == 503


# -- webhook deliveries: duplicated, out of order, lost ------------------------------------


def inversions(order: list[str], when: dict[str, float]) -> int:
    """Adjacent pairs that arrived in the opposite order of their jobs' completion."""
    return sum(when[a] > when[b] for a, b in itertools.pairwise(order))


async def test_three_hundred_jobs_with_disturbed_webhooks_all_end(figures: FigureBook) -> None:
    count = 300
    config = EmulatorConfig(queued_seconds=0.02, processing_seconds=0.1, seed=5)
    async with TutorFlowEmulator(config) as emu:
        emu.disturb_webhooks(lose_rate=0.1, duplicate_rate=0.3, max_delay=0.3)
        issued = emu.create_api_key(name="hooks", rate_limit_per_minute=1_000_000)
        arrived: list[str] = []
        async with (
            tf.AdminSession.login(emu.admin_email, emu.admin_password,
                                  base_url=emu.base_url) as admin,
            hooked_receiver(admin, on_event=lambda d: arrived.append(d.job_id)) as (receiver, _),
            tf.ContentSession(issued.api_key, base_url=emu.base_url,
                              rate_limit_per_minute=1_000_000) as s,
        ):
            s.attach_webhooks(receiver, fallback_interval=0.5)
            requests = [{"level": {"id": f"hook-{i}"}} for i in range(count)]
            started = time.monotonic()
            outcomes = [o async for o in s.expand_many(requests, concurrency=count, timeout=20,
                                                       poll_interval=0.05, max_interval=0.2)]
            wall = time.monotonic() - started
            await emu.drain_webhooks()
            await asyncio.sleep(0.05)  # let the last callbacks run
            stats = s.poller.stats
        c = receiver.counters
        lost = emu.counters.webhook_dropped
        job_ids = {o.job_id for o in outcomes}
        when = {job_id: emu.job(job_id).terminal_at for job_id in job_ids if job_id}
        out_of_order = inversions(arrived, when)
        row = figures.record(Scenario(
            name="webhooks: 300 jobs, deliveries duplicated/reordered/lost",
            inputs=count,
            outcomes=len(outcomes),
            requests=emu.counters.requests,
            faults=lost + c.duplicates + out_of_order,
            retries=0,
            duplicates=len(arrived) - len(set(arrived)) + (emu.jobs_created - count),
            lost=count - len({o.index for o in outcomes}),
            wall_s=wall,
            note=f"{lost} deliveries lost (ended by fallback polls: {stats.polls}), "
                 f"{c.duplicates} duplicates dropped, {out_of_order} arrivals out of order; "
                 f"{stats.result_fetches} result fetches",
        ))

    assert Counter(str(o.status) for o in outcomes) == {"completed": count}  # every wait ended
    assert len(arrived) == len(set(arrived)) == count - lost  # each event handed on once
    assert c.accepted == count - lost and c.duplicates > 0
    assert lost > 0 and stats.polls >= lost  # lost events: polling took over
    assert out_of_order > 0
    assert stats.result_fetches == count  # one result fetch per job, duplicates or not
    assert emu.jobs_created == count
    assert row.must_be_zero == {"duplicates": 0, "lost": 0, "skipped": 0, "leaked": 0}
