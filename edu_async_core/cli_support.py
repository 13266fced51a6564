"""What both command-line tools share: exit codes, output, errors, progress, secret files.

The commands themselves live in ``tutorflow_async.cli`` and ``nexttech_async.cli``; this
module only holds the parts that would otherwise be written twice. Nothing here prints
a secret: errors are shown through their support fields (key prefixes only), and secrets
the user must keep go to files created with owner-only permissions. It is one module
over 400 lines because each helper is small and both CLIs take them together.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import defaults
from .errors import (
    AuthenticationError,
    InvalidArgumentError,
    PermissionDeniedError,
    SDKError,
)
from .redaction import Secret

__all__ = [
    "CommandError",
    "ExitCode",
    "Output",
    "ProgressDisplay",
    "add_output_options",
    "error_record",
    "exit_code_for",
    "fraction",
    "non_negative_float",
    "non_negative_int",
    "port",
    "positive_float",
    "positive_int",
    "read_secret",
    "render_progress",
    "run",
    "serve_until_stopped",
    "wait_for_stop",
    "write_env_file",
    "write_secret_file",
]


class ExitCode(enum.IntEnum):
    """Exit statuses of both tools; scripts can tell these cases apart."""

    OK = 0
    #: An API, network or unexpected error ended the command.
    FAILURE = 1
    #: Wrong arguments or input, found before any request (argparse also exits 2).
    USAGE = 2
    #: Credentials missing, refused (401) or not allowed (403).
    AUTH = 3
    #: A command over many inputs finished, but some of them did not succeed.
    PARTIAL = 4
    #: Stopped by Ctrl-C.
    INTERRUPTED = 130


class CommandError(Exception):
    """A problem the command reports in one line and exits with ``code``."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


def is_auth_error(error: BaseException) -> bool:
    return isinstance(error, AuthenticationError | PermissionDeniedError)


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit status a command ends with when ``error`` stops it."""
    if isinstance(error, CommandError):
        return error.code
    if isinstance(error, InvalidArgumentError):
        return ExitCode.USAGE
    if is_auth_error(error):
        return ExitCode.AUTH
    return ExitCode.FAILURE


def error_record(error: BaseException) -> dict[str, Any]:
    """A JSON-safe description of ``error``: its type and support fields, never a secret."""
    record: dict[str, Any] = {"type": type(error).__name__}
    if isinstance(error, SDKError):
        record.update(error.support_fields())
        argument = getattr(error, "argument", None)
        if argument is not None:
            record["argument"] = argument
    else:
        record["message"] = str(error)
    return record


class Output:
    """Where a command writes: records to stdout (text or JSON lines), notes to stderr."""

    def __init__(
        self,
        *,
        json_mode: bool = False,
        quiet: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def record(self, data: Mapping[str, Any], text: str | None = None) -> None:
        """One result: a JSON line with ``--json``, else ``text`` (or the JSON)."""
        if self.json_mode or text is None:
            line = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
        else:
            line = text
        self.stdout.write(line + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        """Information for the person watching (stderr, so stdout stays data)."""
        if not self.quiet:
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def error(self, error: BaseException) -> ExitCode:
        """Report the error that ends the command and return the exit status for it."""
        code = exit_code_for(error)
        record = error_record(error)
        if self.json_mode:
            self.stderr.write(json.dumps({"error": record}, default=str) + "\n")
        else:
            head = f"error: {record.pop('type')}: {record.pop('message', '')}"
            details = "  ".join(f"{k}={v}" for k, v in record.items())
            self.stderr.write(head + (f"\n  {details}" if details else "") + "\n")
        self.stderr.flush()
        return code


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """The options every command takes (added to each sub-command, so order is free)."""
    group = parser.add_argument_group("output")
    group.add_argument("--json", action="store_true", help="JSON lines on stdout, for scripts")
    group.add_argument("-q", "--quiet", action="store_true", help="no notes or progress")
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log to stderr (-v: INFO, -vv: DEBUG with each request; secrets redacted)",
    )


def configure_logging(verbosity: int, stream: TextIO) -> None:
    if verbosity <= 0:
        return
    level = logging.DEBUG if verbosity > 1 else logging.INFO
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("edu_async_core", "tutorflow_async", "nexttech_async"):
        log = logging.getLogger(name)
        log.setLevel(level)
        log.addHandler(handler)


# -- argument types (argparse calls them; their errors become usage errors) ---------


def positive_int(text: str) -> int:
    """An argparse type: ``text`` as an int of at least 1.

    Raises ``argparse.ArgumentTypeError`` for a smaller number, and ``ValueError`` (which
    argparse reports as "invalid positive_int value") for text that is not an int.
    """
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: ``text`` as an int of 0 or more (else a usage error)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: ``text`` as a float above 0; ``nan`` and ``0`` are usage errors."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: ``text`` as a float of 0 or more; ``nan`` is a usage error."""
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    """An argparse type: ``text`` as a float from 0 to 1 inclusive (a rate or share)."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def port(text: str) -> int:
    """An argparse type: ``text`` as a TCP port, 0 to 65535 (0: any free port)."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {value}")
    return value


