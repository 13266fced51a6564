"""expand_many: one outcome per input, no duplicate jobs, resumable from a journal."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from webhook_helpers import hooked_receiver

import tutorflow_async as tf
from tutorflow_async.testing import EmulatorConfig, Fault, FaultKind, TutorFlowEmulator


class Quick(TypedDict):
    poll_interval: float
    max_interval: float
    timeout: float


QUICK = Quick(poll_interval=0.05, max_interval=0.2, timeout=30)
PATIENT = tf.TransportConfig(
    retry=tf.RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05)
)


def inputs(count: int, *, failing_every: int = 20) -> list[Any]:
    items: list[Any] = []
    for i in range(count):
        payload: dict[str, Any] = {"level": {"id": f"lvl-{i}", "lessons": [{"id": "l"}]}}
        if failing_every and i % failing_every == 7:
            payload["_emulator"] = {"fail": True}
        items.append(tf.ExpansionRequest(payload, label=f"input-{i}"))
    return items


@pytest.fixture
async def emu() -> AsyncIterator[TutorFlowEmulator]:
    async with TutorFlowEmulator(EmulatorConfig(queued_seconds=0.05, processing_seconds=0.15)) as e:
        yield e


def content(emu: TutorFlowEmulator) -> tf.ContentSession:
    issued = emu.create_api_key(name="bulk", rate_limit_per_minute=1_000_000)
    return tf.ContentSession(
        issued.api_key, base_url=emu.base_url, rate_limit_per_minute=1_000_000, config=PATIENT
    )


async def test_a_thousand_inputs_with_faults_give_a_thousand_outcomes(
    emu: TutorFlowEmulator,
) -> None:
    requests = inputs(990)
    bad: list[Any] = [
        {},
        [],
        "payload",
        tf.ExpansionRequest({"x": 1}, ["podcast"]),
        tf.ExpansionRequest({"x": 1}, source_type="pdf"),
        {"x": {1, 2}},
        tf.ExpansionRequest({"x": 1}, idempotency_key=" padded "),
        42,
        None,
        tf.ExpansionRequest({}),
    ]
    for n, item in enumerate(bad):
        requests.insert(n * 97, item)
    kinds: list[tuple[FaultKind, bool]] = [
        ("status", False),
        ("status", True),
        ("reset", False),
        ("reset", True),
    ]
    for kind, after in kinds:
        emu.add_fault(
            Fault(kind=kind, status=503, probability=0.025, times=None, after_commit=after)
        )
    seen: list[tf.BulkProgress] = []
    async with content(emu) as s:
        outcomes = [
            o
            async for o in s.expand_many(
                requests, concurrency=200, on_progress=seen.append, **QUICK
            )
        ]
    assert len(outcomes) == 1000
    assert sorted(o.index for o in outcomes) == list(range(1000))  # each input exactly once
    by_status = Counter(o.status for o in outcomes)
    assert by_status == {"completed": 990 - 50, "failed": 50, "invalid": 10}
    assert emu.jobs_created == 990  # retried creates made no second job
    assert set(emu.jobs_per_request().values()) == {1}
    assert emu.counters.rate_limited == 0 and emu.counters.faults_injected > 50
    for o in outcomes:
        if o.status == "failed":
            assert isinstance(o.error, tf.ExpansionFailed) and o.error.error is not None
        elif o.status == "invalid":
            assert isinstance(o.error, tf.InvalidArgumentError)
            assert str(o.error).startswith(
                ("payload", "requested_outputs", "source_type", "idempotency_key", "requests[")
            )
        else:
            assert o.result is not None and o.result.job.id == o.job_id and o.label
    final = seen[-1]
    assert (final.completed, final.failed, final.errors, final.running) == (940, 50, 10, 0)
    assert final.created == 990


async def test_a_run_killed_midway_resumes_without_new_jobs(
    emu: TutorFlowEmulator, tmp_path: Path
) -> None:
    journal = tmp_path / "run.jsonl"
    requests = inputs(200, failing_every=0)
    got: list[tf.ExpansionOutcome] = []
    thirty = asyncio.Event()

    async def consume() -> None:
        async with content(emu) as s:
            async for outcome in s.expand_many(requests, concurrency=40, journal=journal, **QUICK):
                got.append(outcome)
                if len(got) == 30:
                    thirty.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(thirty.wait(), 30)
    task.cancel()  # the crash: mid-run, with creates and waits in flight
    with pytest.raises(asyncio.CancelledError):
        await task
    created_before = emu.jobs_created
    # At most: consumed + in flight + waiting to be consumed.
    assert 30 <= created_before <= 30 + 40 + 40

    # The journal may even lose its last line in the crash.
    lines = journal.read_text().splitlines(keepends=True)
    cut = lines[-1][: len(lines[-1]) // 2]
    journal.write_text("".join(lines[:-1]) + cut)

    async with content(emu) as s:
        rerun = [o async for o in s.expand_many(requests, concurrency=40, journal=journal, **QUICK)]
    assert sorted(o.index for o in rerun) == list(range(200))
    assert all(o.ok for o in rerun)
    assert emu.jobs_created == 200  # each input created exactly once across both runs
    assert set(emu.jobs_per_request().values()) == {1}
    assert sum(o.from_journal for o in rerun) >= len(got) - 1
    lines = journal.read_text().splitlines()
    records = [json.loads(line) for line in lines if line != cut]
    assert len(records) == len(lines) - 1  # only the line the crash cut is unreadable
    assert Counter(r["e"] for r in records)["finished"] >= 200 - 1


async def test_arguments_are_checked_before_any_request(emu: TutorFlowEmulator) -> None:
    async with content(emu) as s:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"concurrency": 0}, "concurrency"),
            ({"timeout": -1}, "timeout"),
            ({"journal": "/nonexistent-dir/x.jsonl"}, "journal"),
        ]
        for kwargs, argument in cases:
            with pytest.raises(tf.InvalidArgumentError, match=rf"^{argument}"):
                s.expand_many(inputs(3), **kwargs)
        with pytest.raises(tf.InvalidArgumentError, match=r"^requests"):
            s.expand_many({"level": {}})  # type: ignore[dict-item]
    assert emu.counters.requests == 0


async def test_with_webhooks_a_bulk_run_barely_polls(emu: TutorFlowEmulator) -> None:
    get_job = ("GET", "/v1/content/integrations/expansions/{jobId}")
    get_result = ("GET", "/v1/content/integrations/expansions/{jobId}/result")
    emu.drop_webhooks(5)  # five deliveries lost entirely: polling must take over for them
    async with (
        tf.AdminSession.login(emu.admin_email, emu.admin_password,
                              base_url=emu.base_url) as admin,
        hooked_receiver(admin) as (receiver, _),
        content(emu) as s,
    ):
        s.attach_webhooks(receiver, fallback_interval=1.0)
        outcomes = [o async for o in s.expand_many(inputs(200), concurrency=100, **QUICK)]
        await emu.drain_webhooks()
    assert len(outcomes) == 200
    assert Counter(o.status for o in outcomes) == {"completed": 190, "failed": 10}
    by_route = emu.counters.by_route
    assert by_route[get_result] == 200  # one result fetch per job
    assert by_route[get_job] / 200 <= 1.05  # polls per job beyond create + result
    assert s.poller.stats.events >= 195 and emu.counters.webhook_dropped == 5
