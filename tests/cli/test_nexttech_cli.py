"""``nexttech-async`` end to end: real subprocesses against the emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cli_helpers import assert_no_secret, base_env, run_cli

import nexttech_async as nt
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from nexttech_async.testing.samples import SAMPLE_START, add_sample_contents, add_sample_grades

CLI = "nexttech_async.cli"


@pytest.fixture
async def nt_cli_emulator() -> AsyncIterator[NextTechEmulator]:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=7)) as emulator:
        add_sample_contents(emulator, 150)
        add_sample_grades(emulator, 30)
        yield emulator


@pytest.fixture
def nt_env(nt_cli_emulator: NextTechEmulator) -> dict[str, str]:
    return base_env(
        {
            "NEXTTECH_API_BASE_URL": nt_cli_emulator.base_url,
            "NEXTTECH_API_TOKEN": nt_cli_emulator.api_token,
            "NEXTTECH_SECRET_KEY": nt_cli_emulator.secret_key,
        }
    )


def _ids(lines: list[dict[str, object]]) -> list[object]:
    return [line["id"] for line in lines]


async def test_contents_streams_the_filtered_range_newest_first(
    nt_cli_emulator: NextTechEmulator, nt_env: dict[str, str]
) -> None:
    run = await run_cli(CLI, "contents", "--project-metadata", "level=intermediate",
                        "--course-uid", "course-python-101", env=nt_env)

    expected = nt_cli_emulator.contents_snapshot(
        project_metadata={"level": "intermediate"}, course_uid=["course-python-101"]
    )
    assert run.code == 0, run.stderr
    assert expected and _ids(run.json_lines()) == [item["id"] for item in expected]
    assert "walk complete" in run.stderr


async def test_sharded_walk_prints_the_same_sequence(
    nt_cli_emulator: NextTechEmulator, nt_env: dict[str, str]
) -> None:
    after = "2026-01-05T08:59:59Z"
    sequential = await run_cli(CLI, "contents", "--after", after, env=nt_env)
    sharded = await run_cli(CLI, "contents", "--after", after, "--shards", "4", env=nt_env)
    unordered = await run_cli(CLI, "contents", "--after", after, "--shards", "4",
                              "--unordered", env=nt_env)

    assert len(sequential.json_lines()) == 150
    assert _ids(sharded.json_lines()) == _ids(sequential.json_lines())
    assert sorted(map(str, _ids(unordered.json_lines()))) == sorted(
        map(str, _ids(sequential.json_lines()))
    )


async def test_a_stopped_walk_resumes_from_its_file_with_nothing_lost_or_repeated(
    nt_env: dict[str, str], tmp_path: Path
) -> None:
    token_file = tmp_path / "walk.token"
    parts = []
    for _ in range(4):  # 40 + 40 + 40 + the last 30
        run = await run_cli(CLI, "contents", "--limit", "40", "--resume-file",
                            str(token_file), env=nt_env)
        assert run.code == 0, run.stderr
        parts.extend(_ids(run.json_lines()))
    full = await run_cli(CLI, "contents", env=nt_env)

    assert parts == _ids(full.json_lines())
    assert not token_file.exists(), "a finished walk forgets its token"


async def test_grades(nt_cli_emulator: NextTechEmulator, nt_env: dict[str, str]) -> None:
    run = await run_cli(CLI, "grades", "--course-metadata", "course=Python", "--json",
                        env=nt_env)

    assert run.code == 0
    assert _ids(run.json_lines()) == [g["id"] for g in nt_cli_emulator.grades_snapshot()]


@pytest.mark.parametrize(
    ("args", "env_change", "code"),
    [
        (("contents",), {"NEXTTECH_SECRET_KEY": ""}, 3),
        (("contents",), {"NEXTTECH_SECRET_KEY": "wrong-secret"}, 3),
        (("contents", "--after", "2026-01-05T09:00:00"), {}, 2),  # naive: no zone
        (("contents", "--after", "2026-02-01T00:00Z", "--before", "2026-01-01T00:00Z"), {}, 2),
        (("contents", "--shards", "3"), {}, 2),  # shards need a lower bound
        (("contents", "--project-metadata", "no-equals-sign"), {}, 2),
        (("contents", "--resume", "not-a-token"), {}, 2),
    ],
)
async def test_exit_codes(
    nt_cli_emulator: NextTechEmulator,
    nt_env: dict[str, str],
    args: tuple[str, ...],
    env_change: dict[str, str],
    code: int,
) -> None:
    before = nt_cli_emulator.counters.requests
    run = await run_cli(CLI, *args, "-vv", env=nt_env | env_change)

    assert run.code == code, run.stderr
    assert "Traceback" not in run.stderr and run.stderr.strip()
    if code == 2:
        assert nt_cli_emulator.counters.requests == before, "usage errors send nothing"
    assert_no_secret([run], [nt_cli_emulator.secret_key])


@contextlib.asynccontextmanager
async def emulator_process(*args: str) -> AsyncIterator[dict[str, str]]:
    """``nexttech-async emulator --json ARGS`` in a subprocess: yields its ready line, then
    stops it with SIGTERM and checks that it exits cleanly."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", CLI, "emulator", "--json", *args, "--duration", "60",
        env=base_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            ready = json.loads(await proc.stdout.readline())
        yield ready
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_emulator_command_prints_ready_credentials(tmp_path: Path) -> None:
    async with emulator_process("--contents", "25", "--page-size", "4") as ready:
        async with nt.NextTechSession(
            ready["NEXTTECH_API_TOKEN"], ready["NEXTTECH_SECRET_KEY"],
            base_url=ready["NEXTTECH_API_BASE_URL"],
        ) as s:
            items = [c async for c in s.contents.iterate()]
        assert len({c.id for c in items}) == 25


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--page-schedule", "5..x"), ["argument --page-schedule", "'5..x'"]),
        (("--page-schedule", "3,0"), ["argument --page-schedule", "'3,0'", ">= 1"]),
        (("--page-schedule", "9>2@0"), ["argument --page-schedule", "after >= 1"]),
        (("--hidden-fraction", "1.5", "--max-hidden-run", "1"), ["argument --hidden-fraction"]),
        (("--hidden-fraction", "0.3"), ["--hidden-fraction 0.3", "--max-hidden-run"]),
        (("--max-hidden-run", "-1"), ["argument --max-hidden-run"]),
    ],
)
async def test_emulator_refuses_bad_page_knobs_before_it_starts(
    args: tuple[str, ...], named: list[str]
) -> None:
    # --duration: had it started, the run would last 30 s and print a ready line.
    run = await run_cli(CLI, "emulator", "--port", "0", "--duration", "30", *args,
                        env=base_env())
    assert run.code == 2, run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    for text in named:
        assert text in run.stderr


