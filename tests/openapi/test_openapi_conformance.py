"""The OpenAPI documents under ``openapi/`` against the emulators' real answers.

Each emulator is started on 127.0.0.1 and driven with plain aiohttp requests through every
operation of its document: the successes and every documented error answer (natural
ones where the emulator can produce them, injected faults for the rest, such as 500s and
an admin endpoint's 429). Every request/response pair is then validated with openapi-core,
through a small adapter implementing its ``Request``/``Response`` protocols from what was
sent and received. Requests the test sends on purpose to provoke an error (a bad body, a
missing credential) must be refused by the document as well, so that the document is
strict where the emulator is. A webhook delivery captured by a local receiver is
validated against the ``webhooks:`` section.

Coverage tests then require every operation and every documented response of each
document to have been exercised, so that the documents and this test cannot drift apart
silently, and route tests compare the documents' paths with the emulators' route tables.
Offline tests check that the shapes the SDK tolerates are accepted by the schemas (and
read by the SDK), and that plausible drift is rejected.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final, Literal

import aiohttp
import pytest
import yaml
from aiohttp import web
from fast_settings import FAST
from multidict import CIMultiDict, CIMultiDictProxy, MultiDictProxy
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import validate as validate_spec
from yarl import URL

import nexttech_async as nt
import tutorflow_async as tf
from nexttech_async.models import Content, Grade
from nexttech_async.models import converter as nt_converter
from nexttech_async.testing import Fault as NtFault
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from tutorflow_async.models import (
    ApiKey,
    CreatedApiKey,
    ExpansionJob,
    ExpansionResult,
    normalize_job,
    normalize_key,
    normalize_result,
)
from tutorflow_async.models import converter as tf_converter
from tutorflow_async.testing import EmulatorConfig, Fault, TutorFlowEmulator
from tutorflow_async.webhooks import parse_delivery

SPEC_DIR: Final = Path(__file__).resolve().parents[2] / "openapi"
TUTORFLOW_SPEC: Final = SPEC_DIR / "tutorflow.yaml"
NEXTTECH_SPEC: Final = SPEC_DIR / "nexttech.yaml"
HTTP_METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
WAIT: Final = 5.0

Api = Literal["tutorflow", "nexttech"]


# ---------------------------------------------------------------- openapi-core adapters


@dataclass
class WireRequest:
    """``openapi_core.protocols.Request`` for a request this test sent."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters


@dataclass
class WireWebhookRequest:
    """``openapi_core.protocols.WebhookRequest`` for a delivery the emulator sent."""

    name: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters


@dataclass
class WireResponse:
    """``openapi_core.protocols.Response`` for an answer as received."""

    status_code: int
    content_type: str
    headers: CIMultiDictProxy[str]
    data: bytes | None


def _cookies(header: str | None) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for pair in (header or "").split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep and name:
            cookies.setdefault(name, value)
    return cookies


def _content_type(headers: Mapping[str, str]) -> str:
    return headers.get("Content-Type", "").lower()


def _describe(exc: BaseException) -> str:
    """An openapi-core error with the schema errors it wraps, on one line each."""
    parts = [f"{type(exc).__name__}: {exc}"]
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        for error in getattr(cause, "schema_errors", None) or ():
            path = "/".join(str(p) for p in getattr(error, "absolute_path", ()))
            parts.append(f"  at /{path}: {getattr(error, 'message', error)}")
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


# ---------------------------------------------------------------- recording exchanges


@dataclass
class Sent:
    """One request as it went out and the answer as it came back."""

    label: str
    request: WireRequest
    response: WireResponse
    valid_request: bool
    """Whether the document must accept the request (False: sent wrong on purpose)."""

    def json(self) -> Any:
        return json.loads(self.response.data or b"null")


@dataclass
class Delivery:
    """One webhook delivery as the local receiver got it."""

    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass
class Drive:
    """Everything one emulator run produced."""

    sent: list[Sent] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    webhook_secret: str = ""
    emulator_routes: set[tuple[str, str]] = field(default_factory=set)


class Client:
    """Plain aiohttp requests, each recorded for validation after the run."""

    def __init__(self, http: aiohttp.ClientSession, origin: str, drive: Drive) -> None:
        self.http = http
        self.origin = origin
        self.drive = drive

    async def call(
        self,
        label: str,
        method: str,
        path: str,
        *,
        expect: int,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        query: Sequence[tuple[str, str]] = (),
        valid: bool = True,
    ) -> Sent:
        """Send one request; fail at once if the status is not ``expect``."""
        sent_headers: CIMultiDict[str] = CIMultiDict(headers or {})
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body).encode()
            sent_headers.setdefault("Content-Type", "application/json")
        url = URL(self.origin + path)
        if query:
            url = url.with_query(list(query))
        async with self.http.request(method, url, data=data, headers=sent_headers) as resp:
            raw = await resp.read()
            info = resp.request_info
            request = WireRequest(
                host_url=str(info.url.origin()),
                path=info.url.path,
                method=method.lower(),
                body=data,
                content_type=_content_type(info.headers),
                parameters=RequestParameters(
                    query=MultiDictProxy(info.url.query),
                    header=CIMultiDictProxy(CIMultiDict(info.headers)),
                    cookie=_cookies(info.headers.get("Cookie")),
                ),
            )
            response = WireResponse(
                status_code=resp.status,
                content_type=_content_type(resp.headers),
                headers=CIMultiDictProxy(CIMultiDict(resp.headers)),
                data=raw,
            )
        record = Sent(label, request, response, valid)
        self.drive.sent.append(record)
        assert resp.status == expect, (
            f"{label}: {method} {path} answered {resp.status}, expected {expect}: {raw[:300]!r}"
        )
        return record


# ---------------------------------------------------------------- driving TutorFlow

SOURCE_JSON: Final[dict[str, Any]] = {
    "category": {"id": "english", "title": "English"},
    "language": "en",
    "level": {
        "id": "a1",
        "title": "A1 glossary",
        "lessons": [
            {"id": "l1", "type": "vocabulary", "title": "Greetings", "items": ["hello"]},
            {
                "id": "l2",
                "type": "quiz",
                "title": "Check",
                "questions": [{"choices": ["a", "b"], "answer": "a", "explanation": "."}],
            },
        ],
    },
    "customerField": {"kept": True},
}
FLOCO_JSON: Final[dict[str, Any]] = {
    "category": "Vocabulary",
    "level": {"id": "b1", "title": "B1 terms", "lessons": [{"id": "t1", "type": "term"}]},
}


