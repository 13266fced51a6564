"""Statuses the vendor's thin docs allow: an undocumented final status, another case,
per-job overrides, a result that lags its job, hanging polls and a huge Retry-After.

Every test runs against the real emulator on 127.0.0.1 with a bare aiohttp client, and
moves the job clock with ``advance`` instead of sleeping for jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import attrs
import pytest
from webhook_endpoint import Endpoint, serving_endpoint

from tutorflow_async.testing import (
    MISSING,
    EmulatorConfig,
    Fault,
    StatusCase,
    TutorFlowEmulator,
)

EXPANSIONS = "/v1/content/integrations/expansions"
STATUS_ROUTE = EXPANSIONS + "/{jobId}"
OUTPUTS = ["interactive_module", "expanded_quiz"]
# Jobs stay queued until the test moves the clock, so every phase can be looked at.
QUEUED, PROCESSING = 10.0, 10.0
SLOW = EmulatorConfig(queued_seconds=QUEUED, processing_seconds=PROCESSING, tick_interval=0.005)


@pytest.fixture
async def receiver() -> AsyncIterator[Endpoint]:
    async with serving_endpoint() as endpoint:
        yield endpoint


@attrs.define
class Client:
    """A bare HTTP client of one emulator, with a content key and the admin cookie."""

    emu: TutorFlowEmulator
    http: aiohttp.ClientSession
    bearer: dict[str, str]

    @property
    def admin(self) -> dict[str, str]:
        return {"Cookie": f"jwt={self.emu.admin_jwt}"}

    async def request(
        self, method: str, path: str, *, headers: dict[str, str], body: object = None
    ) -> tuple[int, Any]:
        async with self.http.request(
            method, self.emu.base_url + path, json=body, headers=headers
        ) as r:
            raw = await r.read()
            return r.status, (json.loads(raw) if raw else None)

    async def create(
        self, *, fail: bool = False, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = dict(self.bearer)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        payload = {"title": "Statuses", "_emulator": {"fail": fail}}
        status, body = await self.request(
            "POST",
            EXPANSIONS,
            headers=headers,
            body={"payload": payload, "requestedOutputs": OUTPUTS},
        )
        assert status == 200, body
        created: dict[str, Any] = body
        return created

    async def get(self, job_id: str, *, expect: int = 200) -> dict[str, Any]:
        status, body = await self.request("GET", f"{EXPANSIONS}/{job_id}", headers=self.bearer)
        assert status == expect, body
        answer: dict[str, Any] = body
        return answer

    async def result(self, job_id: str, *, expect: int = 200) -> dict[str, Any]:
        status, body = await self.request(
            "GET", f"{EXPANSIONS}/{job_id}/result", headers=self.bearer
        )
        assert status == expect, body
        answer: dict[str, Any] = body
        return answer

    async def export(self, lesson_id: str = "lesson-1") -> tuple[int, dict[str, Any]]:
        status, body = await self.request(
            "POST",
            "/v1/content/classrooms/class-1/integrations/exports",
            headers=self.admin,
            body={"lessonId": lesson_id},
        )
        return status, body

    async def hook(self, url: str, events: list[str]) -> None:
        status, body = await self.request(
            "POST",
            f"/v1/content/organizations/{self.emu.organization_id}/webhooks",
            headers=self.admin,
            body={"url": url, "events": events},
        )
        assert status == 201, body


@contextlib.asynccontextmanager
async def running(config: EmulatorConfig = SLOW) -> AsyncIterator[Client]:
    async with TutorFlowEmulator(config) as emu, aiohttp.ClientSession() as http:
        key = emu.create_api_key(name="statuses", rate_limit_per_minute=10_000)
        yield Client(emu, http, {"Authorization": f"Bearer {key.api_key}"})


def finish(emu: TutorFlowEmulator) -> None:
    """Move the job clock to the moment SLOW jobs turn terminal."""
    emu.advance(QUEUED + PROCESSING)


async def eventually(check: Callable[[], bool]) -> None:
    # Polls: the deliveries being watched arrive from the emulator's background tasks.
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached within 2 s")


def row_statuses(answer: dict[str, Any]) -> list[Any]:
    return [row["status"] for row in answer["outputs"]]


# -- defaults --------------------------------------------------------------------------


def test_defaults_are_the_documented_behaviour() -> None:
    config = EmulatorConfig()
    assert config.final_status is None
    assert config.status_case == "lower"
    assert (config.result_lag_seconds, config.result_lag_status) == (0.0, 404)


async def test_by_default_the_result_is_ready_the_moment_the_job_completes() -> None:
    async with running() as client:
        job_id = (await client.create())["job"]["id"]
        finish(client.emu)
        assert (await client.get(job_id))["job"]["status"] == "completed"
        result = await client.result(job_id)
        assert result["job"]["status"] == "completed"
        assert all("manifest" in row for row in result["outputs"])


# -- final_status ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "final", ["canceled", "cancelled", "expired", "partially_completed", "Some Other State"]
)
async def test_final_status_replaces_completed_everywhere(receiver: Endpoint, final: str) -> None:
    async with running(attrs.evolve(SLOW, final_status=final)) as client:
        await client.hook(receiver.url, ["content.completed", "content.failed"])
        created = await client.create()
        job_id = created["job"]["id"]
        assert created["job"]["status"] == "queued"
        assert (await client.get(job_id))["job"]["status"] == "queued"
        client.emu.advance(QUEUED)
        assert (await client.get(job_id))["job"]["status"] == "processing"
        client.emu.advance(PROCESSING)
        assert client.emu.job_status(job_id) == final

        for answer in (await client.get(job_id), await client.result(job_id)):
            job = answer["job"]
            assert job["status"] == final
            assert job["completedAt"] is not None
            assert "error" not in job
            assert row_statuses(answer) == [final, final]
            for row in answer["outputs"]:
                assert row["resourceId"] is None
                assert "manifest" not in row
                assert "error" not in row
            assert "manifest" not in answer  # no combined manifest either

        await eventually(lambda: len(receiver.deliveries) == 1)
        await client.emu.drain_webhooks()
    assert receiver.events() == [
        (
            "content.failed",
            {
                "event": "content.failed",
                "jobId": job_id,
                "status": final,
                "sourceType": "source_json",
                "requestedOutputs": OUTPUTS,
                "completedAt": job["completedAt"],
            },
        )
    ]


async def test_final_status_is_not_sent_to_completed_only_subscribers(
    receiver: Endpoint,
) -> None:
    async with running(attrs.evolve(SLOW, final_status="expired")) as client:
        await client.hook(receiver.url, ["content.completed"])
        await client.create()
        finish(client.emu)
        await asyncio.sleep(0.05)  # ten ticks: time enough to announce the job
        await client.emu.drain_webhooks()
        assert client.emu.counters.webhook_deliveries == 0
    assert receiver.deliveries == []


async def test_final_status_leaves_failures_and_exports_alone(receiver: Endpoint) -> None:
    async with running(attrs.evolve(SLOW, final_status="expired")) as client:
        await client.hook(receiver.url, ["content.completed", "content.failed"])
        job_id = (await client.create(fail=True))["job"]["id"]
        finish(client.emu)
        result = await client.result(job_id)
        assert result["job"]["status"] == "failed"
        assert result["job"]["error"]["code"] == "content_generation_failed"
        assert row_statuses(result) == ["failed", "failed"]

        status, exported = await client.export()
        assert status == 201
        assert exported["job"]["status"] == "completed"
        assert "manifest" in exported
        # Exports are completed at creation: its webhook is a completion too.
        await eventually(lambda: len(receiver.deliveries) == 2)
    statuses = sorted((event, body["status"]) for event, body in receiver.events())
    assert statuses == [("content.completed", "completed"), ("content.failed", "failed")]


# -- status_case -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "spell"),
    [("lower", str.lower), ("upper", str.upper), ("title", str.title)],
)
async def test_status_case_renders_every_job_status(
    receiver: Endpoint, case: StatusCase, spell: Callable[[str], str]
) -> None:
    async with running(attrs.evolve(SLOW, status_case=case)) as client:
        await client.hook(receiver.url, ["content.completed", "content.failed"])
        created = await client.create()
        job_id = created["job"]["id"]
        failing_id = (await client.create(fail=True))["job"]["id"]
        assert created["job"]["status"] == spell("queued")
        assert row_statuses(created) == [spell("queued")] * 2
        client.emu.advance(QUEUED)
        processing = await client.get(job_id)
        assert processing["job"]["status"] == spell("processing")
        assert row_statuses(processing) == [spell("processing")] * 2
        assert (await client.result(job_id))["job"]["status"] == spell("processing")

        client.emu.advance(PROCESSING)
        assert client.emu.job_status(job_id) == "completed"  # the canonical spelling
        for answer in (await client.get(job_id), await client.result(job_id)):
            assert answer["job"]["status"] == spell("completed")
            assert row_statuses(answer) == [spell("completed")] * 2
        # Still a completed job in every other respect.
        assert all("manifest" in row for row in (await client.result(job_id))["outputs"])
        failed = await client.result(failing_id)
        assert failed["job"]["status"] == spell("failed")
        assert failed["job"]["error"]["code"] == "content_generation_failed"
        assert row_statuses(failed) == [spell("failed")] * 2

        status, exported = await client.export()
        assert status == 201
        assert exported["job"]["status"] == spell("completed")
        assert row_statuses(exported) == [spell("completed")]
        # Not job statuses: key metadata keeps its documented spelling.
        _, keys = await client.request(
            "GET",
            f"/v1/content/organizations/{client.emu.organization_id}/api-keys",
            headers=client.admin,
        )
        assert {k["status"] for k in keys} == {"ACTIVE"}

        await eventually(lambda: len(receiver.deliveries) == 3)
    by_job = {body["jobId"]: (event, body) for event, body in receiver.events()}
    assert by_job[job_id][0] == by_job[job_id][1]["event"] == "content.completed"
    assert by_job[job_id][1]["status"] == spell("completed")
    assert by_job[failing_id][0] == by_job[failing_id][1]["event"] == "content.failed"
    assert by_job[failing_id][1]["status"] == spell("failed")


async def test_status_case_applies_to_a_final_status(receiver: Endpoint) -> None:
    config = attrs.evolve(SLOW, final_status="partially_completed", status_case="upper")
    async with running(config) as client:
        await client.hook(receiver.url, ["content.failed"])
        job_id = (await client.create())["job"]["id"]
        finish(client.emu)
        assert (await client.get(job_id))["job"]["status"] == "PARTIALLY_COMPLETED"
        result = await client.result(job_id)
        assert result["job"]["status"] == "PARTIALLY_COMPLETED"
        assert row_statuses(result) == ["PARTIALLY_COMPLETED"] * 2
        await eventually(lambda: len(receiver.deliveries) == 1)
    [(event, body)] = receiver.events()
    assert (event, body["status"]) == ("content.failed", "PARTIALLY_COMPLETED")


# -- per-job overrides -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "COMPLETED", "weird", None])
async def test_override_status_shows_the_value_as_is(value: str | None) -> None:
    # status_case does not touch an override: it is sent exactly as given.
    async with running(attrs.evolve(SLOW, status_case="title")) as client:
        job_id = (await client.create(idempotency_key="k"))["job"]["id"]
        other_id = (await client.create())["job"]["id"]
        client.emu.override_status(job_id, value)
        for answer in (await client.get(job_id), await client.result(job_id)):
            assert "status" in answer["job"]
            assert answer["job"]["status"] == value
            # Only the job object's status: rows follow the real state.
            assert row_statuses(answer) == ["Queued", "Queued"]
            assert answer["job"]["completedAt"] is None
        # Not the create answer, not even a replay; not other jobs.
        assert (await client.create(idempotency_key="k"))["job"]["status"] == "Queued"
        assert (await client.get(other_id))["job"]["status"] == "Queued"

        client.emu.clear_status_override(job_id)
        assert (await client.get(job_id))["job"]["status"] == "Queued"
        assert (await client.result(job_id))["job"]["status"] == "Queued"
        client.emu.clear_status_override(job_id)  # clearing twice is harmless


async def test_override_missing_leaves_the_field_out() -> None:
    async with running() as client:
        job_id = (await client.create())["job"]["id"]
        client.emu.override_status(job_id, MISSING)
        for path in (f"{EXPANSIONS}/{job_id}", f"{EXPANSIONS}/{job_id}/result"):
            status, answer = await client.request("GET", path, headers=client.bearer)
            assert status == 200
            assert "status" not in answer["job"]
            assert answer["job"]["id"] == job_id
            assert row_statuses(answer) == ["queued", "queued"]
        assert repr(MISSING) == "MISSING"
        client.emu.override_status(job_id, "processing")  # a later override replaces it
        assert (await client.get(job_id))["job"]["status"] == "processing"


async def test_override_does_not_change_the_real_state(receiver: Endpoint) -> None:
    async with running() as client:
        await client.hook(receiver.url, ["content.completed"])
        job_id = (await client.create())["job"]["id"]
        # A server that says "completed" too early: the result has nothing in it yet.
        client.emu.override_status(job_id, "completed")
        early = await client.result(job_id)
        assert early["job"]["status"] == "completed"
        assert "manifest" not in early
        assert all(row["resourceId"] is None for row in early["outputs"])

        client.emu.override_status(job_id, "processing")
        finish(client.emu)
        late = await client.result(job_id)
        assert late["job"]["status"] == "processing"  # a server that never says done
        assert "manifest" in late
        assert client.emu.job_status(job_id) == "completed"
        await eventually(lambda: len(receiver.deliveries) == 1)
    [(event, body)] = receiver.events()
    assert (event, body["status"]) == ("content.completed", "completed")


async def test_override_reaches_export_jobs() -> None:
    async with running() as client:
        _, exported = await client.export()
        job_id = exported["job"]["id"]
        client.emu.override_status(job_id, None)
        assert (await client.get(job_id))["job"]["status"] is None
        assert (await client.result(job_id))["job"]["status"] is None


def test_override_refuses_unknown_jobs() -> None:
    emu = TutorFlowEmulator()
    with pytest.raises(KeyError):
        emu.override_status("job_unknown", "completed")
    emu.clear_status_override("job_unknown")  # nothing to clear: no error


async def test_override_refuses_values_that_are_not_statuses() -> None:
    async with running() as client:
        job_id = (await client.create())["job"]["id"]
        with pytest.raises(TypeError, match="value must be a str, None or MISSING"):
            client.emu.override_status(job_id, 3)  # type: ignore[arg-type]
        assert (await client.get(job_id))["job"]["status"] == "queued"


# -- result lag ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lag_status", "code"), [(404, "content_not_found"), (409, "content_conflict")]
)
async def test_result_lags_the_completed_status(
    receiver: Endpoint, lag_status: int, code: str
) -> None:
    config = attrs.evolve(SLOW, result_lag_seconds=5.0, result_lag_status=lag_status)
    async with running(config) as client:
        await client.hook(receiver.url, ["content.completed"])
        job_id = (await client.create())["job"]["id"]
        # Before completion the result answers as usual (the job, no manifests).
        assert (await client.result(job_id))["job"]["status"] == "queued"

        finish(client.emu)
        assert (await client.get(job_id))["job"]["status"] == "completed"
        lagging = await client.result(job_id, expect=lag_status)
        assert lagging == {
            "error": {
                "code": code,
                "message": f"the result of job {job_id!r} is not ready yet",
                "status": lag_status,
            }
        }
        # The webhook goes out at completion: a receiver that fetches at once meets the lag.
        await eventually(lambda: len(receiver.deliveries) == 1)
        [(event, body)] = receiver.events()
        assert (event, body["jobId"]) == ("content.completed", job_id)
        await client.result(job_id, expect=lag_status)

        client.emu.advance(4.9)
        await client.result(job_id, expect=lag_status)
        client.emu.advance(0.1)
        ready = await client.result(job_id)
        assert ready["job"]["status"] == "completed"
        assert all("manifest" in row for row in ready["outputs"])


async def test_result_lag_spares_failed_ended_and_exported_jobs() -> None:
    async with running(attrs.evolve(SLOW, result_lag_seconds=60.0)) as client:
        failing_id = (await client.create(fail=True))["job"]["id"]
        _, exported = await client.export()
        finish(client.emu)
        assert (await client.result(failing_id))["job"]["status"] == "failed"
        assert (await client.result(exported["job"]["id"]))["job"]["status"] == "completed"
    config = attrs.evolve(SLOW, result_lag_seconds=60.0, final_status="expired")
    async with running(config) as client:
        job_id = (await client.create())["job"]["id"]
        finish(client.emu)
        assert (await client.result(job_id))["job"]["status"] == "expired"


async def test_result_lag_wins_over_an_override_and_can_be_endless() -> None:
    config = attrs.evolve(SLOW, result_lag_seconds=math.inf, status_case="upper")
    async with running(config) as client:
        job_id = (await client.create())["job"]["id"]
        finish(client.emu)
        client.emu.override_status(job_id, "completed")
        client.emu.advance(10**6)
        assert (await client.get(job_id))["job"]["status"] == "completed"
        await client.result(job_id, expect=404)


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"final_status": ""}, "final_status must be None or a non-empty string"),
        ({"final_status": "   "}, "final_status must be None or a non-empty string"),
        ({"final_status": 3}, "final_status must be None or a non-empty string"),
        ({"final_status": "completed"}, "final_status must be a status other than"),
        ({"final_status": "FAILED"}, "final_status must be a status other than"),
        ({"final_status": "Queued"}, "final_status must be a status other than"),
        ({"status_case": "camel"}, "status_case must be one of"),
        ({"status_case": "UPPER"}, "status_case must be one of"),
        ({"result_lag_seconds": -0.1}, "result_lag_seconds must be a number >= 0"),
        ({"result_lag_seconds": math.nan}, "result_lag_seconds must be a number >= 0"),
        ({"result_lag_seconds": True}, "result_lag_seconds must be a number >= 0"),
        ({"result_lag_seconds": "1"}, "result_lag_seconds must be a number >= 0"),
        ({"result_lag_status": 500}, "result_lag_status must be 404 or 409"),
        ({"result_lag_status": 200}, "result_lag_status must be 404 or 409"),
        ({"result_lag_status": "404"}, "result_lag_status must be 404 or 409"),
    ],
)
def test_bad_values_are_refused_naming_the_knob(knobs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(**knobs)


# -- faults: a poll that hangs, a huge Retry-After -------------------------------------


@pytest.mark.parametrize("after_commit", [False, True])
async def test_a_hanging_poll_does_not_hang_close(after_commit: bool) -> None:
    emu = TutorFlowEmulator(SLOW)
    await emu.start()
    try:
        key = emu.create_api_key()
        bearer = {"Authorization": f"Bearer {key.api_key}"}
        emu.add_fault(
            Fault(
                kind="delay",
                delay=86400,
                method="GET",
                path=STATUS_ROUTE,
                times=None,
                after_commit=after_commit,
            )
        )
        async with aiohttp.ClientSession() as http:
            url = f"{emu.base_url}{EXPANSIONS}/job_x"
            for _ in range(2):  # every poll hangs, not only the first
                with pytest.raises(TimeoutError):
                    async with http.get(
                        url, headers=bearer, timeout=aiohttp.ClientTimeout(total=0.1)
                    ) as r:
                        await r.read()

            async def poll() -> None:
                async with http.get(url, headers=bearer) as r:
                    await r.read()

            pending = asyncio.create_task(poll())
            await eventually(lambda: emu.counters.requests == 3)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await emu.close()
            assert loop.time() - started < emu.config.shutdown_timeout + 1.0
            with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
                await pending
    finally:
        await emu.close()
    assert emu.counters.faults_injected == 3


async def test_a_huge_retry_after() -> None:
    async with running() as client:
        client.emu.add_fault(Fault(kind="status", status=429, retry_after=86400))
        async with client.http.get(
            f"{client.emu.base_url}{EXPANSIONS}/job_x", headers=client.bearer
        ) as r:
            assert r.status == 429
            assert r.headers["Retry-After"] == "86400"
            assert await r.json() == {
                "error": {
                    "code": "content_rate_limit_exceeded",
                    "message": "injected fault (HTTP 429)",
                    "status": 429,
                }
            }
        assert client.emu.counters.rate_limited == 0  # not the limiter's own 429
        await client.get("job_x", expect=404)  # once: the next poll is answered normally
