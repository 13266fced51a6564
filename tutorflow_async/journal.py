"""The journal of a bulk run: one JSON line per job created and per job finished.

A line is appended with a single write as soon as its event happens, so a run killed
at any point leaves at most a half-written last line, which is skipped on reading (with
a warning, as is any line that is not a journal record). Re-running the same inputs
with the same journal reports finished inputs from it and waits for created ones
instead of creating them again. Even a lost last line cannot duplicate a job: the
create is repeated with the same idempotency key and the server answers with the job
it already has. For the same reason two runs sharing one journal create no job twice;
their lines interleave whole, though each run reads the journal only when it opens it.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path
from typing import Any

import attrs

from .errors import InvalidArgumentError

#: Statuses after which an input is done for good; anything else is waited for again.
FINAL = frozenset({"completed", "failed"})

logger = logging.getLogger("tutorflow_async")

#: Skipped lines warned about one by one; beyond them, one warning says how many more.
_WARNED_LINES = 20

_EVENTS = ("created", "finished")


def _as_path(path: object) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise InvalidArgumentError(
            "journal", f"expected a file path, got {type(path).__name__}"
        )
    try:
        return Path(path)
    except TypeError:  # an os.PathLike whose __fspath__ gives bytes
        raise InvalidArgumentError("journal", "expected a file path given as text") from None


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _open(path: Path) -> int:
    """The journal's descriptor, for reading and appending, or why the path cannot be one."""
    try:
        # O_APPEND: each line lands at the end in one write, even if two runs overlap.
        # O_RDWR, not O_WRONLY: a directory is refused here (EISDIR), and a file we could
        # append to but not read back is refused before the run, not at its re-run.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    except IsADirectoryError:
        raise InvalidArgumentError("journal", f"{path} is a directory, not a file") from None
    except FileNotFoundError:
        raise InvalidArgumentError(
            "journal", f"cannot create {path}: its folder {path.parent} does not exist"
        ) from None
    except NotADirectoryError:
        raise InvalidArgumentError(
            "journal", f"cannot create {path}: {path.parent} is not a folder"
        ) from None
    except OSError as exc:
        raise InvalidArgumentError(
            "journal", f"cannot open {path} to read and append: {_reason(exc)}"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidArgumentError("journal", f"{path} is not a regular file")
    return fd


def _kind(value: object) -> str:
    """A JSON value's kind, for a message that must not show the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _field(record: dict[str, Any], name: str, expected: str) -> str:
    if name not in record:
        return f"{name!r} is missing"
    return f"{name!r} is {_kind(record[name])}, expected {expected}"


def _parse(line: bytes) -> tuple[dict[str, Any], str] | tuple[None, str]:
    """A journal record of the line, or ``None`` and what is wrong with it."""
    try:
        record = json.loads(line.decode("utf-8", errors="replace"))
    except ValueError:
        return None, "not valid JSON (a line cut short by a crash?)"
    except RecursionError:
        return None, "not a journal record: JSON nested too deeply"
    if not isinstance(record, dict):
        return None, f"expected a JSON object, got {_kind(record)}"
    problem = _check(record)
    return (None, problem) if problem else (record, "")


def _check(record: dict[str, Any]) -> str:
    """What is wrong with the known fields of a record ("" when nothing is)."""
    key = record.get("k")
    if not isinstance(key, str) or not key:
        return _field(record, "k", "a non-empty string")
    event = record.get("e")
    if not isinstance(event, str):
        return _field(record, "e", "a string")
    if event not in _EVENTS:
        return f"'e' is not a known event (expected one of {', '.join(_EVENTS)})"
    job = record.get("job")
    if event == "created":
        return "" if isinstance(job, str) and job else _field(record, "job", "a job id")
    if job is not None and not isinstance(job, str):
        return _field(record, "job", "a job id or null")
    if not isinstance(record.get("status"), str):
        return _field(record, "status", "a string")
    error = record.get("error")
    if error is None:
        return ""
    if not isinstance(error, dict):
        return _field(record, "error", "an object or null")
    for name in ("code", "message", "type"):
        if error.get(name) is not None and not isinstance(error[name], str):
            return f"'error.{name}' is {_kind(error[name])}, expected a string or null"
    return ""



@attrs.frozen
class JournalEntry:
    """What the journal knows of one input (keyed by its idempotency key)."""

    key: str
    job_id: str | None = None
    status: str | None = None
    error: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        """Whether the input is done for good (``completed`` or ``failed``), not waited for."""
        return self.status in FINAL


class Journal:
    """An append-only JSON-lines file of a bulk run's progress.

    Raises ``InvalidArgumentError`` naming ``journal`` when the path cannot be one: not a
    path, a directory or another non-regular file, a missing or non-folder parent, a file
    this process may not both read and append to. Lines that are not journal records (cut
    short by a crash, or of the wrong shape) are skipped, each with a WARNING naming its
    line number and what is wrong with it, never its content; ``ignored_lines`` counts
    them.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = _as_path(path)
        self._fsync = fsync
        self._entries: dict[str, JournalEntry] = {}
        self.ignored_lines = 0
        self._fd = _open(self.path)
        try:
            cut_short = self._load()
        except OSError as exc:
            os.close(self._fd)
            raise InvalidArgumentError(
                "journal", f"cannot read {self.path}: {_reason(exc)}"
            ) from None
        except BaseException:
            os.close(self._fd)
            raise
        if cut_short:
            # A crash left half a line: end it, or our first record would join it.
            os.write(self._fd, b"\n")

    def _load(self) -> bool:
        """Read the records; whether the file ends in the middle of a line."""
        with open(self._fd, "rb", closefd=False) as raw:
            size = os.fstat(self._fd).st_size
            if not size:
                return False
            raw.seek(size - 1)
            cut_short = raw.read(1) != b"\n"
            raw.seek(0)
            for number, line in enumerate(raw, 1):
                if not line.strip():
                    continue  # an empty line says nothing (two runs may each end a cut one)
                record, problem = _parse(line)
                if record is None:
                    self._skip(number, problem)
                    continue
                self._apply(record)
        if self.ignored_lines > _WARNED_LINES:
            logger.warning(
                "journal %s: %d more lines skipped", self.path, self.ignored_lines - _WARNED_LINES
            )
        return cut_short

    def _skip(self, number: int, problem: str) -> None:
        self.ignored_lines += 1
        if self.ignored_lines <= _WARNED_LINES:
            logger.warning("journal %s: line %d skipped: %s", self.path, number, problem)

    def _apply(self, record: dict[str, Any]) -> None:
        key: str = record["k"]
        old = self._entries.get(key, JournalEntry(key))
        if record["e"] == "created":
            self._entries[key] = attrs.evolve(old, job_id=record["job"])
        else:
            self._entries[key] = attrs.evolve(
                old,
                job_id=record.get("job") or old.job_id,
                status=record["status"],
                error=record.get("error"),
            )

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> JournalEntry | None:
        """What the journal holds for the input with idempotency key ``key``, or ``None``.

        The entry reflects every record read at opening plus those this object wrote
        since; lines appended meanwhile by another run sharing the file are not seen.
        """
        return self._entries.get(key)

    def created(self, key: str, job_id: str, index: int) -> None:
        """Record that the input ``key`` (at position ``index`` of the run) made ``job_id``.

        The line is appended in one write before this returns (flushed to disk first
        when the journal was opened with ``fsync=True``), so a crash right after it
        still lets a re-run wait for the job instead of creating it again.
        """
        self._append({"e": "created", "k": key, "job": job_id, "i": index})
        self._entries[key] = attrs.evolve(self._entries.get(key, JournalEntry(key)), job_id=job_id)

    def finished(
        self, key: str, job_id: str | None, status: str, error: dict[str, Any] | None = None
    ) -> None:
        """Record that the input ``key`` ended with ``status``, and ``error`` if it failed.

        ``job_id`` is ``None`` when no job was made (the input was refused before one
        was). A ``completed`` or ``failed`` status makes a re-run report the input from
        the journal; any other status makes it wait for the job again.
        """
        record: dict[str, Any] = {"e": "finished", "k": key, "job": job_id, "status": status}
        if error:
            record["error"] = error
        self._append(record)
        self._entries[key] = JournalEntry(key, job_id, status, error)

    def _append(self, record: dict[str, Any]) -> None:
        record["t"] = round(time.time(), 3)
        line = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        os.write(self._fd, line)
        if self._fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        """Close the file. Safe to call twice; writing to a closed journal fails."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