class TutorFlowDriver:
    """Every TutorFlow operation, successes and documented errors."""

    def __init__(self, c: Client, emu: TutorFlowEmulator, receiver_url: str) -> None:
        self.c = c
        self.emu = emu
        self.receiver_url = receiver_url
        self.org = f"/v1/content/organizations/{emu.organization_id}"
        self.admin: dict[str, str] = {}
        self.bearer: dict[str, str] = {}
        self.tiny: dict[str, str] = {}
        self.export_job = ""
        self.terminal_jobs: set[str] = set()

    def fault(self, status: int, method: str, template: str) -> None:
        retry_after = 1 if status == 429 else None
        self.emu.add_fault(
            Fault("status", method=method, path=template, status=status, retry_after=retry_after)
        )

    async def injected(
        self,
        label: str,
        method: str,
        template: str,
        path: str,
        *,
        headers: Mapping[str, str],
        body: object = None,
        statuses: Sequence[int] = (429, 500),
    ) -> None:
        """Statuses the emulator only gives when told to, on a request the document accepts."""
        for status in statuses:
            self.fault(status, method, template)
            await self.c.call(
                f"{label} (injected {status})",
                method,
                path,
                expect=status,
                headers=headers,
                body=body,
            )

    async def credentials_refused(
        self, label: str, method: str, path: str, body: object = None
    ) -> None:
        """An admin endpoint without a session (401) and with a content key (403)."""
        await self.c.call(
            f"{label} without a session", method, path, expect=401, body=body, valid=False
        )
        await self.c.call(
            f"{label} with a content key",
            method,
            path,
            expect=403,
            body=body,
            headers=self.bearer,
            valid=False,
        )

    async def run(self) -> None:
        await self.login()
        await self.api_keys()
        await self.webhooks()
        await self.exports()
        await self.expansions()

    async def login(self) -> None:
        c, emu = self.c, self.emu
        creds = {"email": emu.admin_email, "password": emu.admin_password, "timezone": "UTC"}
        ok = await c.call("login", "POST", "/auth/login", expect=200, body=creds)
        cookie = ok.response.headers.get("Set-Cookie", "")
        assert cookie.startswith("jwt="), f"no jwt cookie set: {cookie!r}"
        self.admin = {"Cookie": cookie.split(";", 1)[0]}
        await c.call(
            "login, wrong password",
            "POST",
            "/auth/login",
            expect=401,
            body={**creds, "password": "wrong"},
        )
        await c.call(
            "login without a password",
            "POST",
            "/auth/login",
            expect=400,
            body={"email": emu.admin_email},
            valid=False,
        )
        await self.injected("login", "POST", "/auth/login", "/auth/login", headers={}, body=creds)

    async def api_keys(self) -> None:
        c, org = self.c, self.org
        keys = f"{org}/api-keys"
        keys_template = "/v1/content/organizations/{organizationId}/api-keys"
        created = await c.call(
            "create key",
            "POST",
            keys,
            expect=201,
            headers=self.admin,
            body={"name": "conformance", "rateLimitPerMinute": 1000},
        )
        self.bearer = {"Authorization": f"Bearer {created.json()['apiKey']}"}
        legacy = {"Cookie": self.admin["Cookie"].replace("jwt=", "tutorflow_admin_session=", 1)}
        tiny = await c.call(
            "create key with the legacy cookie name",
            "POST",
            keys,
            expect=201,
            headers=legacy,
            body={"name": "tiny", "rateLimitPerMinute": 1},
        )
        self.tiny = {"Authorization": f"Bearer {tiny.json()['apiKey']}"}
        doomed = (
            await c.call(
                "create key, default rate",
                "POST",
                keys,
                expect=201,
                headers=self.admin,
                body={"name": "doomed"},
            )
        ).json()["keyId"]
        rotor = (
            await c.call(
                "create key to rotate",
                "POST",
                keys,
                expect=201,
                headers=self.admin,
                body={"name": "rotor"},
            )
        ).json()["keyId"]
        await c.call(
            "create key, blank name",
            "POST",
            keys,
            expect=400,
            headers=self.admin,
            body={"name": "  "},
            valid=False,
        )
        await c.call(
            "create key, rate not an integer",
            "POST",
            keys,
            expect=400,
            headers=self.admin,
            body={"name": "x", "rateLimitPerMinute": "fast"},
            valid=False,
        )
        await self.credentials_refused("create key", "POST", keys, {"name": "x"})
        await c.call(
            "create key in another organization",
            "POST",
            "/v1/content/organizations/org_other/api-keys",
            expect=403,
            headers=self.admin,
            body={"name": "x"},
        )
        await self.injected(
            "create key", "POST", keys_template, keys, headers=self.admin, body={"name": "x"}
        )

        await c.call("list keys", "GET", keys, expect=200, headers=self.admin)
        await self.credentials_refused("list keys", "GET", keys)
        await self.injected("list keys", "GET", keys_template, keys, headers=self.admin)

        revoke_template = keys_template + "/{keyId}/revoke"
        await c.call(
            "revoke key", "POST", f"{keys}/{doomed}/revoke", expect=200, headers=self.admin
        )
        await c.call(
            "revoke key again", "POST", f"{keys}/{doomed}/revoke", expect=200, headers=self.admin
        )
        await c.call("list keys with a revoked one", "GET", keys, expect=200, headers=self.admin)
        await c.call(
            "revoke unknown key",
            "POST",
            f"{keys}/key_unknown/revoke",
            expect=404,
            headers=self.admin,
        )
        await self.credentials_refused("revoke key", "POST", f"{keys}/{rotor}/revoke")
        await self.injected(
            "revoke key", "POST", revoke_template, f"{keys}/{rotor}/revoke", headers=self.admin
        )

        rotate_template = keys_template + "/{keyId}/rotate"
        await c.call("rotate key", "POST", f"{keys}/{rotor}/rotate", expect=200, headers=self.admin)
        await c.call(
            "rotate revoked key", "POST", f"{keys}/{doomed}/rotate", expect=409, headers=self.admin
        )
        await c.call(
            "rotate unknown key",
            "POST",
            f"{keys}/key_unknown/rotate",
            expect=404,
            headers=self.admin,
        )
        await self.credentials_refused("rotate key", "POST", f"{keys}/{rotor}/rotate")
        await self.injected(
            "rotate key", "POST", rotate_template, f"{keys}/{rotor}/rotate", headers=self.admin
        )

    async def webhooks(self) -> None:
        c = self.c
        hooks = f"{self.org}/webhooks"
        template = "/v1/content/organizations/{organizationId}/webhooks"
        both = ["content.completed", "content.failed"]
        created = await c.call(
            "create webhook",
            "POST",
            hooks,
            expect=201,
            headers=self.admin,
            body={"url": self.receiver_url, "events": both},
        )
        self.c.drive.webhook_secret = created.json()["secret"]
        spare = (
            await c.call(
                "create webhook, one event",
                "POST",
                hooks,
                expect=201,
                headers=self.admin,
                body={"url": self.receiver_url + "/spare", "events": ["content.completed"]},
            )
        ).json()["id"]
        await c.call(
            "create webhook, not an http URL",
            "POST",
            hooks,
            expect=400,
            headers=self.admin,
            body={"url": "ftp://example.com/hook", "events": both},
            valid=False,
        )
        await c.call(
            "create webhook, unknown event",
            "POST",
            hooks,
            expect=400,
            headers=self.admin,
            body={"url": self.receiver_url, "events": ["content.started"]},
            valid=False,
        )
        hook_body = {"url": self.receiver_url, "events": both}
        await self.credentials_refused("create webhook", "POST", hooks, hook_body)
        await self.injected(
            "create webhook", "POST", template, hooks, headers=self.admin, body=hook_body
        )

        await c.call("list webhooks", "GET", hooks, expect=200, headers=self.admin)
        await self.credentials_refused("list webhooks", "GET", hooks)
        await self.injected("list webhooks", "GET", template, hooks, headers=self.admin)

        one = f"{hooks}/{spare}"
        await self.credentials_refused("delete webhook", "DELETE", one)
        await self.injected(
            "delete webhook", "DELETE", template + "/{webhookId}", one, headers=self.admin
        )
        await c.call("delete webhook", "DELETE", one, expect=200, headers=self.admin)
        await c.call("delete deleted webhook", "DELETE", one, expect=404, headers=self.admin)

    async def exports(self) -> None:
        c = self.c
        path = "/v1/content/classrooms/class_1/integrations/exports"
        template = "/v1/content/classrooms/{classroomId}/integrations/exports"
        body = {"lessonId": "lesson-1", "idempotencyKey": "export:lesson-1"}
        created = await c.call(
            "create export", "POST", path, expect=201, headers=self.admin, body=body
        )
        self.export_job = created.json()["job"]["id"]
        await c.call(
            "replay export by header key",
            "POST",
            path,
            expect=200,
            headers={**self.admin, "Idempotency-Key": "export:lesson-1"},
            body={"lessonId": "lesson-1"},
        )
        await c.call(
            "export key reused for another lesson",
            "POST",
            path,
            expect=409,
            headers=self.admin,
            body={"lessonId": "lesson-2", "idempotencyKey": "export:lesson-1"},
        )
        await c.call(
            "create export without lessonId",
            "POST",
            path,
            expect=400,
            headers=self.admin,
            body={"idempotencyKey": "k"},
            valid=False,
        )
        await self.credentials_refused("create export", "POST", path, body)
        await self.injected("create export", "POST", template, path, headers=self.admin, body=body)

    async def expansions(self) -> None:
        c, emu = self.c, self.emu
        path = "/v1/content/integrations/expansions"
        key_a = {**self.bearer, "Idempotency-Key": "conformance-a"}
        body_a = {
            "payload": {**SOURCE_JSON, "_emulator": {"processing_seconds": 60}},
            "requestedOutputs": ["expanded_quiz", "interactive_module", "summary_video"],
            "sourceType": "source_json",
        }
        job_a = (
            await c.call("create expansion", "POST", path, expect=200, headers=key_a, body=body_a)
        ).json()["job"]
        assert job_a["status"] == "processing"
        replay = await c.call(
            "replay expansion", "POST", path, expect=200, headers=key_a, body=body_a
        )
        assert replay.json()["job"]["id"] == job_a["id"]
        await c.call(
            "expansion key reused for another payload",
            "POST",
            path,
            expect=409,
            headers=key_a,
            body={**body_a, "payload": FLOCO_JSON},
        )
        queued = (
            await c.call(
                "create expansion, held queued (body key)",
                "POST",
                path,
                expect=200,
                headers=self.bearer,
                body={
                    "payload": {**SOURCE_JSON, "_emulator": {"queued_seconds": 3600}},
                    "idempotencyKey": "conformance-q",
                },
            )
        ).json()["job"]
        assert queued["status"] == "queued"
        failing = (
            await c.call(
                "create expansion that fails",
                "POST",
                path,
                expect=200,
                headers=self.bearer,
                body={
                    "payload": {
                        **SOURCE_JSON,
                        "_emulator": {"fail": True, "processing_seconds": 60},
                    },
                    "requestedOutputs": ["interactive_module", "expanded_quiz"],
                },
            )
        ).json()["job"]
        await c.call(
            "create floco expansion",
            "POST",
            path,
            expect=200,
            headers=self.bearer,
            body={"payload": FLOCO_JSON, "sourceType": "floco"},
        )
        await c.call(
            "create expansion without payload",
            "POST",
            path,
            expect=400,
            headers=self.bearer,
            body={"sourceType": "source_json"},
            valid=False,
        )
        await c.call(
            "create expansion, empty payload",
            "POST",
            path,
            expect=400,
            headers=self.bearer,
            body={"payload": {}},
            valid=False,
        )
        await c.call(
            "create expansion, unknown output",
            "POST",
            path,
            expect=400,
            headers=self.bearer,
            body={"payload": SOURCE_JSON, "requestedOutputs": ["podcast"]},
            valid=False,
        )
        await c.call(
            "create expansion, unknown source type",
            "POST",
            path,
            expect=400,
            headers=self.bearer,
            body={"payload": SOURCE_JSON, "sourceType": "pdf"},
            valid=False,
        )
        await c.call(
            "create expansion without a key", "POST", path, expect=401, body=body_a, valid=False
        )
        await c.call(
            "create expansion with an admin cookie only",
            "POST",
            path,
            expect=401,
            headers=self.admin,
            body=body_a,
            valid=False,
        )
        await c.call(
            "create expansion with a wrong key",
            "POST",
            path,
            expect=401,
            headers={"Authorization": "Bearer tf_content_not-a-real-key"},
            body=body_a,
        )

        one = f"{path}/{job_a['id']}"
        result = f"{one}/result"
        await c.call("get expansion, processing", "GET", one, expect=200, headers=self.bearer)
        await c.call(
            "get expansion, queued",
            "GET",
            f"{path}/{queued['id']}",
            expect=200,
            headers=self.bearer,
        )
        await c.call("get result, processing", "GET", result, expect=200, headers=self.bearer)
        await c.call(
            "get result, queued",
            "GET",
            f"{path}/{queued['id']}/result",
            expect=200,
            headers=self.bearer,
        )
        await c.call(
            "get unknown expansion", "GET", f"{path}/job_unknown", expect=404, headers=self.bearer
        )
        await c.call(
            "get result of unknown job",
            "GET",
            f"{path}/job_unknown/result",
            expect=404,
            headers=self.bearer,
        )
        await c.call("get expansion without a key", "GET", one, expect=401, valid=False)
        await c.call("get result without a key", "GET", result, expect=401, valid=False)
        await c.call(
            "get result of an export",
            "GET",
            f"{path}/{self.export_job}/result",
            expect=200,
            headers=self.bearer,
        )

        # The tiny key (1 request per window): one admitted call, then 429 everywhere.
        await c.call(
            "tiny key, first call", "GET", f"{path}/job_unknown", expect=404, headers=self.tiny
        )
        for label, method, target, body in (
            ("create expansion", "POST", path, body_a),
            ("get expansion", "GET", one, None),
            ("get result", "GET", result, None),
        ):
            limited = await c.call(
                f"{label}, rate limited", method, target, expect=429, headers=self.tiny, body=body
            )
            retry_after = limited.response.headers.get("Retry-After", "")
            assert retry_after.isdigit() and int(retry_after) >= 1, retry_after

        templates = (
            ("create expansion", "POST", path, path, body_a),
            ("get expansion", "GET", path + "/{jobId}", one, None),
            ("get result", "GET", path + "/{jobId}/result", result, None),
        )
        for label, method, template, target, body in templates:
            await self.injected(
                label, method, template, target, headers=self.bearer, body=body, statuses=(500,)
            )

        emu.advance(120)
        failed_one = f"{path}/{failing['id']}"
        await c.call("get expansion, completed", "GET", one, expect=200, headers=self.bearer)
        await c.call("get result, completed", "GET", result, expect=200, headers=self.bearer)
        await c.call("get expansion, failed", "GET", failed_one, expect=200, headers=self.bearer)
        await c.call(
            "get result, failed", "GET", f"{failed_one}/result", expect=200, headers=self.bearer
        )
        self.terminal_jobs = {job_a["id"], failing["id"]}