def add_listen_address(parser: argparse.ArgumentParser, default_port: int) -> None:
    """``--host`` (loopback unless asked otherwise) and ``--port`` of a local server."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port, default=default_port)


# -- progress -----------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def render_progress(
    done: int,
    total: int | None,
    elapsed: float,
    counts: Sequence[tuple[str, int]] = (),
    *,
    unit: str = "",
    width: int = defaults.CLI_PROGRESS_BAR_WIDTH,
) -> str:
    """One progress line: bar (when the total is known), counts, rate and ETA.

    Pure, so the format is tested without a terminal.
    """
    rate = done / elapsed if elapsed > 0 else 0.0
    parts: list[str] = []
    if total:
        filled = min(width, done * width // total)
        parts.append("[" + "#" * filled + "-" * (width - filled) + "]")
        parts.append(f"{done}/{total}{unit}")
    else:
        parts.append(f"{done}{unit}")
    parts.extend(f"{name} {value}" for name, value in counts)
    parts.append(f"{rate:.1f}/s")
    if total and done < total:
        parts.append("ETA " + (_duration((total - done) / rate) if rate > 0 else "?"))
    else:
        parts.append(_duration(elapsed))
    return "  ".join(parts)


class ProgressDisplay:
    """A live progress line on a terminal; a plain line now and then elsewhere.

    On a TTY the line is redrawn in place at most every ``CLI_PROGRESS_REDRAW`` seconds;
    otherwise (a log file, CI) a full line is written every ``CLI_PROGRESS_PLAIN_EVERY``
    seconds and at the end, so logs stay readable.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        total: int | None,
        unit: str = "",
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._total = total
        self._unit = unit
        self._enabled = enabled
        self._clock = clock
        self._tty = enabled and stream.isatty()
        self._started = clock()
        self._last_draw = -float("inf")
        self._state: tuple[int, Sequence[tuple[str, int]]] = (0, ())
        self._drawn = False

    def update(self, done: int, counts: Sequence[tuple[str, int]] = ()) -> None:
        """Record progress, and draw the line if it is due.

        ``done`` is how many units are finished; ``counts`` are extra ``(name, value)``
        figures shown after it (for example ``("failed", 2)``). The latest state is kept
        even when nothing is drawn, so the closing line is always current. A display built
        with ``enabled=False`` only records.
        """
        self._state = (done, tuple(counts))
        if not self._enabled:
            return
        now = self._clock()
        every = defaults.CLI_PROGRESS_REDRAW if self._tty else defaults.CLI_PROGRESS_PLAIN_EVERY
        if now - self._last_draw >= every:
            self._draw(now)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        done, counts = self._state
        line = render_progress(done, self._total, now - self._started, counts, unit=self._unit)
        if self._tty:
            self._stream.write("\r" + line + "\x1b[K")
        else:
            self._stream.write(line + "\n")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Draw the final state and end the line."""
        if not self._enabled:
            return
        self._draw(self._clock())
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()


# -- secrets ------------------------------------------------------------------------


def read_secret(path: str | None, env_name: str | None, what: str) -> Secret | None:
    """A secret from a file (``path``) or the environment; ``None`` when neither has it.

    Secrets are never taken as command-line values: those show up in ``ps`` and shell
    history.
    """
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CommandError(f"cannot read the {what} from {path}: {exc.strerror}") from None
        if not text:
            raise CommandError(f"the {what} file {path} is empty")
        return Secret(text)
    value = os.environ.get(env_name, "").strip() if env_name else ""
    return Secret(value) if value else None


def write_secret_file(path: str, secret: Secret) -> None:
    """Write ``secret`` to ``path``, readable by its owner only (the one place it goes)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise CommandError(f"cannot write the secret to {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        # An existing file keeps its old mode through O_CREAT; tighten it too.
        os.fchmod(handle.fileno(), 0o600)
        handle.write(secret.reveal() + "\n")


def write_env_file(path: str, values: Mapping[str, str]) -> None:
    """``NAME=value`` lines for ``set -a; . FILE`` or a harness's env (owner-only)."""
    write_secret_file(path, Secret("".join(f"{k}={v}\n" for k, v in values.items()).rstrip()))


# -- running ------------------------------------------------------------------------


async def wait_for_stop(duration: float | None) -> None:
    """Return on SIGINT/SIGTERM, or after ``duration`` seconds when one is given."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        if duration is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration):
                    await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def serve_until_stopped(
    out: Output,
    *,
    name: str,
    base_url: str,
    env: Mapping[str, str],
    env_file: str | None,
    duration: float | None,
    requests: Callable[[], int],
) -> None:
    """Announce a running emulator (its variables as ``NAME=value`` lines, which a shell
    or a harness can read) and keep it serving until Ctrl-C, SIGTERM or ``duration``."""
    if env_file:
        write_env_file(env_file, env)
    out.record(dict(env), "\n".join(f"{k}={v}" for k, v in env.items()))
    out.note(f"{name} on {base_url} (Ctrl-C to stop)")
    await wait_for_stop(duration)
    out.note(f"stopped after {requests()} requests")


def run(command: Callable[[], Awaitable[int]], out: Output) -> int:
    """Run an async command to its exit status; errors become their exit codes."""

    async def guarded() -> int:
        try:
            return await command()
        except (SDKError, CommandError) as exc:
            return out.error(exc)

    try:
        return asyncio.run(guarded())
    except KeyboardInterrupt:
        out.note("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python's own flush
        # at exit from raising again on the dead pipe.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.stdout.fileno())
        return ExitCode.FAILURE
