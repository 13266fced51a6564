"""The issue's two headline runs, with their figures in the session's table.

- 1,000 inputs through ``expand_many`` while a fifth of all requests (creates, polls and
  result fetches) meet a fault of one of twelve kinds, resets after the server committed
  a create among them: exactly 1,000 outcomes, no duplicate job, no lost input.
- A 10,000-item contents walk while a fifth of the page requests meet a fault: every item
  exactly once, none skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import aiohttp
from reliability.figures import (
    FigureBook,
    Scenario,
    counting_retries,
    settled,
    stray_tasks,
)

import nexttech_async as nt
import tutorflow_async as tf
from nexttech_async.testing import Fault as NtFault
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from tutorflow_async.testing import EmulatorConfig, Fault, TutorFlowEmulator

FAULT_SHARE = 0.20
#: A date long past: "retry now", in the HTTP-date form of Retry-After.
PAST_HTTP_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


def each(share: float, kinds: int) -> float:
    """The probability per fault so that ``kinds`` independent draws hit ``share``."""
    return float(1.0 - (1.0 - share) ** (1.0 / kinds))


def tutorflow_faults(share: float) -> list[Fault]:
    specs: list[dict[str, Any]] = [
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 503, "retry_after": 0},
        {"kind": "status", "status": 502, "retry_after": PAST_HTTP_DATE},
        {"kind": "status", "status": 429, "retry_after": 0},
        {"kind": "status", "status": 503, "after_commit": True},
        {"kind": "reset"},
        {"kind": "reset", "after_commit": True},  # created, then the answer is lost
        {"kind": "html"},
        {"kind": "malformed", "after_commit": True},
        {"kind": "truncated"},
        {"kind": "slow_body", "delay": 2.0},  # longer than the 1 s attempt timeout
        {"kind": "delay", "delay": 0.05},
    ]
    p = each(share, len(specs))
    return [Fault(**spec, probability=p, times=None) for spec in specs]


async def test_a_thousand_job_bulk_run_at_twenty_percent_faults(figures: FigureBook) -> None:
    count = 1000
    config = EmulatorConfig(queued_seconds=0.05, processing_seconds=0.15, seed=8)
    transport = tf.TransportConfig(
        timeout=1.0,
        retry=tf.RetryPolicy(max_attempts=10, backoff_base=0.01, backoff_max=0.05, deadline=30),
    )
    requests = [
        tf.ExpansionRequest({"level": {"id": f"headline-{i}", "lessons": [{"id": "l"}]}},
                            label=f"input-{i}")
        for i in range(count)
    ]
    async with TutorFlowEmulator(config) as emu, aiohttp.ClientSession() as http:
        issued = emu.create_api_key(name="headline", rate_limit_per_minute=1_000_000)
        for fault in tutorflow_faults(FAULT_SHARE):
            emu.add_fault(fault)
        before = set(asyncio.all_tasks())
        started = time.monotonic()
        with counting_retries("tutorflow_async", secrets=[issued.api_key]) as counter:
            async with tf.ContentSession(
                issued.api_key, base_url=emu.base_url, session=http,
                rate_limit_per_minute=1_000_000, config=transport,
            ) as s:
                outcomes = [
                    o async for o in s.expand_many(
                        requests, concurrency=200, poll_interval=0.05, max_interval=0.2,
                        timeout=60,
                    )
                ]
        wall = time.monotonic() - started
        leaks = {**await settled(http, before), "secret_hits": counter.secret_hits}
        strays = stray_tasks(before)
        leaked = sum(leaks.values())
        by_key = emu.jobs_per_idempotency_key()
        by_request = emu.jobs_per_request()
        share = emu.counters.faults_injected / emu.counters.requests
        row = figures.record(Scenario(
            name="bulk: 1,000 jobs, 20 % faults (12 kinds)",
            inputs=count,
            outcomes=len(outcomes),
            requests=emu.counters.requests,
            faults=emu.counters.faults_injected,
            retries=counter.retries,
            http_429=emu.counters.by_status[429],
            duplicates=sum(n - 1 for n in by_request.values())
            + sum(n - 1 for n in by_key.values()),
            lost=count - len({o.index for o in outcomes}),
            leaked=leaked,
            wall_s=wall,
            note=f"{share:.0%} of requests faulted; {emu.jobs_created} jobs created; "
                 f"outcomes {dict(Counter(str(o.status) for o in outcomes))}; "
                 f"retries by failure {counter.by_failure}; gave up {counter.gave_up}"
                 + (f"; LEAKED {leaks} {strays!r}" if leaked else ""),
        ))

    assert len(outcomes) == count
    assert sorted(o.index for o in outcomes) == list(range(count))  # each input once
    assert all(o.status == tf.OutcomeStatus.COMPLETED for o in outcomes), Counter(
        (str(o.status), type(o.error).__name__) for o in outcomes if not o.ok
    )
    assert emu.jobs_created == count
    assert set(by_request.values()) == {1} and set(by_key.values()) == {1}
    assert 0.15 <= share <= 0.25, share  # the dose asked for
    assert row.retries >= row.faults * 0.5  # faults on creates and polls were retried
    assert row.must_be_zero == {"duplicates": 0, "lost": 0, "skipped": 0, "leaked": 0}


def nexttech_faults(share: float) -> list[NtFault]:
    specs: list[dict[str, Any]] = [
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 503, "retry_after": 0},
        {"kind": "status", "status": 502, "retry_after": PAST_HTTP_DATE},
        {"kind": "status", "status": 429, "retry_after": 0},
        {"kind": "html", "status": 502},
        {"kind": "reset"},
        {"kind": "malformed"},
        {"kind": "truncated"},
        {"kind": "slow_body", "delay": 1.0},  # longer than the 0.4 s attempt timeout
    ]
    p = each(share, len(specs))
    return [NtFault(**spec, probability=p, times=None) for spec in specs]


async def test_a_ten_thousand_item_walk_with_faults_on_a_fifth_of_pages(
    figures: FigureBook,
) -> None:
    count = 10_000
    t0 = 1_700_000_000.0
    # Four items per second, so every page ends inside a crowded second.
    stamps = [t0 + (i // 4) + (i % 4) * 0.1 for i in range(count)]
    transport = nt.TransportConfig(
        timeout=0.4,
        retry=nt.RetryPolicy(max_attempts=10, backoff_base=0.01, backoff_max=0.05, deadline=30),
    )
    async with (
        NextTechEmulator(NextTechEmulatorConfig(page_size=50, seed=4)) as emu,
        aiohttp.ClientSession() as http,
    ):
        emu.add_contents(stamps, metadata={"level": "intermediate"})
        truth = [c["id"] for c in emu.contents_snapshot()]
        for fault in nexttech_faults(FAULT_SHARE):
            emu.add_fault(fault)
        before = set(asyncio.all_tasks())
        started = time.monotonic()
        with counting_retries("nexttech_async", secrets=[emu.secret_key]) as counter:
            async with nt.NextTechSession(
                emu.api_token, emu.secret_key, base_url=emu.base_url, session=http,
                config=transport,
            ) as s:
                got = [c.id async for c in s.contents.iterate(
                    project_metadata={"level": "intermediate"})]
        wall = time.monotonic() - started
        leaks = {**await settled(http, before), "secret_hits": counter.secret_hits}
        leaked = sum(leaks.values())
        pages = emu.counters.requests
        row = figures.record(Scenario(
            name="walk: 10,000 contents, 20 % of page requests faulted (9 kinds)",
            inputs=count,
            outcomes=len(got),
            requests=pages,
            faults=emu.counters.faults_injected,
            retries=counter.retries,
            http_429=emu.counters.by_status[429],
            duplicates=len(got) - len(set(got)),
            lost=len(set(got) - set(truth)),  # items the server never had
            skipped=len(set(truth) - set(got)),
            leaked=leaked,
            wall_s=wall,
            note=f"page size 50, 4 items per second; "
                 f"{emu.counters.faults_injected / pages:.0%} of requests faulted",
        ))

    assert len(truth) == count
    assert sorted(got) == sorted(truth)
    assert 0.12 <= row.faults / pages <= 0.28, row
    assert row.retries >= row.faults * 0.5
    assert row.must_be_zero == {"duplicates": 0, "lost": 0, "skipped": 0, "leaked": 0}