class Receiver:
    """A local webhook endpoint that keeps every delivery and answers 200."""

    def __init__(self, drive: Drive) -> None:
        self.drive = drive
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.arrived = asyncio.Event()

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/tutorflow/content-webhooks"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def handle(self, request: web.Request) -> web.Response:
        self.drive.deliveries.append(
            Delivery(CIMultiDictProxy(CIMultiDict(request.headers)), await request.read())
        )
        self.arrived.set()
        return web.Response(status=200)

    async def wait_for_jobs(self, job_ids: set[str]) -> None:
        deadline = time.monotonic() + WAIT
        while not job_ids <= self.job_ids():
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no delivery for {job_ids - self.job_ids()} in {WAIT} s"
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                continue

    def job_ids(self) -> set[str]:
        ids: set[str] = set()
        for delivery in self.drive.deliveries:
            value = json.loads(delivery.body).get("jobId")
            if isinstance(value, str):
                ids.add(value)
        return ids


async def drive_tutorflow() -> Drive:
    drive = Drive()
    config = EmulatorConfig(
        queued_seconds=0.0,
        processing_seconds=0.05,
        webhook_retry_delay=0.01,
        tick_interval=0.01,
    )
    async with (
        Receiver(drive) as receiver,
        TutorFlowEmulator(config) as emu,
        aiohttp.ClientSession() as http,
    ):
        driver = TutorFlowDriver(Client(http, emu.base_url, drive), emu, receiver.url)
        await driver.run()
        await receiver.wait_for_jobs(driver.terminal_jobs)
        await emu.drain_webhooks()
        drive.emulator_routes = {
            (route.method, route.template.text) for route in emu._endpoints.routes
        }
    return drive


