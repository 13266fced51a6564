"""The journal of a bulk run: one JSON line per job created and per job finished.

A line is appended with a single write as soon as its event happens, so a run killed
at any point leaves at most a half-written last line, which is ignored on reading.
Re-running the same inputs with the same journal reports finished inputs from it and
waits for created ones instead of creating them again. Even a lost last line cannot
duplicate a job: the create is repeated with the same idempotency key and the server
answers with the job it already has.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import attrs

from .errors import InvalidArgumentError

#: Statuses after which an input is done for good; anything else is waited for again.
FINAL = frozenset({"completed", "failed"})


@attrs.frozen
class JournalEntry:
    """What the journal knows of one input (keyed by its idempotency key)."""

    key: str
    job_id: str | None = None
    status: str | None = None
    error: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINAL


class Journal:
    """An append-only JSON-lines file of a bulk run's progress."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._entries: dict[str, JournalEntry] = {}
        self.ignored_lines = 0
        self._cut_short = False
        if self.path.exists():
            self._load()
        try:
            # O_APPEND: each line lands at the end in one write, even if two runs overlap.
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise InvalidArgumentError("journal", f"cannot open {self.path}: {exc}") from None
        if self._cut_short:
            # A crash left half a line: end it, or our first record would join it.
            os.write(self._fd, b"\n")

    def _load(self) -> None:
        with self.path.open("rb") as raw:
            raw.seek(0, os.SEEK_END)
            if raw.tell():
                raw.seek(-1, os.SEEK_END)
                self._cut_short = raw.read(1) != b"\n"
        with self.path.open("r", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                    key = record["k"]
                    event = record["e"]
                except (ValueError, KeyError, TypeError):
                    self.ignored_lines += 1  # a line cut short by a kill
                    continue
                old = self._entries.get(key, JournalEntry(key))
                if event == "created":
                    self._entries[key] = attrs.evolve(old, job_id=record.get("job"))
                elif event == "finished":
                    self._entries[key] = attrs.evolve(
                        old,
                        job_id=record.get("job") or old.job_id,
                        status=record.get("status"),
                        error=record.get("error"),
                    )

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> JournalEntry | None:
        return self._entries.get(key)

    def created(self, key: str, job_id: str, index: int) -> None:
        self._append({"e": "created", "k": key, "job": job_id, "i": index})
        self._entries[key] = attrs.evolve(self._entries.get(key, JournalEntry(key)), job_id=job_id)

    def finished(
        self, key: str, job_id: str | None, status: str, error: dict[str, Any] | None = None
    ) -> None:
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
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
