"""expand_many: one outcome per input, no duplicate jobs, resumable from a journal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypedDict

import pytest
from webhook_helpers import hooked_receiver

import tutorflow_async as tf
from tutorflow_async.expansions import prepare_create
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
        (FaultKind.STATUS, False),
        (FaultKind.STATUS, True),
        (FaultKind.RESET, False),
        (FaultKind.RESET, True),
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


# -- the journal: lines of the wrong shape, bad paths, two runs sharing one -------------------

#: In every bad journal line below: it must never reach a log record.
PAYLOAD_MARK = "payload-mark-7f3a"


def _key(request: tf.ExpansionRequest) -> str:
    return prepare_create(request.payload, None, request.source_type, None)[1]


async def test_journal_lines_of_the_wrong_shape_are_skipped_with_a_warning(
    emu: TutorFlowEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    requests = inputs(4, failing_every=0)
    done, status_list, error_text, job_object = (_key(r) for r in requests)
    mark = PAYLOAD_MARK
    good = {"e": "finished", "k": done, "job": "job_earlier", "status": "completed"}
    bad_lines: list[tuple[str, str]] = [  # (line, what the warning must say)
        (json.dumps([mark, 1]), "expected a JSON object, got an array"),
        (json.dumps(mark), "expected a JSON object, got a string"),
        ("5", "expected a JSON object, got a number"),
        ("null", "expected a JSON object, got null"),
        (json.dumps({"e": "created", "job": mark}), "'k' is missing"),
        (json.dumps({"k": [mark], "e": "created", "job": "j"}), "'k' is an array"),
        (json.dumps({"k": {mark: 1}, "e": "created", "job": "j"}), "'k' is an object"),
        (json.dumps({"k": done, "e": [mark]}), "'e' is an array"),
        (json.dumps({"k": done, "e": mark}), "'e' is not a known event"),
        (json.dumps({"k": job_object, "e": "created", "job": {mark: 1}}), "'job' is an object"),
        (json.dumps({"k": status_list, "e": "finished", "job": "j", "status": [mark]}),
         "'status' is an array"),
        (json.dumps({"k": error_text, "e": "finished", "job": "j", "status": "failed",
                     "error": mark}), "'error' is a string"),
        (json.dumps({"k": error_text, "e": "finished", "job": "j", "status": "failed",
                     "error": {"code": [mark]}}), "'error.code' is an array"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (json.dumps(good)[:-9], "not valid JSON"),  # the cut-short last line of a crash
    ]
    journal = tmp_path / "run.jsonl"
    journal.write_text(
        "\n".join([json.dumps(good), *(line for line, _ in bad_lines)]), encoding="utf-8"
    )

    with caplog.at_level(logging.WARNING, logger="tutorflow_async"):
        async with content(emu) as s, asyncio.timeout(30):  # a hang fails, not blocks
            outcomes = [o async for o in s.expand_many(requests, journal=journal, **QUICK)]

    assert sorted(o.index for o in outcomes) == [0, 1, 2, 3]
    by_index = {o.index: o for o in outcomes}
    assert by_index[0].from_journal and by_index[0].job_id == "job_earlier"
    assert all(by_index[i].ok and not by_index[i].from_journal for i in (1, 2, 3))
    assert emu.jobs_created == 3 and set(emu.jobs_per_request().values()) == {1}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(bad_lines)
    for number, ((_, problem), warning) in enumerate(zip(bad_lines, warnings, strict=True), 2):
        assert f"line {number} " in warning and problem in warning, warning
    assert PAYLOAD_MARK not in caplog.text
    assert all(len(w) < 300 for w in warnings)
    # The journal stays usable: the crash's half line was ended before any new line.
    reread = tf.Journal(journal)
    reread.close()
    assert reread.ignored_lines == len(bad_lines) and len(reread) == 4


def test_a_file_of_many_foreign_lines_warns_about_twenty_then_counts_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "not-a-journal.csv"
    journal.write_text("".join(f"row,{i},{PAYLOAD_MARK}\n" for i in range(500)))

    with caplog.at_level(logging.WARNING, logger="tutorflow_async"):
        opened = tf.Journal(journal)
    opened.close()

    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 21 and opened.ignored_lines == 500 and len(opened) == 0
    assert all(f"line {n} skipped: not valid JSON" in m for n, m in enumerate(messages[:20], 1))
    assert messages[-1].endswith(": 480 more lines skipped")
    assert PAYLOAD_MARK not in caplog.text


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _with_mode(path: Path, mode: int) -> Path:
    path.write_text("", encoding="utf-8")
    path.chmod(mode)
    return path


def _permissions_ignored(tmp: Path) -> bool:
    """Whether this process may write a read-only file anyway (root, CAP_DAC_OVERRIDE)."""
    probe = _with_mode(tmp / "probe", 0o400)
    try:
        os.close(os.open(probe, os.O_WRONLY))
    except PermissionError:
        return False
    finally:
        probe.unlink()
    return True


BAD_JOURNALS: list[Any] = [
    pytest.param(lambda tmp: tmp, "is a directory", id="a-directory"),
    pytest.param(lambda tmp: tmp / "nowhere" / "run.jsonl", "does not exist", id="no-parent"),
    pytest.param(lambda tmp: _with_mode(tmp / "file", 0o600) / "run.jsonl", "not a folder",
                 id="parent-is-a-file"),
    pytest.param(lambda tmp: _fifo(tmp / "run.jsonl"), "not a regular file", id="a-fifo"),
    pytest.param(lambda tmp: _with_mode(tmp / "run.jsonl", 0o400), "permission denied",
                 id="read-only-file"),
    pytest.param(lambda tmp: _with_mode(tmp / "run.jsonl", 0o200), "permission denied",
                 id="write-only-file"),
    pytest.param(lambda tmp: 42, "expected a file path", id="not-a-path"),
]


@pytest.mark.parametrize(("make", "problem"), BAD_JOURNALS)
async def test_a_bad_journal_path_is_refused_before_any_request(
    emu: TutorFlowEmulator, tmp_path: Path, make: Callable[[Path], Any], problem: str
) -> None:
    if problem == "permission denied" and _permissions_ignored(tmp_path):
        pytest.skip("this process ignores file permissions (root)")
    journal = make(tmp_path)
    async with content(emu) as s:
        with pytest.raises(tf.InvalidArgumentError) as info:
            s.expand_many(inputs(3), journal=journal, **QUICK)
    assert info.value.argument == "journal"
    assert str(info.value).startswith("journal: ") and problem in str(info.value)
    assert isinstance(info.value, tf.TutorFlowError)
    assert emu.counters.requests == 0


async def test_two_runs_sharing_one_journal_create_each_job_once(
    emu: TutorFlowEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "shared.jsonl"
    requests = inputs(60)  # three of them fail
    creates = emu.counters.by_route

    async def collect(outcomes: AsyncIterator[tf.ExpansionOutcome]) -> list[tf.ExpansionOutcome]:
        return [o async for o in outcomes]

    async with content(emu) as one, content(emu) as two:
        # Both open the journal before either writes to it: each creates every input.
        first = one.expand_many(requests, concurrency=20, journal=journal, **QUICK)
        second = two.expand_many(requests, concurrency=7, journal=journal, **QUICK)
        runs = await asyncio.gather(collect(first), collect(second))
    for outcomes in runs:
        assert sorted(o.index for o in outcomes) == list(range(60))  # each input once a run
        assert Counter(o.status for o in outcomes) == {"completed": 57, "failed": 3}
        assert not any(o.from_journal for o in outcomes)
    assert [o.job_id for o in sorted(runs[0], key=lambda o: o.index)] == [
        o.job_id for o in sorted(runs[1], key=lambda o: o.index)
    ]
    assert creates[("POST", "/v1/content/integrations/expansions")] == 120  # both created all
    assert emu.jobs_created == 60
    assert max(emu.jobs_per_idempotency_key().values()) == 1
    assert set(emu.jobs_per_request().values()) == {1}

    # Their lines interleaved whole: a third run is told everything by the journal.
    with caplog.at_level(logging.WARNING, logger="tutorflow_async"):
        async with content(emu) as s:
            third = [o async for o in s.expand_many(requests, journal=journal, **QUICK)]
    assert sorted(o.index for o in third) == list(range(60))
    assert all(o.from_journal for o in third) and emu.jobs_created == 60
    assert not caplog.records
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert Counter(r["e"] for r in records) == {"created": 120, "finished": 120}


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


async def test_a_payload_nested_too_deeply_is_an_invalid_outcome(
    emu: TutorFlowEmulator,
) -> None:
    # 100,000 levels: more than json can encode on every supported Python (3.13 encodes
    # 5,000, which 3.11 and 3.12 refuse).
    requests = [*inputs(3, failing_every=0), tf.ExpansionRequest({"level": _nested(100_000)})]
    async with content(emu) as s, contextlib.aclosing(
        s.expand_many(requests, concurrency=2, **QUICK)
    ) as run, asyncio.timeout(5):
        outcomes = [o async for o in run]
    assert sorted(o.index for o in outcomes) == [0, 1, 2, 3]
    deep = next(o for o in outcomes if o.index == 3)
    assert deep.status == "invalid" and isinstance(deep.error, tf.InvalidArgumentError)
    assert deep.error.argument == "payload"
    assert emu.jobs_created == 3


async def test_an_unexpected_error_costs_one_input_never_the_run(
    emu: TutorFlowEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tutorflow_async.bulk as bulk_module

    real = prepare_create

    def flaky(payload: Any, *args: Any) -> Any:
        if payload.get("boom"):
            raise RuntimeError("a bug of ours")
        return real(payload, *args)

    monkeypatch.setattr(bulk_module, "prepare_create", flaky)
    requests = [*inputs(3, failing_every=0), tf.ExpansionRequest({"level": {"id": "x"}, "boom": 1})]
    async with content(emu) as s, contextlib.aclosing(
        s.expand_many(requests, concurrency=2, **QUICK)
    ) as run, asyncio.timeout(10):
        outcomes = [o async for o in run]
    assert sorted(o.index for o in outcomes) == [0, 1, 2, 3]
    broken = next(o for o in outcomes if o.index == 3)
    assert broken.status == "error" and isinstance(broken.error, RuntimeError)