# ---------------------------------------------------------------- driving Next Tech

COURSE_A: Final = "196e2e6a-ecd2-48c2-ae28-d6e76a7327a8"
COURSE_B: Final = "6e17916f-8a3d-40d6-9a89-2cf6742379d3"


async def drive_nexttech() -> Drive:
    drive = Drive()
    async with (
        NextTechEmulator(NextTechEmulatorConfig(page_size=50, seed=7)) as emu,
        aiohttp.ClientSession() as http,
    ):
        base = 1_600_000_000
        for i in range(6):
            emu.add_content(
                base + i * 3600,
                metadata={"level": "intermediate", "language": "python"},
                course_uid=COURSE_A if i % 2 else COURSE_B,
                remote_user_id="42",
                course_metadata={"course": "Python"},
                gradeable=True,
            )
            emu.add_grade(
                base + i * 3600,
                project_metadata={"level": "intermediate"},
                course_metadata={"course": "Python"},
                course_uid=COURSE_A,
            )
        emu.add_content(base, name="A content", draft=True, position=3)
        emu.add_grade(base + 1, course_name="Plain")

        c = Client(http, emu.base_url.removesuffix("/v1"), drive)
        auth = {"Authorization": emu.authorization}
        filters = [
            ("before", "2030-01-01T00:00:00.000Z"),
            ("after", "2019-10-07T00:00:00.000Z"),
            ("project_metadata[][key]", "level"),
            ("project_metadata[][value]", "intermediate"),
            ("project_metadata[][key]", "language"),
            ("project_metadata[][value]", "python"),
            ("course_metadata[][key]", "course"),
            ("course_metadata[][value]", "Python"),
            ("course_uid[]", COURSE_A),
            ("course_uid[]", COURSE_B),
        ]
        for kind in ("contents", "grades"):
            path = f"/v1/{kind}"
            everything = await c.call(f"list {kind}", "GET", path, expect=200, headers=auth)
            assert len(everything.json()) == 7
            scoped = filters + ([("remote_user_id", "42")] if kind == "contents" else [])
            if kind == "grades":
                scoped = [f for f in scoped if not f[0].startswith("project_metadata")]
                scoped += [
                    ("project_metadata[][key]", "level"),
                    ("project_metadata[][value]", "intermediate"),
                ]
            filtered = await c.call(
                f"list {kind}, every filter", "GET", path, expect=200, headers=auth, query=scoped
            )
            assert filtered.json(), f"the filters of {kind} matched nothing"
            await c.call(
                f"list {kind}, the vendor's unpadded example date",
                "GET",
                path,
                expect=200,
                headers=auth,
                query=[("before", "2020-10-7T23:13:00.000Z")],
            )
            await c.call(
                f"list {kind}, a date that is no instant",
                "GET",
                path,
                expect=400,
                headers=auth,
                query=[("after", "yesterday")],
                valid=False,
            )
            await c.call(
                f"list {kind}, a date without a zone",
                "GET",
                path,
                expect=400,
                headers=auth,
                query=[("before", "2020-10-07T23:13:00")],
                valid=False,
            )
            await c.call(
                f"list {kind}, a metadata key without its value",
                "GET",
                path,
                expect=400,
                headers=auth,
                query=[("project_metadata[][key]", "level")],
            )
            await c.call(
                f"list {kind}, course_uid without brackets",
                "GET",
                path,
                expect=400,
                headers=auth,
                query=[("course_uid", COURSE_A)],
            )
            await c.call(
                f"list {kind}, secret in the query",
                "GET",
                path,
                expect=400,
                headers=auth,
                query=[("secret_key", "oops")],
                valid=False,
            )
            await c.call(f"list {kind} without credentials", "GET", path, expect=401, valid=False)
            await c.call(
                f"list {kind}, wrong credentials",
                "GET",
                path,
                expect=401,
                headers={"Authorization": "Basic d3Jvbmc6d3Jvbmc="},
            )
            for fault in (
                NtFault("status", path=f"/{kind}", status=429, retry_after=2),
                NtFault("status", path=f"/{kind}", status=500),
                NtFault("html", path=f"/{kind}", status=502),
                NtFault("status", path=f"/{kind}", status=503, retry_after=1),
            ):
                emu.add_fault(fault)
                await c.call(
                    f"list {kind} (injected {fault.kind} {fault.resolved_status()})",
                    "GET",
                    path,
                    expect=fault.resolved_status(),
                    headers=auth,
                )
        drive.emulator_routes = {
            (route.method, route.resource.canonical)
            for route in emu._build_app().router.routes()
            if route.method != "HEAD" and route.resource is not None
        }
    return drive