async def test_emulator_page_knobs_reach_the_emulator() -> None:
    knobs = ("--page-schedule", "2,3", "--filter-after-limit", "--hidden-fraction", "0.5",
             "--max-hidden-run", "1", "--seed", "9")
    # The same emulator in process: every answer is seeded, so the CLI's must equal its.
    reference = NextTechEmulator(NextTechEmulatorConfig(
        page_schedule="2,3", filter_after_limit=True, hidden_fraction=0.5, max_hidden_run=1,
        seed=9,
    ))
    add_sample_contents(reference, 80)
    add_sample_grades(reference, 5)
    hidden = set(reference.hidden_ids("contents"))
    assert hidden
    start = int(SAMPLE_START.timestamp())
    queries = ["", *("before=" + nt_iso(start + second) for second in range(20, 0, -1))]
    async with emulator_process("--port", "0", "--contents", "80", "--grades", "5",
                                *knobs) as ready:
        served: list[list[dict[str, object]]] = []
        expected: list[list[dict[str, object]]] = []
        async with aiohttp.ClientSession() as http, reference:
            for base, token, secret, answers in (
                (ready["NEXTTECH_API_BASE_URL"], ready["NEXTTECH_API_TOKEN"],
                 ready["NEXTTECH_SECRET_KEY"], served),
                (reference.base_url, reference.api_token, reference.secret_key, expected),
            ):
                basic = base64.b64encode(f"{token}:{secret}".encode()).decode()
                headers = {"Authorization": f"Basic {basic}"}
                for query in queries:
                    async with http.get(f"{base}/contents?{query}", headers=headers) as response:
                        assert response.status == 200
                        answers.append(await response.json())
        assert served == expected
        assert reference.page_sizes_served == [2, 3] * 10 + [2]
        lengths = [len(answer) for answer in served]
        assert any(n < size for n, size in zip(lengths, reference.page_sizes_served, strict=True))
        assert not hidden & {item["id"] for answer in served for item in answer}


def nt_iso(epoch_seconds: int) -> str:
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_a_resume_file_resumes_its_own_walk_and_refuses_another(
    nt_cli_emulator: NextTechEmulator, nt_env: dict[str, str], tmp_path: Path
) -> None:
    token_file = str(tmp_path / "walk.token")
    walk = ("contents", "--project-metadata", "level=advanced", "--resume-file", token_file)
    first = await run_cli(CLI, *walk, "--limit", "10", env=nt_env)
    other = await run_cli(CLI, "contents", "--project-metadata", "level=beginner",
                          "--resume-file", token_file, env=nt_env)
    rest = await run_cli(CLI, *walk, env=nt_env)  # the same command goes on

    expected = nt_cli_emulator.contents_snapshot(project_metadata={"level": "advanced"})
    assert other.code == 2 and "--resume-file" in other.stderr and other.stdout == ""
    assert _ids(first.json_lines()) + _ids(rest.json_lines()) == [i["id"] for i in expected]
