"""schemathesis against both emulators, with every check, bounded to run in seconds.

Each emulator is started on 127.0.0.1 in a thread of its own (schemathesis calls it
synchronously, through ``requests``) with its own credentials as the document's security
schemes, and schemathesis's engine runs all of its phases on the document: the coverage
phase (boundary values, missing and undeclared parameters, unsupported methods), the
fuzzing phase (``MAX_EXAMPLES`` examples per operation) and the stateful phase, which
follows the documents' ``links`` (TutorFlow: create -> get -> result, a key to its rotation
and revocation, a webhook to its deletion). Every check schemathesis has is on.

The test fails on any server error, any schema or status-code failure, any error of the
engine itself, and on any other failure not covered by an entry of ``baseline.yaml``
(each entry says why it is accepted). It also fails if the stateful phase never fetched a
result of a job it created, so that the links cannot silently stop working.

Reproducible: the seed is fixed (``SEED``). About 10 s for both on this machine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
import schemathesis
import yaml
from fuzz._servers import running
from schemathesis.engine import events, from_schema

from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

SPEC_DIR: Final = Path(__file__).resolve().parents[2] / "openapi"
BASELINE: Final = Path(__file__).with_name("baseline.yaml")
MAX_EXAMPLES: Final = 40
SEED: Final = 20261201
RESULT_ROUTE: Final = "/v1/content/integrations/expansions/{jobId}/result"


@attrs.frozen
class Finding:
    """One failed check, as much of it as a baseline entry can be matched on."""

    api: str
    operation: str
    check: str
    failure: str
    title: str
    status: int | None
    body: str
    request: str

    def describe(self) -> str:
        return (
            f"{self.operation} [{self.check}] {self.failure}: {self.title}; "
            f"answered {self.status} {self.body[:300]!r}; request {self.request[:400]}"
        )


@attrs.frozen
class BaselineEntry:
    api: str
    operations: tuple[str, ...]
    check: str
    status: int
    body: re.Pattern[str]
    reason: str

    def covers(self, finding: Finding) -> bool:
        return (
            finding.api == self.api
            and finding.operation in self.operations
            and finding.check == self.check
            and finding.status == self.status
            and self.body.search(finding.body) is not None
        )


def load_baseline() -> list[BaselineEntry]:
    raw = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))
    entries = []
    for item in raw["entries"]:
        assert item.get("reason", "").strip(), f"baseline entry without a reason: {item}"
        entries.append(
            BaselineEntry(
                api=item["api"],
                operations=tuple(item["operations"]),
                check=item["check"],
                status=int(item["status"]),
                body=re.compile(item["body"]),
                reason=item["reason"],
            )
        )
    return entries


@attrs.define
class Run:
    """What one engine run found."""

    findings: list[Finding] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)
    phases: dict[str, str] = attrs.field(factory=dict)
    seconds: float = 0.0


def _finding(api: str, recorder: Any, case_id: str, check: str, failure: Any) -> Finding:
    case = recorder.cases[case_id].value
    interaction = recorder.interactions.get(case_id)
    status: int | None = None
    body = ""
    if interaction is not None and interaction.response is not None:
        status = interaction.response.status_code
        body = (interaction.response.content or b"").decode("utf-8", "replace")
    request = (
        f"{case.method} {case.formatted_path} query={case.query!r} "
        f"headers={sorted(case.headers or {})!r} body={case.body!r}"
    )
    return Finding(
        api=api,
        operation=str(failure.operation or case.operation.label),
        check=check,
        failure=type(failure).__name__,
        title=str(failure.title),
        status=status,
        body=body,
        request=request,
    )


def fuzz(api: str, raw_schema: dict[str, Any], base_url: str, extra: dict[str, Any]) -> Run:
    """Run every phase and every check of schemathesis on one document."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            # Every failure is collected, not only the first of each operation.
            "continue-on-failure": True,
            "generation": {"max-examples": MAX_EXAMPLES},
            "checks": {"enabled": True},
            **extra,
        }
    )
    schema = schemathesis.openapi.from_dict(raw_schema, config=config)
    run = Run()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            for case_id, nodes in recorder.checks.items():
                for node in nodes:
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        run.findings.append(_finding(api, recorder, case_id, node.name, failure))
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            run.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.PhaseFinished):
            run.phases[event.phase.name.value] = event.status.value
    run.seconds = time.monotonic() - started
    return run


