"""A bulk run stopped again and again, then re-run with its journal, creates each job once.

Two ways to stop it: a real crash (SIGKILL of a child process: no cleanup, no flush) and
an in-process cancellation (the task consuming ``expand_many`` is cancelled). Either way
the final run reports every input exactly once and creates no job for an input an
earlier run created; a cancellation also leaves no SDK task and no connection behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import attrs
from reliability.bulk_child import crash_run
from reliability.figures import FigureBook, Scenario, settled, stray_tasks

import tutorflow_async as tf
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

CHILD = Path(__file__).with_name("bulk_child.py")
INPUTS = 150
KILLS = 20


@attrs.frozen
class Reported:
    """One outcome as the test keeps it (the child prints these as JSON lines)."""

    index: int
    status: str
    journal: bool


@attrs.frozen
class ChildRun:
    outcomes: list[Reported]
    killed: bool  # False: the run had finished before the kill


async def run_child(args: list[str], kill_after: float | None) -> ChildRun:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        if kill_after is None:
            out, _ = await asyncio.wait_for(process.communicate(), 120)
        else:
            await asyncio.sleep(kill_after)
            with contextlib.suppress(ProcessLookupError):  # it may have finished first
                process.send_signal(signal.SIGKILL)  # no cleanup, no flush: a real crash
            out, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    return ChildRun(
        [Reported(d["index"], d["status"], d["journal"]) for d in lines],
        killed=process.returncode == -signal.SIGKILL,
    )


def resume_row(
    name: str,
    emu: TutorFlowEmulator,
    final: list[Reported],
    *,
    stopped_runs_created: int,
    leaked: int = 0,
    wall_s: float,
    note: str,
) -> Scenario:
    """The figures of a crash-and-resume scenario, from the final run and the emulator."""
    by_request = emu.jobs_per_request()
    statuses = Counter(o.status for o in final)
    return Scenario(
        name=name,
        inputs=INPUTS,
        outcomes=len(final),
        requests=emu.counters.requests,
        # A job beyond the first for one input (jobs_created is the sum of by_request).
        duplicates=sum(n - 1 for n in by_request.values()),
        lost=INPUTS - len({o.index for o in final} & set(range(INPUTS))),
        leaked=leaked,
        wall_s=wall_s,
        note=f"{emu.jobs_created} jobs created, {stopped_runs_created} by the stopped runs; "
             f"{sum(o.journal for o in final)} of {len(final)} final outcomes from the "
             f"journal; final outcomes {dict(statuses)}; {note}",
    )


async def test_twenty_kills_then_a_full_run_create_each_job_once(
    tmp_path: Path, figures: FigureBook
) -> None:
    # Jobs of ~6 s, 25 at a time: the kills (after 0.5-2.5 s each) all land mid-run, and
    # the re-run still waits for some jobs the killed runs created, without creating them.
    config = EmulatorConfig(queued_seconds=0.05, processing_seconds=6.0)
    started = time.monotonic()
    async with TutorFlowEmulator(config) as emu:
        key = emu.create_api_key(name="crash", rate_limit_per_minute=1_000_000)
        journal = tmp_path / "crash.jsonl"
        args = [emu.base_url, key.api_key, str(journal), str(INPUTS)]
        rng = random.Random(11)
        killed = [await run_child(args, kill_after=rng.uniform(0.5, 2.5)) for _ in range(KILLS)]
        killed_runs_created = emu.jobs_created
        final = (await run_child(args, kill_after=None)).outcomes
        figures.record(resume_row(
            f"crash: {KILLS} SIGKILLs of a {INPUTS}-input bulk run, then a re-run",
            emu, final, stopped_runs_created=killed_runs_created,
            wall_s=time.monotonic() - started,
            note=f"{sum(run.killed for run in killed)} of {KILLS} kills landed mid-run; "
                 f"{sum(len(run.outcomes) for run in killed)} outcomes reported before "
                 "the kills",
        ))

    assert sorted(o.index for o in final) == list(range(INPUTS))  # each input once
    assert all(o.status == "completed" for o in final)
    assert emu.jobs_created == INPUTS  # not one job more, across 21 runs
    assert set(emu.jobs_per_request().values()) == {1}
    assert 0 < killed_runs_created <= INPUTS
    assert sum(run.killed for run in killed) >= KILLS // 2  # kills hit runs in progress
    assert any(o.journal for o in final)  # finished before a kill: told by the journal


CANCELS = 20


async def test_twenty_cancels_then_a_full_run_create_each_job_once_and_leave_nothing(
    tmp_path: Path, figures: FigureBook
) -> None:
    # 150 inputs, 25 at a time, each job ~1 s: a fresh run takes about 6.5 s, so the
    # cancels after 0.05-0.6 s land mid-run, some jobs they leave running finish
    # server-side between rounds, and the re-run waits for the rest without creating them.
    config = EmulatorConfig(queued_seconds=0.05, processing_seconds=1.0)
    rng = random.Random(12)
    journal = tmp_path / "cancel.jsonl"
    # Per cancel: connections in use and SDK tasks with the session still open, then
    # whatever is left once it is closed.
    held_after: list[dict[str, int]] = []
    strays: list[str] = []
    reported: list[list[Reported]] = []  # what each cancelled run reported before its cancel
    midway = 0

    def kept(outcome: tf.ExpansionOutcome) -> Reported:
        return Reported(outcome.index, str(outcome.status), outcome.from_journal)

    async def consume(session: tf.ContentSession, into: list[Reported]) -> None:
        async for outcome in crash_run(session, INPUTS, journal):
            into.append(kept(outcome))

    started = time.monotonic()
    async with TutorFlowEmulator(config) as emu, aiohttp.ClientSession() as http:
        key = emu.create_api_key(name="cancel", rate_limit_per_minute=1_000_000)

        def content() -> tf.ContentSession:
            return tf.ContentSession(key.api_key, base_url=emu.base_url, session=http,
                                     rate_limit_per_minute=1_000_000)

        for _ in range(CANCELS):
            before = set(asyncio.all_tasks())
            session = content()
            got: list[Reported] = []
            task = asyncio.create_task(consume(session, got))
            await asyncio.sleep(rng.uniform(0.05, 0.6))
            midway += not task.done()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            reported.append(got)
            # Still open: what is released now was released by the cancel itself.
            held = await settled(http, before)
            if any(held.values()):
                strays.append(repr(stray_tasks(before)))
            await session.close()
            closed = await settled(http, before)
            if any(closed.values()):
                strays.append(repr(stray_tasks(before)))
            held_after.append({**held, **{f"{k} after close": n for k, n in closed.items()}})
        cancelled_runs_created = emu.jobs_created

        before = set(asyncio.all_tasks())
        async with content() as session:
            final = [kept(o) async for o in crash_run(session, INPUTS, journal)]
        after_rerun = await settled(http, before)
        leaked = sum(n for held in [*held_after, after_rerun] for n in held.values())
        figures.record(resume_row(
            f"cancel: {CANCELS} cancels of a {INPUTS}-input bulk run, then a re-run",
            emu, final, stopped_runs_created=cancelled_runs_created, leaked=leaked,
            wall_s=time.monotonic() - started,
            note=f"{midway} of {CANCELS} cancels landed mid-run; "
                 f"{sum(map(len, reported))} outcomes reported before the cancels; "
                 "leaked = connections in use and SDK tasks after each cancel (session "
                 "still open, then closed) and after the re-run"
                 + (f"; LEAKED {held_after} {after_rerun} {strays}" if leaked else ""),
        ))

    assert sorted(o.index for o in final) == list(range(INPUTS))  # each input once
    assert all(o.status == "completed" for o in final)
    assert emu.jobs_created == INPUTS  # not one job more, across 21 runs
    assert set(emu.jobs_per_request().values()) == {1}
    assert 0 < cancelled_runs_created <= INPUTS
    # Nothing left after any cancel, nor after the re-run.
    nothing = {"connections": 0, "tasks": 0, "connections after close": 0,
               "tasks after close": 0}
    assert held_after == [nothing] * CANCELS, strays
    assert after_rerun == {"connections": 0, "tasks": 0}, strays
    # A cancelled run reports each input at most once, and what it reported is in the
    # journal: the re-run tells it from there instead of waiting again.
    for got in reported:
        assert len({o.index for o in got}) == len(got)
    told_earlier = {o.index for got in reported for o in got}
    assert told_earlier <= {o.index for o in final if o.journal}
    assert midway >= CANCELS // 2, midway  # the cancels hit runs in progress
