"""``bulk`` works on any session with what ``BulkSession`` names, and never imports ``content``."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import tutorflow_async as tf
from edu_async_core.clock import ManualClock
from edu_async_core.hooks import Hooks
from tutorflow_async import bulk
from tutorflow_async.bulk import BulkSession

BULK = Path(bulk.__file__)


def test_bulk_imports_nothing_of_content() -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(BULK.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not {".content", "content", "tutorflow_async.content", "ContentSession"} & imported


def test_content_session_is_a_bulk_session() -> None:
    # Checked by mypy (the assignment) and at run time (the method is the same function).
    session: BulkSession = tf.ContentSession("tf_content_x", base_url="http://127.0.0.1:9")
    assert tf.ContentSession.expand_many is bulk.expand_many
    del session


class FakePoller:
    def __init__(self) -> None:
        self.clock = ManualClock()


class FakeExpansions:
    def __init__(self) -> None:
        self.created: list[str] = []

    async def create_prepared(self, body: dict[str, Any], key: str) -> tf.ExpansionJob:
        self.created.append(key)
        return tf.ExpansionJob(id=f"job-{len(self.created)}", status="queued")


class FakeSession:
    """Only what BulkSession names: no transport, no HTTP."""

    def __init__(self) -> None:
        self.expansions = FakeExpansions()
        self.poller = FakePoller()
        self.hooks = Hooks()
        self.waited: list[tuple[str, float, float | None, float | None]] = []

    def intervals(
        self, poll_interval: float | None, max_interval: float | None
    ) -> tuple[float, float]:
        return (poll_interval or 0.5, max_interval or 2.0)

    async def wait_for_expansion(
        self,
        job_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 (the protocol's name)
        poll_interval: float | None,
        max_interval: float | None,
    ) -> tf.ExpansionResult:
        self.waited.append((job_id, timeout, poll_interval, max_interval))
        return tf.ExpansionResult(job=tf.ExpansionJob(id=job_id, status="completed"))


async def test_a_run_on_a_session_that_only_has_the_protocol() -> None:
    session = FakeSession()
    requests = [{"level": {"id": f"l{i}"}} for i in range(3)]
    outcomes = [o async for o in bulk.expand_many(session, requests, concurrency=2, timeout=9.0)]
    assert sorted(o.index for o in outcomes) == [0, 1, 2]
    assert all(o.status == tf.OutcomeStatus.COMPLETED for o in outcomes)
    assert len(set(session.expansions.created)) == 3  # one derived key per input
    assert sorted(w[0] for w in session.waited) == ["job-1", "job-2", "job-3"]
    assert {w[1:] for w in session.waited} == {(9.0, 0.5, 2.0)}  # the session's intervals