# ---------------------------------------------------------------- the documents


@dataclass
class Document:
    path: Path
    raw: dict[str, Any]
    api: OpenAPI

    @classmethod
    def load(cls, path: Path) -> Document:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(raw, dict)
        return cls(path, raw, OpenAPI.from_file_path(str(path)))

    def operations(self) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """``(method, path, operationId, operation)`` of every path operation."""
        for path, item in self.raw["paths"].items():
            for method in HTTP_METHODS:
                if method in item:
                    operation = item[method]
                    yield method, path, operation["operationId"], operation

    def documented_responses(self) -> set[tuple[str, str]]:
        return {
            (op_id, str(code))
            for _, _, op_id, operation in self.operations()
            for code in operation["responses"]
        }

    def operation_of(self, request: WireRequest) -> tuple[str, dict[str, Any]]:
        found = APICallPathFinder(self.api.spec).find(
            request.method, request.host_url + request.path
        )
        pattern = found.path_result.pattern
        operation = self.raw["paths"][pattern][request.method]
        return operation["operationId"], operation

    def schema_validator(self, name: str) -> OAS31Validator:
        root = {"$ref": f"#/components/schemas/{name}", "components": self.raw["components"]}
        return OAS31Validator(root, format_checker=oas31_format_checker)


def response_key(operation: Mapping[str, Any], status: int) -> str:
    """The key of ``operation``'s responses that ``status`` falls under (as openapi-core)."""
    responses = operation["responses"]
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            return key
    return f"{status} (undocumented)"


@dataclass
class Checked:
    label: str
    operation: str
    response: str
    problems: list[str]


def check(document: Document, drive: Drive) -> list[Checked]:
    """Validate every recorded exchange against the document."""
    results: list[Checked] = []
    for sent in drive.sent:
        problems: list[str] = []
        try:
            op_id, operation = document.operation_of(sent.request)
        except Exception as exc:
            results.append(Checked(sent.label, "?", "?", [f"no operation: {_describe(exc)}"]))
            continue
        request_errors = [_describe(e) for e in document.api.iter_request_errors(sent.request)]
        if sent.valid_request and request_errors:
            problems += [f"request refused by the document: {e}" for e in request_errors]
        if not sent.valid_request and not request_errors:
            problems.append(
                "the document accepts a request sent wrong on purpose "
                f"(the emulator answered {sent.response.status_code})"
            )
        problems += [
            f"response: {_describe(e)}"
            for e in document.api.iter_response_errors(sent.request, sent.response)
        ]
        key = response_key(operation, sent.response.status_code)
        results.append(Checked(sent.label, op_id, key, problems))
    return results


def report(checked: Sequence[Checked]) -> str:
    return "\n\n".join(
        f"[{c.label}] {c.operation} -> {c.response}\n" + "\n".join(c.problems)
        for c in checked
        if c.problems
    )


@pytest.fixture(scope="module")
def tutorflow_doc() -> Document:
    return Document.load(TUTORFLOW_SPEC)


@pytest.fixture(scope="module")
def nexttech_doc() -> Document:
    return Document.load(NEXTTECH_SPEC)


@pytest.fixture(scope="module")
def tutorflow_drive() -> Drive:
    return asyncio.run(drive_tutorflow())


@pytest.fixture(scope="module")
def nexttech_drive() -> Drive:
    return asyncio.run(drive_nexttech())


@pytest.fixture(scope="module")
def tutorflow_checked(tutorflow_doc: Document, tutorflow_drive: Drive) -> list[Checked]:
    return check(tutorflow_doc, tutorflow_drive)


@pytest.fixture(scope="module")
def nexttech_checked(nexttech_doc: Document, nexttech_drive: Drive) -> list[Checked]:
    return check(nexttech_doc, nexttech_drive)


