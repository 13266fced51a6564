"""The figures each reliability scenario reports, collected for one table per test session.

Scenarios call ``figures.record(Scenario(...))``; ``conftest.py`` prints every recorded row
as a markdown table in the terminal summary, so CI output carries the numbers. The
columns are the issue's: faults injected, retries, duplicates, lost, skipped, leaked
(every one of the last four must be 0), plus outcomes, 429s and wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator

import aiohttp
import attrs
import pytest


@attrs.define
class Scenario:
    """One scenario's figures. ``None`` where a column does not apply."""

    name: str
    inputs: int
    outcomes: int | None = None
    requests: int = 0
    faults: int = 0
    retries: int = 0
    http_429: int = 0
    duplicates: int = 0
    lost: int = 0
    skipped: int = 0
    leaked: int = 0
    wall_s: float = 0.0
    note: str = ""

    @property
    def must_be_zero(self) -> dict[str, int]:
        return {
            "duplicates": self.duplicates,
            "lost": self.lost,
            "skipped": self.skipped,
            "leaked": self.leaked,
        }


COLUMNS = (
    "scenario", "inputs", "outcomes", "requests", "faults injected", "retries", "429s",
    "duplicates", "lost", "skipped", "leaked", "wall s", "notes",
)


class FigureBook:
    """Every scenario recorded in this session, in the order they ran."""

    def __init__(self) -> None:
        self.rows: list[Scenario] = []

    def record(self, row: Scenario) -> Scenario:
        self.rows.append(row)
        return row

    def row(self, name: str, note: str = "") -> Scenario:
        """The row called ``name``, made on first use: for tables of many small cases,
        each adding its part (``row.inputs += 1``)."""
        for existing in self.rows:
            if existing.name == name:
                return existing
        return self.record(Scenario(name=name, inputs=0, outcomes=0, note=note))

    def markdown(self) -> str:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for r in self.rows:
            cells = [
                r.name, str(r.inputs), "" if r.outcomes is None else str(r.outcomes),
                str(r.requests), str(r.faults), str(r.retries), str(r.http_429),
                str(r.duplicates), str(r.lost), str(r.skipped), str(r.leaked),
                f"{r.wall_s:.2f}", r.note,
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


BOOK_KEY = pytest.StashKey[FigureBook]()


class RetryCounter(logging.Handler):
    """Counts the transport's retry records (by failure kind, read from the record's
    ``reason`` field), the calls it gave up on, and every record that contains one of
    ``secrets``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(logging.DEBUG)
        self.secrets = [s for s in secrets if s]
        self.retries = 0
        self.gave_up = 0
        self.by_failure: dict[str, int] = {}
        self.records = 0
        self.secret_hits = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        if isinstance(record.msg, str) and record.msg.startswith("retrying "):
            self.retries += 1
            kind = str(getattr(record, "reason", "?"))
            self.by_failure[kind] = self.by_failure.get(kind, 0) + 1
        elif isinstance(record.msg, str) and record.msg.startswith("giving up "):
            self.gave_up += 1
        if self.secrets:
            text = record.getMessage()
            self.secret_hits += sum(secret in text for secret in self.secrets)


@contextlib.contextmanager
def counting_retries(
    *loggers: str, secrets: Iterable[str] = ()
) -> Iterator[RetryCounter]:
    """DEBUG records of ``loggers`` go to a :class:`RetryCounter` only (not to pytest's
    capture, so a run of thousands of requests stays cheap); restored afterwards."""
    counter = RetryCounter(secrets)
    saved = []
    for name in loggers:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(counter)
    try:
        yield counter
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(counter)
            logger.setLevel(level)
            logger.propagate = propagate


def connections_in_use(http: aiohttp.ClientSession) -> int:
    """Connections handed out by ``http`` and not yet released (no public counter)."""
    connector = http.connector
    assert isinstance(connector, aiohttp.TCPConnector)
    return len(connector._acquired)


async def settled(
    http: aiohttp.ClientSession, before: set[asyncio.Task[object]], limit: float = 2.0
) -> dict[str, int]:
    """Connections still held and SDK tasks still running once things had time to settle.

    A connection released or a task finishing a few milliseconds after the run ended is
    not a leak, and on a loaded machine that takes a while; a real leak is still there
    ``limit`` seconds later.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        held = {"connections": connections_in_use(http), "tasks": len(stray_tasks(before))}
        if not any(held.values()) or loop.time() >= deadline:
            return held
        await asyncio.sleep(0.02)


def stray_tasks(before: set[asyncio.Task[object]]) -> list[asyncio.Task[object]]:
    """SDK tasks still running that were not running at ``before`` (servers excluded)."""
    return [
        t for t in asyncio.all_tasks() - before
        if not t.done() and "RequestHandler" not in repr(t) and "emulator" not in t.get_name()
        and t is not asyncio.current_task()
    ]
