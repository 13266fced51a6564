"""Redaction scan: every public path, failures included, with known secrets at DEBUG.

Known secrets -- the admin password, the admin JWT, a Content API key (and its rotated
successor), a webhook signing secret, the Next Tech API token and secret key, and the
Basic credentials derived from the last two -- must not appear, whole or as a long piece,
in any log record of ``tutorflow_async``, ``nexttech_async`` or ``edu_async_core`` (all at
DEBUG, and everything else at DEBUG too), in ``repr()``/``str()`` of any returned model,
session, waiter, outcome or error, in ``traceback.format_exception`` of any error, in
``err.support_fields()``, in a wait's continuation token, a walk's resume token or a bulk
run's journal. (The command-line tools' output is scanned by their own tests.)

Also here: a content key cannot reach any admin endpoint (the emulator answers 403, the SDK
raises ``ForbiddenError``) and changes nothing there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import secrets as token_source
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from reliability.figures import FigureBook, Scenario
from webhook_helpers import hooked_receiver

import nexttech_async as nt
import tutorflow_async as tf
from edu_async_core.errors import SDKError
from nexttech_async.testing import Fault as NtFault
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from tutorflow_async.testing import EmulatorConfig, Fault, TutorFlowEmulator
from tutorflow_async.webhooks import WebhookReceiver, compute_signature, verify_signature
from tutorflow_async.webhooks import signature as webhook_signature

QUICK = tf.TransportConfig(
    timeout=0.3,
    retry=tf.RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.02, deadline=5),
)
NT_QUICK = nt.TransportConfig(timeout=QUICK.timeout, retry=QUICK.retry)
LOGGERS = ("tutorflow_async", "nexttech_async", "edu_async_core")
ADMIN_PASSWORD = "pw-" + token_source.token_urlsafe(24)
NT_TOKEN = token_source.token_hex(16)
NT_SECRET = "nts-" + token_source.token_urlsafe(24)


@attrs.define
class Scan:
    """Everything the SDK showed: texts to search, and how many of each kind."""

    secrets: set[str] = attrs.field(factory=set)
    texts: list[str] = attrs.field(factory=list)
    objects: int = 0
    errors: list[BaseException] = attrs.field(factory=list)

    def see(self, *values: object) -> None:
        for value in values:
            self.objects += 1
            self.texts += [repr(value), str(value)]

    def error(self, err: BaseException) -> BaseException:
        self.errors.append(err)
        self.texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
        if isinstance(err, SDKError):
            self.texts += [repr(err.support_fields()), str(err.body_snippet)]
        return err

    async def fails(self, call: Awaitable[Any], cls: type[BaseException]) -> BaseException:
        with pytest.raises(cls) as info:
            await call
        return self.error(info.value)

    def fails_now(self, call: Any, cls: type[BaseException], *args: Any, **kw: Any) -> None:
        with pytest.raises(cls) as info:
            call(*args, **kw)
        self.error(info.value)

    def leaks(self, logs: pytest.LogCaptureFixture) -> list[str]:
        """Every secret found in what was seen or logged (whole, or a long piece of it)."""
        texts = [*self.texts, logs.text]
        for record in logs.records:
            texts += [record.getMessage(), repr(record.args)]
        blob = "\n".join(texts)
        found = []
        for secret in self.secrets:
            # A prefix of a few characters is what we show; most of it, or its tail, is not.
            if secret in blob or secret[:-4] in blob or secret[-12:] in blob:
                found.append(secret[:6] + "…")
        return found


@contextlib.contextmanager
def everything_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(caplog.at_level(logging.DEBUG))
        for name in LOGGERS:
            stack.enter_context(caplog.at_level(logging.DEBUG, logger=name))
        yield caplog


@pytest.fixture
async def tf_emu() -> AsyncIterator[TutorFlowEmulator]:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.1,
                            admin_password=ADMIN_PASSWORD)
    async with TutorFlowEmulator(config) as emu:
        yield emu


@pytest.fixture
async def nt_emu() -> AsyncIterator[NextTechEmulator]:
    config = NextTechEmulatorConfig(page_size=7, api_token=NT_TOKEN, secret_key=NT_SECRET)
    async with NextTechEmulator(config) as emu:
        emu.add_contents([1_700_000_000 + i * 0.3 for i in range(40)],
                         metadata={"level": "intermediate"})
        emu.add_grade(1_700_000_100, project_metadata={"level": "intermediate"})
        yield emu


async def scan_tutorflow(emu: TutorFlowEmulator, scan: Scan, tmp: Path) -> None:
    scan.secrets |= {ADMIN_PASSWORD, emu.admin_jwt}
    base = emu.base_url

    # -- admin: login, keys, webhooks, exports -------------------------------------------
    async with tf.AdminSession.login(emu.admin_email, ADMIN_PASSWORD, base_url=base,
                                     config=QUICK) as admin:
        first = await admin.api_keys.create("scan", rate_limit_per_minute=100_000)
        spare = await admin.api_keys.create("spare", rate_limit_per_minute=10)
        rotated = await admin.api_keys.rotate(first.key_id)
        await admin.api_keys.revoke(spare.key_id)
        scan.secrets |= {first.api_key.reveal(), spare.api_key.reveal(),
                         rotated.api_key.reveal()}
        other = await admin.webhooks.create("https://example.invalid/hook")
        scan.secrets.add(other.secret.reveal())
        scan.see(admin, first, spare, rotated, other, first.api_key, other.secret,
                 await admin.api_keys.list(), await admin.webhooks.list(),
                 await admin.exports.create("class-1", lesson_id="lesson-1"))
        await admin.webhooks.delete(other.id)
        await scan.fails(admin.api_keys.rotate(spare.key_id), tf.ConflictError)  # revoked
        await scan.fails(admin.webhooks.delete("no-such-hook"), tf.NotFoundError)
        await scan.fails(admin.api_keys.create(""), tf.InvalidArgumentError)

        async with hooked_receiver(admin) as (receiver, hook_secret):
            scan.secrets.add(hook_secret)
            key = rotated.api_key
            session = tf.ContentSession(key, base_url=base, config=QUICK,
                                        rate_limit_per_minute=100_000, webhooks=receiver)
            async with session as s:
                await content_paths(emu, s, scan, tmp)
            scan.see(session, receiver, receiver.counters)
            # Deliveries with a bad or missing signature are refused and logged.
            body = b'{"event": "content.completed", "jobId": "job_x", "status": "completed"}'
            for header in ("0" * 64, "", compute_signature(body, "wrong-secret")):
                verdict = receiver.receive(body, {"X-Content-Integration-Signature": header})
                scan.see(verdict)
            assert verify_signature(body, compute_signature(body, hook_secret), hook_secret)
        scan.see(await admin.webhooks.list())

    # -- failures of credentials and transport ---------------------------------------------
    async with tf.ContentSession(first.api_key, base_url=base, config=QUICK) as rotated_away:
        await scan.fails(rotated_away.expansions.get("job_1"), tf.InvalidApiKeyError)  # 401
    async with tf.ContentSession(rotated.api_key, base_url=base, config=QUICK) as s:
        await scan.fails(s.transport.request(
            "GET", f"/v1/content/organizations/{emu.organization_id}/api-keys"),
            tf.ForbiddenError)  # 403
        emu.add_fault(Fault("delay", delay=1.0, times=None))
        await scan.fails(s.expansions.get("job_1"), tf.APITimeoutError)
        emu.clear_faults()
    async with tf.AdminSession(rotated.api_key, organization_id=emu.organization_id,
                               base_url=base, config=QUICK) as wrong:
        await scan.fails(wrong.api_keys.list(), tf.InvalidApiKeyError)  # a key is no cookie
    await scan.fails(tf.AdminSession.login(emu.admin_email, ADMIN_PASSWORD + "x",
                                           base_url=base, config=QUICK), tf.InvalidApiKeyError)
    async with tf.ContentSession(rotated.api_key, base_url="http://127.0.0.1:9",
                                 config=QUICK) as nowhere:
        await scan.fails(nowhere.expansions.get("job_1"), tf.APIConnectionError)
    scan.fails_now(tf.ContentSession, tf.InvalidArgumentError, rotated.api_key,
                   base_url="http://api.tutorflow.io")
    scan.fails_now(tf.AdminSession, tf.InvalidArgumentError, emu.admin_jwt,
                   base_url="http://10.1.2.3")
    scan.fails_now(tf.AdminSession.login, tf.InvalidArgumentError, "", ADMIN_PASSWORD)
    closed = tf.ContentSession(rotated.api_key, base_url=base)
    await closed.close()
    await scan.fails(closed.expansions.get("job_1"), tf.SessionClosedError)
    scan.see(closed)


async def content_paths(
    emu: TutorFlowEmulator, s: tf.ContentSession, scan: Scan, tmp: Path
) -> None:
    payload = {"level": {"id": "scan", "lessons": [{"id": "l1", "type": "review"}]}}
    job = await s.expansions.create(payload, requested_outputs=["interactive_module",
                                                                "expanded_quiz"])
    scan.see(job, await s.expansions.get(job.id),
             await s.wait_for_expansion(job.id, timeout=10, poll_interval=0.05),
             await s.expansions.result(job.id))
    failing = await s.expansions.create({"level": {"id": "f"}, "_emulator": {"fail": True}})
    await scan.fails(s.wait_for_expansion(failing.id, timeout=10, poll_interval=0.05),
                     tf.ExpansionFailed)
    slow = await s.expansions.create({"level": {"id": "slow"},
                                      "_emulator": {"processing_seconds": 60}})
    waiter = s.expansion_waiter(slow.id, timeout=0.2, poll_interval=0.05, max_interval=0.1)
    scan.see(waiter)
    await scan.fails(waiter.result(), tf.ExpansionTimeoutError)
    token = waiter.continuation_token()
    scan.texts.append(token)
    await scan.fails(s.resume_wait(token, poll_interval=0.05).result(),
                     tf.ExpansionTimeoutError)

    journal = tmp / "scan.jsonl"
    inputs: list[Any] = [{"level": {"id": f"bulk-{i}"}} for i in range(6)]
    inputs += [{}, {"level": {"id": "bad"}, "_emulator": {"fail": True}}]
    async for outcome in s.expand_many(inputs, concurrency=4, journal=journal, timeout=10,
                                       poll_interval=0.05, max_interval=0.1,
                                       on_progress=scan.see):
        scan.see(outcome)
        if outcome.error is not None:
            scan.error(outcome.error)
    scan.texts.append(journal.read_text())

    emu.add_fault(Fault("status", status=429, retry_after=0, times=None, method="GET"))
    await scan.fails(s.expansions.get(job.id), tf.RateLimitExceededError)
    emu.clear_faults()
    emu.add_fault(Fault("status", status=500, times=None, method="GET"))
    await scan.fails(s.expansions.result(job.id), tf.InternalServerError)
    emu.clear_faults()
    emu.add_fault(Fault("malformed", times=None, method="GET"))
    await scan.fails(s.expansions.get(job.id), tf.BadResponseError)
    emu.clear_faults()
    emu.add_fault(Fault("html", times=None, method="POST"))
    await scan.fails(s.expansions.create({"level": {"id": "html"}}), tf.InternalServerError)
    emu.clear_faults()
    await scan.fails(s.expansions.get("no-such-job"), tf.NotFoundError)
    await s.expansions.create({"x": 1}, idempotency_key="same-key")
    await scan.fails(s.expansions.create({"x": 2}, idempotency_key="same-key"),
                     tf.ConflictError)  # 409
    await scan.fails(s.expansions.create({}), tf.InvalidArgumentError)
    scan.fails_now(s.expansion_waiter, tf.InvalidArgumentError, "..")


async def scan_nexttech(emu: NextTechEmulator, scan: Scan) -> None:
    basic = base64.b64encode(f"{NT_TOKEN}:{NT_SECRET}".encode()).decode()
    scan.secrets |= {NT_TOKEN, NT_SECRET, basic}
    after = dt.datetime.fromtimestamp(1_699_999_999, dt.UTC)
    async with nt.NextTechSession(NT_TOKEN, NT_SECRET, base_url=emu.base_url,
                                  config=NT_QUICK) as s:
        scan.see(s, await s.contents.list(after=after, course_uid=["c-1"]))
        walk = s.contents.iterate(project_metadata={"level": "intermediate"})
        for _ in range(10):
            scan.see(await anext(walk))
        scan.texts.append(walk.resume_token)
        scan.see(walk, [c async for c in s.contents.iterate(resume=walk.resume_token)])
        sharded = s.contents.iterate(after=after, shards=3)
        scan.see(sharded, [c async for c in sharded], await s.grades.list(),
                 [g async for g in s.grades.iterate(project_metadata={"level": "intermediate"})])
        for fault, cls in (
            (NtFault("status", status=429, retry_after=0, times=None), nt.RateLimitError),
            (NtFault("status", status=500, times=None), nt.ServerError),
            (NtFault("html", times=None), nt.ServerError),
            (NtFault("malformed", times=None), nt.BadResponseError),
            (NtFault("delay", delay=1.0, times=None), nt.APITimeoutError),
            (NtFault("truncated", times=None), nt.APIConnectionError),
        ):
            emu.add_fault(fault)
            await scan.fails(s.contents.list(), cls)
            emu.clear_faults()
        await scan.fails(s.transport.request("GET", "/no-such-list"), nt.NotFoundError)
        await scan.fails(s.contents.list(after=dt.datetime(2026, 1, 1)),
                         nt.InvalidArgumentError)
    async with nt.NextTechSession(NT_TOKEN, NT_SECRET + "x", base_url=emu.base_url,
                                  config=NT_QUICK) as wrong:
        await scan.fails(wrong.contents.list(), nt.AuthenticationError)  # 401
    scan.fails_now(nt.NextTechSession, nt.InvalidArgumentError, NT_TOKEN, NT_SECRET,
                   base_url="http://api.next.tech/v1")
    closed = nt.NextTechSession(NT_TOKEN, NT_SECRET, base_url=emu.base_url)
    await closed.close()
    await scan.fails(closed.contents.list(), nt.SessionClosedError)


async def test_no_secret_in_logs_reprs_errors_tracebacks_or_tokens(
    tf_emu: TutorFlowEmulator, nt_emu: NextTechEmulator, caplog: pytest.LogCaptureFixture,
    tmp_path: Path, figures: FigureBook,
) -> None:
    scan = Scan()
    started = time.monotonic()
    with everything_at_debug(caplog) as logs:
        await scan_tutorflow(tf_emu, scan, tmp_path)
        await scan_nexttech(nt_emu, scan)
        await tf_emu.drain_webhooks()
        await asyncio.sleep(0)
    leaks = scan.leaks(logs)
    kinds = sorted({type(e).__name__ for e in scan.errors})
    figures.record(Scenario(
        name="redaction scan: every public path, DEBUG logs",
        inputs=len(scan.secrets),
        outcomes=scan.objects,
        requests=tf_emu.counters.requests + nt_emu.counters.requests,
        faults=tf_emu.counters.faults_injected + nt_emu.counters.faults_injected,
        leaked=len(leaks),
        wall_s=time.monotonic() - started,
        note=f"{len(scan.secrets)} secrets; {len(logs.records)} log records, {scan.objects} "
             f"objects, {len(scan.errors)} errors of {len(kinds)} kinds scanned",
    ))
    assert leaks == []
    assert len(scan.secrets) == 10
    assert len(logs.records) > 100  # DEBUG really was on
    assert {r.name for r in logs.records} >= {"tutorflow_async", "nexttech_async"}
    for needed in ("InvalidApiKeyError", "ForbiddenError", "NotFoundError", "ConflictError",
                   "RateLimitExceededError", "InternalServerError", "BadResponseError",
                   "APITimeoutError", "APIConnectionError", "InvalidArgumentError",
                   "InsecureTransportError", "ExpansionFailed", "ExpansionTimeoutError",
                   "SessionClosedError", "AuthenticationError", "RateLimitError",
                   "ServerError"):
        assert needed in kinds, needed


def test_the_scan_would_see_a_leak(caplog: pytest.LogCaptureFixture) -> None:
    secret = "tf_content_" + token_source.token_urlsafe(24)
    for name, shown in (("edu_async_core", secret), ("nexttech_async", secret[-12:])):
        scan = Scan(secrets={secret})
        with everything_at_debug(caplog) as logs:
            logging.getLogger(name).debug("sent %s", shown)
        assert scan.leaks(logs) == [secret[:6] + "…"]
        caplog.clear()
    scan = Scan(secrets={secret})
    scan.error(tf.InvalidArgumentError("api_key", f"looks wrong: {secret[:-3]}"))
    assert scan.leaks(caplog) != []


# -- a content key on admin endpoints --------------------------------------------------------

ADMIN_ROUTES = [
    ("POST", "/api-keys", {"name": "x", "rateLimitPerMinute": 60}),
    ("GET", "/api-keys", None),
    ("POST", "/api-keys/{key}/rotate", None),
    ("POST", "/api-keys/{key}/revoke", None),
    ("POST", "/webhooks", {"url": "https://x.invalid/h", "events": ["content.completed"]}),
    ("GET", "/webhooks", None),
    ("DELETE", "/webhooks/{hook}", None),
]


async def test_a_content_key_gets_a_typed_403_on_every_admin_endpoint(
    tf_emu: TutorFlowEmulator,
) -> None:
    issued = tf_emu.create_api_key(name="content-only", rate_limit_per_minute=1000)
    async with tf.AdminSession(tf_emu.admin_jwt, organization_id=tf_emu.organization_id,
                               base_url=tf_emu.base_url) as admin:
        hook = await admin.webhooks.create("https://x.invalid/keep")
        keys_before = [(k.id, k.status, k.key_prefix) for k in await admin.api_keys.list()]
        org = f"/v1/content/organizations/{tf_emu.organization_id}"
        async with tf.ContentSession(issued.api_key, base_url=tf_emu.base_url,
                                     config=QUICK) as s:
            for method, tail, body in ADMIN_ROUTES:
                path = org + tail.format(key=issued.key_id, hook=hook.id)
                with pytest.raises(tf.ForbiddenError) as info:
                    await s.transport.request(method, path, json_body=body)
                err = info.value
                assert (err.status, err.code, err.attempts) == (403, "content_forbidden", 1)
                assert issued.api_key not in str(err)
            with pytest.raises(tf.ForbiddenError):
                await s.transport.request(
                    "POST", "/v1/content/classrooms/class-1/integrations/exports",
                    json_body={"lessonId": "l1"}, idempotency_key="export-1")
            assert (await s.expansions.create({"still": "works"})).id  # the key is fine
        keys_after = [(k.id, k.status, k.key_prefix) for k in await admin.api_keys.list()]
        assert keys_after == keys_before  # nothing created, rotated or revoked
        assert [h.id for h in await admin.webhooks.list()] == [hook.id]


async def test_the_receiver_refuses_an_oversized_body_before_hashing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The HTTP path is covered in tests/tutorflow/test_webhooks.py; this is receive() itself.
    hashed: list[int] = []
    real = compute_signature

    def spy(body: bytes, secret: Any) -> str:
        hashed.append(len(body))
        return real(body, secret)

    monkeypatch.setattr(webhook_signature, "compute_signature", spy)
    async with WebhookReceiver("whsec_" + token_source.token_hex(8), max_body_bytes=100) as r:
        verdict = r.receive(b"{" + b" " * 10_000 + b"}", {"X-Content-Integration-Signature":
                                                          "0" * 64})
    assert verdict.status == 413 and hashed == []