def judge(run: Run, requests: int) -> None:
    baseline = load_baseline()
    unexpected: dict[tuple[str, str, str, int | None], Finding] = {}
    accepted = 0
    for finding in run.findings:
        if any(entry.covers(finding) for entry in baseline):
            accepted += 1
        else:
            unexpected.setdefault(
                (finding.operation, finding.check, finding.failure, finding.status), finding
            )
    print(
        f"fuzz: {requests} requests in {run.seconds:.1f} s, phases {run.phases}, "
        f"{len(run.findings)} failed checks ({accepted} in the baseline)"
    )
    assert not run.errors, "schemathesis reported errors:\n" + "\n".join(run.errors)
    assert not unexpected, "failures outside tests/fuzz/baseline.yaml:\n" + "\n".join(
        f.describe() for f in unexpected.values()
    )
    for phase in ("coverage", "fuzzing"):
        assert run.phases.get(phase) in ("success", "failure"), run.phases


def _document(name: str) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((SPEC_DIR / name).read_text(encoding="utf-8"))
    return raw


@pytest.fixture
def tutorflow() -> Iterator[tuple[TutorFlowEmulator, str]]:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.0)
    with running(lambda: TutorFlowEmulator(config)) as (emulator, thread):

        async def issue() -> str:
            # High enough that the fuzz never meets the rate limit it is not testing.
            return emulator.create_api_key("fuzz", rate_limit_per_minute=10**9).api_key

        yield emulator, thread.run(issue)


@pytest.fixture
def nexttech() -> Iterator[NextTechEmulator]:
    with running(lambda: NextTechEmulator(NextTechEmulatorConfig(page_size=5))) as (
        emulator,
        _thread,
    ):
        yield emulator


def test_tutorflow_emulator_matches_its_document(
    tutorflow: tuple[TutorFlowEmulator, str],
) -> None:
    emulator, api_key = tutorflow
    extra = {
        "auth": {
            "openapi": {
                "contentApiKey": {"bearer": api_key},
                "adminSession": {"api_key": emulator.admin_jwt},
            }
        },
        # The admin session manages its own organization only; any other id is a 403.
        "parameters": {"organizationId": emulator.organization_id},
    }
    run = fuzz("tutorflow", _document("tutorflow.yaml"), emulator.base_url, extra)
    judge(run, emulator.counters.requests)
    assert run.phases.get("stateful") in ("success", "failure"), run.phases
    # The links were followed: a result was fetched for a job the fuzz itself created.
    results = [
        record.path
        for record in emulator.request_log
        if record.method == "GET" and record.path.endswith("/result")
    ]
    known = {f"/v1/content/integrations/expansions/{job}/result" for job in _job_ids(emulator)}
    assert known & set(results), "the stateful phase never fetched a created job's result"
    assert emulator.counters.by_route[("GET", RESULT_ROUTE)] > 0


def _job_ids(emulator: TutorFlowEmulator) -> list[str]:
    return [record.id for record in emulator._state.jobs.values()]


def test_nexttech_emulator_matches_its_document(nexttech: NextTechEmulator) -> None:
    raw = _document("nexttech.yaml")
    # `secret_key` is declared only so that a request carrying it fails validation
    # (`not: {}`); schemathesis's coverage phase still sends it and the emulator refuses
    # it before anything else, which would hide every other answer. The emulator's own
    # tests cover that refusal.
    for item in raw["paths"].values():
        for operation in item.values():
            operation["parameters"] = [
                p
                for p in operation.get("parameters", [])
                if p.get("$ref") != "#/components/parameters/SecretKeyInQuery"
            ]
    for n in range(12):
        nexttech.add_content(1_600_000_000 + n // 3, course_uid="c1" if n % 2 else None)
        nexttech.add_grade(1_600_000_000 + n)
    extra = {
        "auth": {
            "openapi": {
                "basicAuth": {"username": nexttech.api_token, "password": nexttech.secret_key}
            }
        }
    }
    run = fuzz("nexttech", raw, nexttech.base_url, extra)
    judge(run, nexttech.counters.requests)