# ---------------------------------------------------------------- tests: the documents


@pytest.mark.parametrize("path", [TUTORFLOW_SPEC, NEXTTECH_SPEC], ids=lambda p: p.stem)
def test_document_is_valid_openapi_3_1(path: Path) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert str(raw["openapi"]).startswith("3.1.")
    validate_spec(raw)
    ids = [op_id for _, _, op_id, _ in Document(path, raw, OpenAPI.from_dict(raw)).operations()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_tutorflow_documents_every_emulator_route(
    tutorflow_doc: Document, tutorflow_drive: Drive
) -> None:
    documented = {(method.upper(), path) for method, path, _, _ in tutorflow_doc.operations()}
    assert documented == tutorflow_drive.emulator_routes


def test_nexttech_documents_every_emulator_route(
    nexttech_doc: Document, nexttech_drive: Drive
) -> None:
    documented = {
        (method.upper(), "/v1" + path) for method, path, _, _ in nexttech_doc.operations()
    }
    assert documented == nexttech_drive.emulator_routes


# ---------------------------------------------------------------- tests: emulators vs documents


def test_tutorflow_emulator_answers_per_document(tutorflow_checked: list[Checked]) -> None:
    assert not report(tutorflow_checked), report(tutorflow_checked)


def test_nexttech_emulator_answers_per_document(nexttech_checked: list[Checked]) -> None:
    assert not report(nexttech_checked), report(nexttech_checked)


def test_tutorflow_webhook_deliveries_per_document(
    tutorflow_doc: Document, tutorflow_drive: Drive
) -> None:
    deliveries = tutorflow_drive.deliveries
    events = {d.headers.get("X-Content-Integration-Event") for d in deliveries}
    assert events == {"content.completed", "content.failed"}
    problems: list[str] = []
    for delivery in deliveries:
        request = WireWebhookRequest(
            name=delivery.headers.get("X-Content-Integration-Event", ""),
            method="post",
            body=delivery.body,
            content_type=_content_type(delivery.headers),
            parameters=RequestParameters(header=delivery.headers),
        )
        problems += [_describe(e) for e in tutorflow_doc.api.iter_request_errors(request)]
        acknowledged = WireResponse(200, "", CIMultiDictProxy(CIMultiDict()), b"")
        problems += [
            _describe(e) for e in tutorflow_doc.api.iter_response_errors(request, acknowledged)
        ]
        expected = hmac.new(
            tutorflow_drive.webhook_secret.encode(), delivery.body, hashlib.sha256
        ).hexdigest()
        signature = delivery.headers.get("X-Content-Integration-Signature", "")
        if not hmac.compare_digest(expected, signature):
            problems.append(f"signature {signature!r} is not the HMAC of the raw body")
        parsed = parse_delivery(delivery.body, event_header=request.name)
        assert parsed.is_terminal
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- tests: coverage


def _exercised(checked: Sequence[Checked]) -> set[tuple[str, str]]:
    return {(c.operation, c.response) for c in checked}


def test_tutorflow_every_operation_exercised(
    tutorflow_doc: Document, tutorflow_checked: list[Checked]
) -> None:
    documented = {op_id for _, _, op_id, _ in tutorflow_doc.operations()}
    assert documented - {c.operation for c in tutorflow_checked} == set()


def test_nexttech_every_operation_exercised(
    nexttech_doc: Document, nexttech_checked: list[Checked]
) -> None:
    documented = {op_id for _, _, op_id, _ in nexttech_doc.operations()}
    assert documented - {c.operation for c in nexttech_checked} == set()


def test_tutorflow_every_documented_response_exercised(
    tutorflow_doc: Document, tutorflow_checked: list[Checked]
) -> None:
    exercised = _exercised(tutorflow_checked)
    assert sorted(tutorflow_doc.documented_responses() - exercised) == []
    assert sorted(exercised - tutorflow_doc.documented_responses()) == []


def test_nexttech_every_documented_response_exercised(
    nexttech_doc: Document, nexttech_checked: list[Checked]
) -> None:
    exercised = _exercised(nexttech_checked)
    assert sorted(nexttech_doc.documented_responses() - exercised) == []
    assert sorted(exercised - nexttech_doc.documented_responses()) == []


def test_tutorflow_every_webhook_exercised(tutorflow_doc: Document, tutorflow_drive: Drive) -> None:
    names = {d.headers.get("X-Content-Integration-Event") for d in tutorflow_drive.deliveries}
    assert set(tutorflow_doc.raw["webhooks"]) == names


# ---------------------------------------------------------------- tests: SDK requests


@dataclass
class Traced:
    method: str
    url: URL
    headers: CIMultiDict[str]
    body: bytes
    status: int


def tracing(into: list[Traced]) -> aiohttp.TraceConfig:
    """Record every request a session sends: the final headers and the body bytes."""
    trace = aiohttp.TraceConfig()

    async def on_start(
        _: aiohttp.ClientSession, ctx: SimpleNamespace, __: aiohttp.TraceRequestStartParams
    ) -> None:
        ctx.chunks = []

    async def on_chunk(
        _: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestChunkSentParams
    ) -> None:
        ctx.chunks.append(params.chunk)

    async def on_end(
        _: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        into.append(
            Traced(
                params.method,
                params.url,
                CIMultiDict(params.headers),
                b"".join(ctx.chunks),
                params.response.status,
            )
        )

    trace.on_request_start.append(on_start)
    trace.on_request_chunk_sent.append(on_chunk)
    trace.on_request_end.append(on_end)
    return trace


def sdk_request_problems(document: Document, traced: Sequence[Traced]) -> list[str]:
    problems: list[str] = []
    for item in traced:
        request = WireRequest(
            host_url=str(item.url.origin()),
            path=item.url.path,
            method=item.method.lower(),
            body=item.body or None,
            content_type=_content_type(item.headers),
            parameters=RequestParameters(
                query=MultiDictProxy(item.url.query),
                header=CIMultiDictProxy(item.headers),
                cookie=_cookies(item.headers.get("Cookie")),
            ),
        )
        problems += [
            f"{item.method} {item.url.path_qs} -> {item.status}: {_describe(e)}"
            for e in document.api.iter_request_errors(request)
        ]
    return problems


async def test_tutorflow_sdk_requests_per_document(tutorflow_doc: Document) -> None:
    """Every call of the SDK sends what the document describes (the SDK side of drift)."""
    traced: list[Traced] = []
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.05)
    async with (
        TutorFlowEmulator(config) as emu,
        aiohttp.ClientSession(trace_configs=[tracing(traced)]) as http,
    ):
        async with tf.AdminSession.login(
            emu.admin_email, emu.admin_password, base_url=emu.base_url, config=FAST, session=http
        ) as admin:
            key = await admin.api_keys.create("sdk", rate_limit_per_minute=1000)
            spare = await admin.api_keys.create("spare")
            await admin.api_keys.list()
            await admin.api_keys.rotate(spare.key_id)
            await admin.api_keys.revoke(spare.key_id)
            hook = await admin.webhooks.create("http://127.0.0.1:9/hook")
            await admin.webhooks.list()
            await admin.webhooks.delete(hook.id)
            await admin.exports.create("class_1", lesson_id="lesson-1")
        async with tf.ContentSession(
            key.api_key.reveal(),
            base_url=emu.base_url,
            config=FAST,
            session=http,
            poll_interval=0.01,
            max_interval=0.05,
        ) as content:
            job = await content.expansions.create(
                SOURCE_JSON, requested_outputs=["summary_video"], idempotency_key="sdk-1"
            )
            await content.expansions.create(FLOCO_JSON, source_type="floco")
            await content.expansions.get(job.id)
            await content.wait_for_expansion(job.id, timeout=WAIT)
            await content.expansions.result(job.id)
    operations = {
        tutorflow_doc.operation_of(
            WireRequest(
                str(t.url.origin()), t.url.path, t.method.lower(), None, "", RequestParameters()
            )
        )[0]
        for t in traced
    }
    assert operations == {op_id for _, _, op_id, _ in tutorflow_doc.operations()}
    assert sdk_request_problems(tutorflow_doc, traced) == []


async def test_nexttech_sdk_requests_per_document(nexttech_doc: Document) -> None:
    traced: list[Traced] = []
    async with (
        NextTechEmulator(NextTechEmulatorConfig(page_size=2)) as emu,
        aiohttp.ClientSession(trace_configs=[tracing(traced)]) as http,
    ):
        for i in range(5):
            emu.add_content(1_600_000_000 + i, metadata={"level": "intro"}, course_uid=COURSE_A)
            emu.add_grade(1_600_000_000 + i, project_metadata={"level": "intro"})
        async with nt.NextTechSession(
            emu.api_token, emu.secret_key, base_url=emu.base_url, config=FAST, session=http
        ) as session:
            await session.contents.list(
                before=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
                after="2019-10-07T00:00:00+02:00",
                remote_user_id="42",
                project_metadata={"level": "intro", "language": "python"},
                course_metadata=[("course", "Python")],
                course_uid=[COURSE_A, COURSE_B],
            )
            assert len([c async for c in session.contents.iterate()]) == 5
            assert (
                len([g async for g in session.grades.iterate(project_metadata={"level": "intro"})])
                == 5
            )
    assert {t.url.path for t in traced} == {"/v1/contents", "/v1/grades"}
    assert sdk_request_problems(nexttech_doc, traced) == []


# ---------------------------------------------------------------- tests: tolerance and drift

WRAPPED_JOB: Final[dict[str, Any]] = {
    "job": {"id": "job_1", "sourceType": "source_json", "status": "queued"},
    "outputs": [{"outputType": "interactive_module", "resourceType": "module", "resourceId": None}],
}
COMPLETED_RESULT: Final[dict[str, Any]] = {
    "job": {"id": "job-id", "sourceType": "floco", "status": "completed"},
    "outputs": [
        {
            "outputType": "interactive_module",
            "resourceType": "module",
            "resourceId": "module-id",
            "manifest": {
                "title": "A1 glossary module",
                "urls": {"publicUrl": "https://tutorflow.io/share/module/share-token"},
            },
        }
    ],
    "manifest": {"title": "A1 glossary", "outputs": []},
}
ISSUED_KEY: Final[dict[str, Any]] = {
    "apiKey": "tf_content_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "keyId": "0b063e58-7e19-4787-90f0-d081c85f50d3",
    "keyPrefix": "tf_content_abc123def456",
    "name": "external-content-test",
    "rateLimitPerMinute": 60,
}
LISTED_KEY: Final[dict[str, Any]] = {
    "id": "0b063e58-7e19-4787-90f0-d081c85f50d3",
    "name": "external-content-test",
    "keyPrefix": "tf_content_abc123def456",
    "status": "ACTIVE",
    "organizationId": "org_1",
    "rateLimitPerMinute": 60,
    "lastUsedAt": None,
    "expiresAt": None,
}
CONTENT: Final[dict[str, Any]] = {
    "created_at": 1567018961,
    "updated_at": 1567018964,
    "id": 5,
    "draft": True,
    "identifier": "44395d56-76dd-4c60-a6bc-8e9699fb8e3f",
    "editor_owned": True,
    "gradeable": False,
    "lti_url": "https://api.next.tech/api/v1/lti/load?content_id=44395d56",
    "name": "A content",
    "position": None,
    "public_url": "https://api.next.tech/api/v1/publishable_key/9D2E?content_id=44395d56",
    "metadata": [
        {
            "created_at": 1594319234,
            "updated_at": 1594319234,
            "id": 1,
            "key": "Course Name",
            "value": "Introduction to Python",
        }
    ],
}


def _sdk_job(document: Mapping[str, Any]) -> object:
    return tf_converter.structure(normalize_job(document), ExpansionJob)


def _sdk_result(document: Mapping[str, Any]) -> object:
    return tf_converter.structure(normalize_result(document), ExpansionResult)


def _sdk_issued(document: Mapping[str, Any]) -> object:
    return tf_converter.structure(normalize_key(document), CreatedApiKey)


def _sdk_listed(document: Mapping[str, Any]) -> object:
    return tf_converter.structure(normalize_key(document), ApiKey)


# (document, schema, example, how the SDK reads it)
TOLERATED: Final = [
    pytest.param("tutorflow", "ExpansionStatus", WRAPPED_JOB, _sdk_job, id="status-wrapped"),
    pytest.param(
        "tutorflow",
        "ExpansionStatus",
        {"job": {"jobId": "job_1", "sourceType": "source_json", "status": "queued"}, "outputs": []},
        _sdk_job,
        id="status-wrapped-jobId",
    ),
    pytest.param(
        "tutorflow",
        "ExpansionStatus",
        {"id": "job_1", "job": {"sourceType": "source_json", "status": "queued"}, "outputs": []},
        _sdk_job,
        id="status-wrapped-id-beside-job",
    ),
    pytest.param(
        "tutorflow",
        "ExpansionStatus",
        {"id": "job_1", "sourceType": "floco", "status": "processing", "unknown": [1, 2]},
        _sdk_job,
        id="status-flat-id",
    ),
    pytest.param(
        "tutorflow",
        "ExpansionStatus",
        {
            "jobId": "job_1",
            "sourceType": "floco",
            "status": "failed",
            "error": {"code": "x", "message": "y"},
            "outputs": WRAPPED_JOB["outputs"],
        },
        _sdk_job,
        id="status-flat-jobId",
    ),
    pytest.param(
        "tutorflow", "ExpansionResult", COMPLETED_RESULT, _sdk_result, id="result-vendor-example"
    ),
    pytest.param(
        "tutorflow",
        "ExpansionResult",
        {"jobId": "job_1", "sourceType": "source_json", "status": "completed"},
        _sdk_result,
        id="result-flat",
    ),
    pytest.param("tutorflow", "IssuedApiKey", ISSUED_KEY, _sdk_issued, id="key-created-keyId"),
    pytest.param(
        "tutorflow",
        "IssuedApiKey",
        {k: v for k, v in ISSUED_KEY.items() if k != "keyId"} | {"id": "k1"},
        _sdk_issued,
        id="key-created-id",
    ),
    pytest.param("tutorflow", "ApiKeyMetadata", LISTED_KEY, _sdk_listed, id="key-listed-id"),
    pytest.param(
        "tutorflow",
        "ApiKeyMetadata",
        {k: v for k, v in LISTED_KEY.items() if k != "id"} | {"keyId": "k1", "extra": {}},
        _sdk_listed,
        id="key-listed-keyId",
    ),
    pytest.param(
        "nexttech",
        "Content",
        CONTENT,
        lambda d: nt_converter.structure(d, Content),
        id="content-vendor-example",
    ),
    pytest.param(
        "nexttech",
        "Grade",
        {
            "created_at": 1,
            "updated_at": 2,
            "id": 3,
            "course_name": "c",
            "lesson_uid": "u",
            "project_name": "p",
            "project_metadata": [],
            "course_metadata": [],
            "project_share_url": "https://next.tech/p",
            "project_review_url": "https://next.tech/r",
            "score": 0.9,
        },
        lambda d: nt_converter.structure(d, Grade),
        id="grade-with-unknown-field",
    ),
]


@pytest.mark.parametrize(("api", "schema", "example", "sdk_read"), TOLERATED)
def test_tolerated_shape_is_accepted_by_document_and_sdk(
    tutorflow_doc: Document,
    nexttech_doc: Document,
    api: Api,
    schema: str,
    example: dict[str, Any],
    sdk_read: Any,
) -> None:
    document = tutorflow_doc if api == "tutorflow" else nexttech_doc
    errors = [e.message for e in document.schema_validator(schema).iter_errors(example)]
    assert errors == []
    sdk_read(example)


DRIFT: Final = [
    pytest.param(
        "tutorflow",
        "ExpansionStatus",
        {**WRAPPED_JOB, "job": {**WRAPPED_JOB["job"], "status": "done"}},
        id="undocumented-job-status",
    ),
    pytest.param(
        "tutorflow",
        "ExpansionStatus",
        {**WRAPPED_JOB, "job": {"sourceType": "source_json", "status": "queued"}},
        id="job-without-any-id",
    ),
    pytest.param(
        "tutorflow",
        "ExpansionStatus",
        {
            **WRAPPED_JOB,
            "outputs": [{"outputType": "podcast", "resourceType": "x", "resourceId": None}],
        },
        id="undocumented-output-type",
    ),
    pytest.param(
        "tutorflow",
        "ExpansionResult",
        {k: v for k, v in COMPLETED_RESULT.items() if k != "manifest"},
        id="completed-result-without-combined-manifest",
    ),
    pytest.param(
        "tutorflow",
        "ExportResult",
        {**WRAPPED_JOB, "job": {**WRAPPED_JOB["job"], "status": "processing"}},
        id="export-not-completed",
    ),
    pytest.param(
        "tutorflow",
        "ApiKeyMetadata",
        {**LISTED_KEY, "apiKey": "tf_content_leak"},
        id="listed-key-leaks-secret",
    ),
    pytest.param(
        "tutorflow",
        "IssuedApiKey",
        {k: v for k, v in ISSUED_KEY.items() if k != "apiKey"},
        id="created-key-without-secret",
    ),
    pytest.param(
        "tutorflow",
        "WebhookMetadata",
        {
            "id": "w",
            "organizationId": "o",
            "url": "https://x",
            "status": "ACTIVE",
            "events": ["content.completed"],
            "secret": "whsec_leak",
        },
        id="listed-webhook-leaks-secret",
    ),
    pytest.param(
        "tutorflow",
        "NotFoundError",
        {"error": {"code": "content_conflict", "message": "m", "status": 404}},
        id="error-code-not-of-its-status",
    ),
    pytest.param(
        "tutorflow", "InvalidApiKeyError", {"message": "Unauthorized"}, id="error-without-envelope"
    ),
    pytest.param(
        "tutorflow",
        "WebhookPayload",
        {
            "event": "content.completed",
            "job_id": "j",
            "status": "completed",
            "sourceType": "floco",
            "requestedOutputs": [],
            "completedAt": "2026-01-01T00:00:00.000Z",
        },
        id="webhook-payload-renamed-job-id",
    ),
    pytest.param(
        "nexttech",
        "Content",
        {**CONTENT, "created_at": "2019-08-28T19:02:41Z"},
        id="created-at-not-epoch-seconds",
    ),
    pytest.param(
        "nexttech",
        "Content",
        {k: v for k, v in CONTENT.items() if k != "id"},
        id="content-without-id",
    ),
]


@pytest.mark.parametrize(("api", "schema", "example"), DRIFT)
def test_drift_is_rejected_by_document(
    tutorflow_doc: Document,
    nexttech_doc: Document,
    api: Api,
    schema: str,
    example: dict[str, Any],
) -> None:
    document = tutorflow_doc if api == "tutorflow" else nexttech_doc
    assert list(document.schema_validator(schema).iter_errors(example)), "drift accepted"
