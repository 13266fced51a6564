"""``tutorflow-async`` end to end: real subprocesses against the emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import CliRun, assert_no_secret, base_env, free_port, run_cli
from fast_settings import FAST

import tutorflow_async as tf
from tutorflow_async.testing import EmulatorConfig, IssuedKey, TutorFlowEmulator

CLI = "tutorflow_async.cli"
SOURCES = Path(__file__).resolve().parents[2] / "examples" / "sources"
QUICK = ("--poll-interval", "0.05", "--max-interval", "0.2", "--rate-limit", "6000")


@pytest.fixture
async def cli_emulator() -> AsyncIterator[TutorFlowEmulator]:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.2, seed=3)
    async with TutorFlowEmulator(config) as emulator:
        yield emulator


@pytest.fixture
def cli_key(cli_emulator: TutorFlowEmulator) -> IssuedKey:
    return cli_emulator.create_api_key(name="cli-tests", rate_limit_per_minute=6000)


@pytest.fixture
def cli_env(cli_emulator: TutorFlowEmulator, cli_key: IssuedKey) -> dict[str, str]:
    return base_env(
        {
            "TUTORFLOW_API_BASE_URL": cli_emulator.base_url,
            "TUTORFLOW_CONTENT_API_KEY": cli_key.api_key,
            "TUTORFLOW_ADMIN_EMAIL": cli_emulator.admin_email,
            "TUTORFLOW_ADMIN_PASSWORD": cli_emulator.admin_password,
        }
    )


def _secrets(emulator: TutorFlowEmulator, key: IssuedKey) -> list[str]:
    return [key.api_key, emulator.admin_password, emulator.admin_jwt]


def _sources(folder: Path, count: int) -> Path:
    folder.mkdir()
    for source in sorted(SOURCES.glob("*.json"))[:count]:
        shutil.copy(source, folder / source.name)
    return folder


async def test_expand_reports_every_input_once_and_resumes_without_new_jobs(
    cli_emulator: TutorFlowEmulator, cli_key: IssuedKey, cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = _sources(tmp_path / "src", 6)
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "list.json").write_text("[1, 2]", encoding="utf-8")
    failing = json.loads((SOURCES / "en-a1.json").read_text()) | {"_emulator": {"fail": True}}
    (folder / "zz-fails.json").write_text(json.dumps(failing), encoding="utf-8")
    journal = tmp_path / "run.jsonl"
    args = ("expand", str(folder), "--journal", str(journal), "--json", *QUICK)

    first = await run_cli(CLI, *args, env=cli_env)

    assert first.code == 4, first.stderr  # partial: two invalid files, one failed job
    lines = first.json_lines()
    assert sorted(r["index"] for r in lines) == list(range(9))
    by_label = {Path(r["label"]).name: r for r in lines}
    assert by_label["broken.json"]["status"] == "invalid"
    assert by_label["list.json"]["status"] == "invalid"
    assert by_label["zz-fails.json"]["status"] == "failed"
    assert by_label["zz-fails.json"]["error"]["type"] == "ExpansionFailed"
    completed = [r for r in lines if r["status"] == "completed"]
    assert len(completed) == 6
    assert all(r["outputs"] and r["job_id"].startswith("job_") for r in completed)
    assert cli_emulator.jobs_created == 7

    again = await run_cli(CLI, *args, env=cli_env)

    assert again.code == 4
    relines = again.json_lines()
    assert sorted(r["index"] for r in relines) == list(range(9))
    assert cli_emulator.jobs_created == 7, "a resumed run must not create any job again"
    assert all(r["from_journal"] for r in relines if r["status"] in ("completed", "failed"))
    assert {r["job_id"] for r in relines if r["job_id"]} == {r["job_id"] for r in completed} | {
        by_label["zz-fails.json"]["job_id"]
    }
    assert_no_secret([first, again], _secrets(cli_emulator, cli_key))


def _by_name(run: CliRun) -> dict[str, dict[str, Any]]:
    lines = run.json_lines()
    by_name = {Path(r["label"]).name: r for r in lines}
    assert len(by_name) == len(lines), "an input reported twice"
    return by_name


async def test_expand_reports_a_too_deeply_nested_file_as_invalid_and_runs_the_rest(
    cli_emulator: TutorFlowEmulator, cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = _sources(tmp_path / "src", 3)
    (folder / "deep-list.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    deep = '{"level": {"id": "x", "lessons": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    (folder / "deep-object.json").write_text(deep, encoding="utf-8")
    # Readable, but deeper than a payload the SDK encodes safely: refused, not sent.
    just_over = '{"level": ' + "[" * 501 + "]" * 501 + "}"
    (folder / "just-over.json").write_text(just_over, encoding="utf-8")
    just_under = '{"level": ' + "[" * 499 + "]" * 499 + "}"  # 500 levels: sent, and done
    (folder / "just-under.json").write_text(just_under, encoding="utf-8")

    run = await run_cli(CLI, "expand", str(folder), "--json", *QUICK, env=cli_env)

    assert run.code == 4, run.stderr  # partial: three invalid inputs
    assert "Traceback" not in run.stderr and "RecursionError" not in run.text
    by_name = _by_name(run)
    assert sorted(r["index"] for r in by_name.values()) == list(range(7))
    for name in ("deep-list.json", "deep-object.json", "just-over.json"):
        record = by_name.pop(name)
        assert record["status"] == "invalid" and record["job_id"] is None
        assert "nested more than 500 levels deep" in record["error"]["message"]
        assert len(record["error"]["message"]) < 200
    assert [r["status"] for r in by_name.values()] == ["completed"] * 4  # the rest ran
    assert cli_emulator.jobs_created == 4
    assert "7 inputs: 4 completed, 3 invalid" in run.stderr


async def test_expand_reports_looping_and_dangling_json_symlinks_as_invalid(
    cli_emulator: TutorFlowEmulator, cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = _sources(tmp_path / "src", 2)
    (folder / "dangling.json").symlink_to(tmp_path / "gone.json")
    (folder / "loop.json").symlink_to(folder / "loop.json")
    (folder / "ping.json").symlink_to(folder / "pong.json")
    (folder / "pong.json").symlink_to(folder / "ping.json")
    first = sorted(folder.glob("*-*.json"))[0]
    (folder / "zz-link.json").symlink_to(first)  # a good link is an input like any other

    run = await run_cli(CLI, "expand", str(folder), *QUICK, env=cli_env)

    assert run.code == 4, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 7, run.stdout  # every entry reported, once
    invalid = {Path(line.split()[1]).name: line for line in lines if line.startswith("invalid")}
    assert set(invalid) == {"dangling.json", "loop.json", "ping.json", "pong.json"}
    assert "symbolic link to a missing file" in invalid["dangling.json"]
    for name in ("loop.json", "ping.json", "pong.json"):
        assert "symbolic link loop" in invalid[name]
    completed = [line for line in lines if line.startswith("completed")]
    assert len(completed) == 3 and any("zz-link.json" in line for line in completed)
    assert cli_emulator.jobs_created == 2  # the link and its target are the same input
    assert "7 inputs: 3 completed, 4 invalid" in run.stderr


async def test_two_expand_processes_sharing_one_journal_create_each_job_once(
    cli_emulator: TutorFlowEmulator, cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = _sources(tmp_path / "src", 12)
    journal = tmp_path / "shared.jsonl"
    args = ("expand", str(folder), "--journal", str(journal), "--json", "--concurrency", "4",
            *QUICK)

    runs = await asyncio.gather(run_cli(CLI, *args, env=cli_env),
                                run_cli(CLI, *args, env=cli_env))

    count = len(list(folder.glob("*.json")))
    for run in runs:
        assert run.code == 0, run.stderr
        lines = run.json_lines()
        assert sorted(r["index"] for r in lines) == list(range(count))  # each input once
        assert all(r["status"] == "completed" for r in lines)
    job_ids = [{r["index"]: r["job_id"] for r in run.json_lines()} for run in runs]
    assert job_ids[0] == job_ids[1]  # the same job for each input, whichever run made it
    assert cli_emulator.jobs_created == count
    assert max(cli_emulator.jobs_per_idempotency_key().values()) == 1
    assert set(cli_emulator.jobs_per_request().values()) == {1}

    again = await run_cli(CLI, *args, env=cli_env)

    assert again.code == 0 and "skipped" not in again.stderr  # no line of theirs was torn
    assert all(r["from_journal"] for r in again.json_lines())
    assert cli_emulator.jobs_created == count


async def test_expand_with_a_bad_journal_exits_2_before_reading_or_sending(
    cli_emulator: TutorFlowEmulator, cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = _sources(tmp_path / "src", 2)
    (folder / "list.json").write_text("[1, 2]", encoding="utf-8")
    (tmp_path / "a-file").write_text("", encoding="utf-8")

    for journal in (tmp_path, tmp_path / "none" / "run.jsonl", tmp_path / "a-file" / "j"):
        run = await run_cli(CLI, "expand", str(folder), "--journal", str(journal), *QUICK,
                            env=cli_env)
        assert run.code == 2, run.stderr
        assert run.stdout == ""  # not even the invalid file: nothing ran
        assert "journal: " in run.stderr and "Traceback" not in run.stderr
    assert cli_emulator.counters.requests == 0


async def test_expand_without_a_terminal_prints_plain_progress_lines(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = _sources(tmp_path / "src", 3)

    run = await run_cli(CLI, "expand", str(folder), *QUICK, env=cli_env)

    assert run.code == 0, run.stderr
    assert "\r" not in run.stderr and "\x1b[" not in run.stderr
    assert "[########################]  3/3" in run.stderr
    assert "3 inputs: 3 completed" in run.stderr
    assert [line.split()[0] for line in run.stdout.splitlines()] == ["completed"] * 3


async def test_expand_on_a_terminal_redraws_one_progress_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = _sources(tmp_path / "src", 3)
    main_fd, terminal_fd = os.openpty()
    try:
        run = await run_cli(CLI, "expand", str(folder), *QUICK, env=cli_env,
                            stderr_fd=terminal_fd)
        os.close(terminal_fd)
        terminal_fd = -1
        shown = _drain(main_fd)
    finally:
        os.close(main_fd)
        if terminal_fd >= 0:
            os.close(terminal_fd)

    assert run.code == 0
    assert "\r[" in shown and "\x1b[K" in shown  # redrawn in place
    assert "3/3" in shown and "completed 3" in shown


def _drain(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the terminal's other end is closed and all was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


async def test_wait_and_result(
    cli_emulator: TutorFlowEmulator, cli_key: IssuedKey, cli_env: dict[str, str]
) -> None:
    async with tf.ContentSession(cli_key.api_key, base_url=cli_emulator.base_url,
                                 rate_limit_per_minute=6000, config=FAST) as s:
        good = await s.expansions.create({"level": {"id": "w1"}})
        bad = await s.expansions.create({"level": {"id": "w2"}, "_emulator": {"fail": True}})

    waited = await run_cli(CLI, "wait", good.id, bad.id, "job_missing", "--json", *QUICK,
                           env=cli_env)

    assert waited.code == 4  # one completed, one failed, one unknown
    status = {r["job_id"]: r for r in waited.json_lines()}
    assert status[good.id]["status"] == "completed" and status[good.id]["outputs"]
    assert status[bad.id]["status"] == "failed"
    assert status[bad.id]["error"]["type"] == "ExpansionFailed"
    assert status["job_missing"]["error"]["status"] == 404

    text = await run_cli(CLI, "result", good.id, env=cli_env)
    raw = await run_cli(CLI, "result", good.id, "--raw", env=cli_env)

    assert text.code == 0 and text.stdout.startswith(f"{good.id}  completed")
    assert json.loads(raw.stdout)["job"]["id"] == good.id or json.loads(raw.stdout).get("id")
    assert_no_secret([waited, text, raw], _secrets(cli_emulator, cli_key))


async def test_keys_lifecycle_writes_secrets_to_owner_only_files(
    cli_emulator: TutorFlowEmulator, cli_key: IssuedKey, cli_env: dict[str, str], tmp_path: Path
) -> None:
    first_file, second_file = tmp_path / "key1", tmp_path / "key2"

    created = await run_cli(CLI, "keys", "create", "ci", "--rate-limit", "120",
                            "--secret-file", str(first_file), "--json", env=cli_env)

    assert created.code == 0, created.stderr
    record = created.json_lines()[0]
    secret = first_file.read_text().strip()
    assert stat.S_IMODE(first_file.stat().st_mode) == 0o600
    assert record["rate_limit_per_minute"] == 120 and secret.startswith(record["key_prefix"][:-1])
    async with tf.ContentSession(secret, base_url=cli_emulator.base_url, config=FAST) as s:
        with pytest.raises(tf.NotFoundError):  # the key works: 404, not 401
            await s.expansions.get("job_none")

    listed = await run_cli(CLI, "keys", "list", "--json", env=cli_env)
    assert record["id"] in {r["id"] for r in listed.json_lines()}

    rotated = await run_cli(CLI, "keys", "rotate", record["id"], "--secret-file",
                            str(second_file), env=cli_env)
    assert rotated.code == 0 and "secret written to" in rotated.stdout
    new_secret = second_file.read_text().strip()
    assert new_secret != secret
    revoked = await run_cli(CLI, "keys", "revoke", record["id"], env=cli_env)
    assert revoked.code == 0

    refused = await run_cli(CLI, "result", "job_x",
                            env=cli_env | {"TUTORFLOW_CONTENT_API_KEY": new_secret})
    assert refused.code == 3 and "InvalidApiKeyError" in refused.stderr
    assert_no_secret(
        [created, listed, rotated, revoked, refused],
        [*_secrets(cli_emulator, cli_key), secret, new_secret],
    )


async def test_webhooks_create_listen_list_delete(
    cli_emulator: TutorFlowEmulator, cli_key: IssuedKey, cli_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    secret_file = tmp_path / "whsec"
    created = await run_cli(CLI, "webhooks", "create", f"http://127.0.0.1:{port}/webhooks",
                            "--secret-file", str(secret_file), "--json", env=cli_env)
    assert created.code == 0, created.stderr
    hook = created.json_lines()[0]

    listener = asyncio.ensure_future(
        run_cli(CLI, "webhooks", "listen", "--port", str(port), "--secret-file",
                str(secret_file), "--max-events", "1", "--duration", "30", "--json",
                env=cli_env)
    )
    await asyncio.sleep(1.0)  # the listener starts while deliveries would be retried anyway
    async with tf.ContentSession(cli_key.api_key, base_url=cli_emulator.base_url,
                                 config=FAST, rate_limit_per_minute=6000) as s:
        job = await s.expansions.create({"level": {"id": "hooked"}})
    heard = await listener

    assert heard.code == 0, heard.stderr
    events = heard.json_lines()
    assert [(e["job_id"], e["status"]) for e in events] == [(job.id, "completed")]
    assert "1 events accepted" in heard.stderr

    listed = await run_cli(CLI, "webhooks", "list", "--json", env=cli_env)
    assert [h["id"] for h in listed.json_lines()] == [hook["id"]]
    deleted = await run_cli(CLI, "webhooks", "delete", hook["id"], env=cli_env)
    assert deleted.code == 0
    after = await run_cli(CLI, "webhooks", "list", "--json", env=cli_env)
    assert after.json_lines() == []
    assert_no_secret(
        [created, heard, listed, deleted, after],
        [*_secrets(cli_emulator, cli_key), secret_file.read_text().strip()],
    )


@pytest.mark.parametrize(
    ("args", "env_change", "code"),
    [
        (("result", "job_1"), {"TUTORFLOW_CONTENT_API_KEY": ""}, 3),  # no key at all
        (("result", "job_1"), {"TUTORFLOW_CONTENT_API_KEY": "tf_content_wrongwrongwrong"}, 3),
        (("keys", "list"), {"TUTORFLOW_ADMIN_PASSWORD": ""}, 3),  # no admin credentials
        (("keys", "list"), {"TUTORFLOW_ADMIN_PASSWORD": "not-the-password"}, 3),
        (("result", "job_1"), {}, 1),  # 404 ends a single-shot command
        (("expand", "no/such/folder"), {}, 2),
        (("expand", ".", "--concurrency", "0"), {}, 2),
        (("keys", "create", "ci"), {}, 2),  # no --secret-file: refused before any request
        (("contents",), {}, 2),  # not a command of this tool
    ],
)
async def test_exit_codes(
    cli_emulator: TutorFlowEmulator,
    cli_env: dict[str, str],
    args: tuple[str, ...],
    env_change: dict[str, str],
    code: int,
) -> None:
    before = cli_emulator.counters.requests
    run = await run_cli(CLI, *args, env=cli_env | env_change)

    assert run.code == code, run.stderr
    assert run.stderr.strip(), "a failing command says why"
    assert "Traceback" not in run.stderr
    if code == 2:
        assert cli_emulator.counters.requests == before, "usage errors send nothing"


async def test_debug_logging_and_failures_never_print_a_secret(
    cli_emulator: TutorFlowEmulator, cli_key: IssuedKey, cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = _sources(tmp_path / "src", 2)
    webhook_secret = tmp_path / "whsec"
    runs: list[CliRun] = [
        await run_cli(CLI, "expand", str(folder), "-vv", *QUICK, env=cli_env),
        await run_cli(CLI, "keys", "list", "-vv", env=cli_env),
        await run_cli(CLI, "webhooks", "create", "http://127.0.0.1:9/h", "--secret-file",
                      str(webhook_secret), "-vv", env=cli_env),
        await run_cli(CLI, "result", "job_nope", "-vv", "--json", env=cli_env),
        await run_cli(CLI, "keys", "list", "-vv",
                      env=cli_env | {"TUTORFLOW_ADMIN_JWT": cli_emulator.admin_jwt,
                                     "TUTORFLOW_ORGANIZATION_ID": cli_emulator.organization_id}),
        await run_cli(CLI, "result", "job_nope", "-vv",
                      env=cli_env | {"TUTORFLOW_CONTENT_API_KEY": cli_key.api_key + "x"}),
    ]

    assert [r.code for r in runs] == [0, 0, 0, 1, 0, 3]
    assert "DEBUG" in runs[0].stderr and "GET" in runs[0].stderr  # it did log requests
    assert_no_secret(runs, [*_secrets(cli_emulator, cli_key), cli_key.api_key + "x",
                            webhook_secret.read_text().strip()])


async def test_emulator_command_serves_until_interrupted(tmp_path: Path) -> None:
    env_file = tmp_path / "tutorflow.env"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", CLI, "emulator", "--json", "--processing-seconds", "0.1",
        "--queued-seconds", "0", "--env-file", str(env_file), "--duration", "60",
        env=base_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            ready = json.loads(await proc.stdout.readline())
        async with tf.ContentSession(
            ready["TUTORFLOW_CONTENT_API_KEY"], base_url=ready["TUTORFLOW_API_BASE_URL"],
            config=FAST,
        ) as s:
            job = await s.expansions.create({"level": {"id": "manual"}})
            result = await s.wait_for_expansion(job.id, timeout=20, poll_interval=0.05)
        assert result.job.status == "completed"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert "TUTORFLOW_CONTENT_API_KEY=tf_content_" in env_file.read_text()
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            code = await proc.wait()
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_console_scripts_are_installed() -> None:
    scripts = Path(sys.executable).parent
    for name in ("tutorflow-async", "nexttech-async"):
        assert (scripts / name).exists(), f"{name} is not installed next to {sys.executable}"
