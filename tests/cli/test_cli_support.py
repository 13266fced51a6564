"""The shared CLI parts without a subprocess: progress lines, exit codes, secret files."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from edu_async_core.cli_support import (
    CommandError,
    ExitCode,
    Output,
    ProgressDisplay,
    exit_code_for,
    read_secret,
    render_progress,
    write_secret_file,
)
from edu_async_core.errors import RequestContext
from edu_async_core.redaction import Secret
from tutorflow_async import errors as tf_errors


def test_progress_line_with_a_total_has_bar_counts_rate_and_eta() -> None:
    line = render_progress(25, 100, 5.0, [("created", 40), ("failed", 2)], width=10)

    assert line == "[##--------]  25/100  created 40  failed 2  5.0/s  ETA 15s"


def test_progress_line_when_done_or_without_total_shows_elapsed() -> None:
    assert render_progress(10, 10, 75.0, width=4).endswith("0.1/s  1m15s")
    assert render_progress(1234, None, 2.0, unit=" items") == "1234 items  617.0/s  2s"
    assert render_progress(0, 10, 0.0, width=2) == "[--]  0/10  0.0/s  ETA ?"


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_display_redraws_in_place_on_a_terminal_and_throttles() -> None:
    now = [0.0]
    stream = FakeTerminal(tty=True)
    display = ProgressDisplay(stream, total=4, clock=lambda: now[0])
    for done in range(1, 4):
        now[0] += 0.01  # faster than the redraw interval: only the first is drawn
        display.update(done)
    now[0] += 1.0
    display.close()

    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "1/4" in text and "3/4" in text and "2/4" not in text


def test_progress_display_writes_plain_lines_elsewhere() -> None:
    now = [0.0]
    stream = FakeTerminal(tty=False)
    display = ProgressDisplay(stream, total=None, clock=lambda: now[0])
    for done in range(1, 100):
        now[0] += 0.5
        display.update(done)
    display.close()

    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert 10 <= len(lines) <= 12  # one per 5 s of 49.5 s, plus the first and the last
    assert lines[-1].startswith("99 ")


def test_disabled_progress_writes_nothing() -> None:
    stream = FakeTerminal(tty=True)
    display = ProgressDisplay(stream, total=3, enabled=False)
    display.update(1)
    display.close()
    assert stream.getvalue() == ""


def test_exit_codes_follow_the_error_kind() -> None:
    context = RequestContext("GET", "/v1/x", key_prefix="tf_content_ab12…")
    assert exit_code_for(tf_errors.InvalidApiKeyError("no", status=401, context=context)) == 3
    assert exit_code_for(tf_errors.ForbiddenError("no", status=403)) == ExitCode.AUTH
    assert exit_code_for(tf_errors.InvalidArgumentError("job_id", "empty")) == ExitCode.USAGE
    assert exit_code_for(tf_errors.NotFoundError("gone", status=404)) == ExitCode.FAILURE
    assert exit_code_for(CommandError("x", ExitCode.PARTIAL)) == ExitCode.PARTIAL


def test_errors_are_printed_with_their_support_fields() -> None:
    err = io.StringIO()
    out = Output(stdout=io.StringIO(), stderr=err)
    context = RequestContext("GET", "/v1/x", key_prefix="tf_content_ab12…")

    code = out.error(tf_errors.NotFoundError("job 'x' not found", status=404,
                                              code="content_not_found", context=context))

    assert code == ExitCode.FAILURE
    assert err.getvalue().splitlines() == [
        "error: NotFoundError: job 'x' not found",
        "  status=404  code=content_not_found  method=GET  path=/v1/x  "
        "key_prefix=tf_content_ab12…",
    ]


def test_secret_files_are_owner_only_even_when_they_existed(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_text("old")
    os.chmod(target, 0o644)

    write_secret_file(str(target), Secret("tf_content_abcdefghijklmnop"))

    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == "tf_content_abcdefghijklmnop\n"


def test_secrets_are_read_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s").write_text("  tf_content_fromfile12345  \n")
    (tmp_path / "empty").write_text("\n")
    monkeypatch.setenv("SOME_SECRET", "tf_content_fromenv123456")
    monkeypatch.setenv("BLANK_SECRET", "  ")

    from_file = read_secret(str(tmp_path / "s"), "SOME_SECRET", "key")
    from_env = read_secret(None, "SOME_SECRET", "key")

    assert from_file is not None and from_file.reveal() == "tf_content_fromfile12345"
    assert from_env is not None and from_env.reveal() == "tf_content_fromenv123456"
    assert read_secret(None, "BLANK_SECRET", "key") is None
    with pytest.raises(CommandError, match="empty"):
        read_secret(str(tmp_path / "empty"), None, "key")
    with pytest.raises(CommandError, match="cannot read the key"):
        read_secret(str(tmp_path / "missing"), None, "key")
