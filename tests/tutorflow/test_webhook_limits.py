"""The receiver's limits: more than one signature header (400), subscriptions and per-job
memory that do not grow without bound, a read timeout on the body (408), and bounded
on_event concurrency (503 + Retry-After, the refused event not remembered)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import hashlib
import hmac
import json
import logging
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

import tutorflow_async as tf
from tutorflow_async import webhooks
from tutorflow_async.webhooks import WebhookDelivery, WebhookReceiver
from tutorflow_async.webhooks import signature as webhook_signature

SECRET = "whsec_limits-test-secret-0123456789"
SIG = "X-Content-Integration-Signature"
EVT = "X-Content-Integration-Event"


def independent_hmac(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(job_id: str, **extra: Any) -> bytes:
    document = {"event": "content.completed", "jobId": job_id, "status": "completed", **extra}
    return json.dumps(document).encode()


def signed(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        EVT: "content.completed",
        SIG: independent_hmac(body),
    }


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# ---------------------------------------------------------------- two signature headers (400)


@pytest.mark.parametrize("valid_first", [True, False], ids=["valid-first", "valid-second"])
async def test_two_signature_headers_are_refused_over_http(
    http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch, valid_first: bool
) -> None:
    hashed: list[bytes] = []
    real = webhooks.compute_signature

    def spy(raw_body: bytes, secret: str | tf.Secret) -> str:
        hashed.append(raw_body)
        return real(raw_body, secret)

    monkeypatch.setattr(webhook_signature, "compute_signature", spy)
    body = event_body("job_two_sigs")
    valid, invalid = independent_hmac(body), independent_hmac(body, "whsec_someone_else")
    order = [valid, invalid] if valid_first else [invalid, valid]
    headers = [("Content-Type", "application/json"), (EVT, "content.completed")]
    headers += [(SIG, value) for value in order]
    async with WebhookReceiver(SECRET) as receiver, receiver.serve() as url:
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 400
            assert await response.json() == {"error": "more than one signature header"}
        # Two copies of the same valid value are just as ambiguous.
        async with http.post(url, data=body, headers=[(SIG, valid), (SIG, valid)]) as response:
            assert response.status == 400
        # One header: accepted.
        async with http.post(url, data=body, headers=signed(body)) as response:
            assert response.status == 200
    assert hashed == [body]  # refused before any HMAC was computed
    c = receiver.counters
    assert (c.rejected_signature, c.accepted) == (2, 1)


@pytest.mark.parametrize("valid_first", [True, False], ids=["valid-first", "valid-second"])
def test_two_signature_headers_differing_in_case_are_refused(valid_first: bool) -> None:
    receiver = WebhookReceiver(SECRET)
    body = event_body("job_two_sigs")
    valid, invalid = independent_hmac(body), "00" * 32
    first, second = (valid, invalid) if valid_first else (invalid, valid)
    verdict = receiver.receive(body, {SIG: first, SIG.lower(): second})
    assert (verdict.status, dict(verdict.body)) == (
        400,
        {"error": "more than one signature header"},
    )
    assert verdict.delivery is None
    assert receiver.counters.rejected_signature == 1


# ---------------------------------------------------------------- subscriptions and memory


async def test_cancel_and_unsubscribe_remove_subscriptions() -> None:
    async with WebhookReceiver(SECRET) as receiver:
        a, b = receiver.subscribe("job_s"), receiver.subscribe("job_s")
        other = receiver.subscribe("job_t")
        assert receiver.subscriptions == 3
        a.cancel()
        assert receiver.subscriptions == 2  # stops counting at once
        await asyncio.sleep(0)
        assert set(receiver._subscribers) == {"job_s", "job_t"}  # b still waits on job_s

        assert receiver.unsubscribe("job_s", b) is True
        assert b.cancelled()
        assert set(receiver._subscribers) == {"job_t"}  # gone with its last subscriber
        assert receiver.unsubscribe("job_s", b) is False
        assert receiver.unsubscribe("job_t", b) is False  # not this job's future
        foreign: asyncio.Future[WebhookDelivery] = asyncio.get_running_loop().create_future()
        assert receiver.unsubscribe("job_t", foreign) is False
        assert not foreign.cancelled()

        body = event_body("job_t")
        receiver.receive(body, signed(body))
        assert other.done() and receiver.subscriptions == 0
        await asyncio.sleep(0)
        assert receiver._subscribers == {}
        assert receiver.unsubscribe("job_t", other) is False  # resolved: nothing to remove


def _cycle(receiver: WebhookReceiver, i: int, how: str) -> None:
    job_id = "job_same" if i % 2 else f"job_{i}"
    future = receiver.subscribe(job_id)
    if how == "cancel":
        future.cancel()
    else:
        assert receiver.unsubscribe(job_id, future)


@pytest.mark.parametrize("how", ["cancel", "unsubscribe"])
async def test_ten_thousand_subscribe_then_cancel_cycles_leave_nothing(how: str) -> None:
    async with WebhookReceiver(SECRET) as receiver:
        for i in range(1000):  # warm-up: caches, interned strings, the loop's own buffers
            _cycle(receiver, i, how)
            await asyncio.sleep(0)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(10_000):
                _cycle(receiver, i, how)
                await asyncio.sleep(0)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert receiver.subscriptions == 0
        assert receiver._subscribers == {}
    # 10,000 leaked futures would be megabytes; flat is a few kilobytes of noise.
    assert grown < 64 * 1024, grown


async def test_per_job_memory_is_bounded_for_unsubscribed_jobs() -> None:
    async with WebhookReceiver(SECRET, dedupe_size=100, recent_size=50, queue_size=10) as r:
        for i in range(1000):
            for event in ("content.completed", "content.failed"):
                body = json.dumps({"event": event, "jobId": f"job_{i}"}).encode()
                assert r.receive(body, signed(body)).status == 200
        assert len(r._seen) == 100
        assert len(r._recent) == 50
        assert r._queue.qsize() == 10
        assert r._subscribers == {} and r.subscriptions == 0
        # The newest are the ones kept: the latest job's repeat is still a duplicate.
        latest = json.dumps({"event": "content.failed", "jobId": "job_999"}).encode()
        assert r.receive(latest, signed(latest)).duplicate


# ---------------------------------------------------------------- read timeout (408)


async def trickled_post(
    url: str, body: bytes, *, every: float, piece: int = 1, chunked: bool = False
) -> tuple[int, dict[str, str], float]:
    """POST ``body`` over a raw socket, ``piece`` bytes every ``every`` seconds.

    Returns (status, response headers, seconds until the response's head arrived). The
    trickle stops as soon as the response is in.
    """
    target = URL(url)
    assert target.host is not None and target.port is not None
    reader, writer = await asyncio.open_connection(target.host, target.port)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    head = (
        f"POST {target.path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
        f"Content-Type: application/json\r\n{EVT}: content.completed\r\n"
        f"{SIG}: {independent_hmac(body)}\r\n{framing}\r\n\r\n"
    )
    started = time.monotonic()
    writer.write(head.encode())

    async def trickle() -> None:
        for i in range(0, len(body), piece):
            part = body[i : i + piece]
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await writer.drain()
            await asyncio.sleep(every)
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    sender = asyncio.create_task(trickle())
    try:
        raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        elapsed = time.monotonic() - started
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    lines = raw_head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers, elapsed


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_trickled_body_gets_408_within_read_timeout(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, chunked: bool
) -> None:
    read_timeout = 0.3
    body = event_body("job_trickled", padding="x" * 200)
    async with (
        WebhookReceiver(SECRET, read_timeout=read_timeout) as receiver,
        receiver.serve() as url,
    ):
        with caplog.at_level(logging.WARNING, logger="tutorflow_async"):
            # ~250 bytes at 20 bytes/s would take over 12 s to arrive.
            status, headers, elapsed = await trickled_post(url, body, every=0.05, chunked=chunked)
        assert status == 408
        assert headers.get("connection", "").lower() == "close"
        assert read_timeout <= elapsed < read_timeout + 0.7
        assert receiver.counters.rejected_timeout == 1
        assert receiver.counters.received == 1
        assert receiver.counters.accepted == 0

        # The next delivery, sent normally, is accepted at once.
        good = event_body("job_after")
        async with http.post(url, data=good, headers=signed(good)) as response:
            assert response.status == 200
            assert await response.json() == {"received": True, "duplicate": False}
        assert receiver.counters.accepted == 1

    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "408" in r.getMessage()
    ]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "127.0.0.1" in message
    for secret_or_body in (SECRET, independent_hmac(body), "job_trickled", "xxxx"):
        assert secret_or_body not in caplog.text


async def test_slow_body_within_read_timeout_is_accepted() -> None:
    body = event_body("job_slow_but_on_time")
    async with WebhookReceiver(SECRET, read_timeout=2.0) as receiver, receiver.serve() as url:
        # The whole body in about 0.2 s, in ten pieces.
        status, _, elapsed = await trickled_post(url, body, every=0.02, piece=len(body) // 10 + 1)
    assert status == 200
    assert elapsed < 2.0
    assert receiver.counters.accepted == 1
    assert receiver.counters.rejected_timeout == 0


# ---------------------------------------------------------------- bounded callbacks (503)


async def callbacks_finished(receiver: WebhookReceiver) -> None:
    """Wait for the callbacks running now, and for the receiver to have let go of them."""
    await asyncio.gather(*list(receiver._tasks))
    await asyncio.sleep(0)  # their done callbacks
    assert receiver.pending_callbacks == 0


def _callback_tasks() -> int:
    return sum(1 for t in asyncio.all_tasks() if t.get_name().startswith("tutorflow-webhook-"))


async def test_burst_is_bounded_and_every_event_is_delivered_exactly_once(
    http: aiohttp.ClientSession,
) -> None:
    bound, jobs = 50, [f"job_{i:04d}" for i in range(1000)]
    gate = asyncio.Event()
    delivered: collections.Counter[str] = collections.Counter()
    running = peak = peak_tasks = 0

    async def slow(delivery: WebhookDelivery) -> None:
        nonlocal running, peak, peak_tasks
        running += 1
        peak = max(peak, running)
        peak_tasks = max(peak_tasks, _callback_tasks())
        try:
            await gate.wait()
            await asyncio.sleep(0.002)
            delivered[delivery.job_id] += 1
        finally:
            running -= 1

    async def send(job_id: str) -> tuple[str, int, str | None, Any]:
        body = event_body(job_id)
        async with http.post(url, data=body, headers=signed(body)) as response:
            return (
                job_id,
                response.status,
                response.headers.get("Retry-After"),
                await response.json(),
            )

    async with (
        WebhookReceiver(SECRET, on_event=slow, max_pending_callbacks=bound) as receiver,
        receiver.serve() as url,
    ):
        # The burst, every callback held: the first `bound` are accepted, the rest refused.
        answers = await asyncio.gather(*(send(job) for job in jobs))
        accepted = [job for job, status, _, _ in answers if status == 200]
        refused = [(job, after, body) for job, status, after, body in answers if status == 503]
        assert len(accepted) == bound
        assert len(refused) == len(jobs) - bound
        assert {(after, json.dumps(body)) for _, after, body in refused} == {
            ("1", json.dumps({"error": "busy, retry later"}))
        }
        assert receiver.pending_callbacks == bound == _callback_tasks()
        assert receiver.counters.rejected_busy == len(refused)

        # The sender retries what was refused (sooner than Retry-After, to keep the test
        # short) and also repeats a few deliveries that had been accepted.
        gate.set()
        pending = [job for job, _, _ in refused]
        repeats = accepted[:10]
        for _ in range(1000):
            if not pending:
                break
            await asyncio.sleep(0.01)
            answers = await asyncio.gather(*(send(job) for job in pending + repeats))
            for job, status, _, body in answers:
                if job in repeats:
                    assert (status, body) == (200, {"received": True, "duplicate": True})
            repeats = []
            pending = [job for job, status, _, _ in answers if status == 503]
            assert all(status in (200, 503) for _, status, _, _ in answers)
        assert pending == []
        await callbacks_finished(receiver)

    assert peak <= bound and peak_tasks <= bound
    assert set(delivered) == set(jobs)
    assert set(delivered.values()) == {1}  # exactly once each
    c = receiver.counters
    assert (c.accepted, c.duplicates, c.callback_errors) == (len(jobs), 10, 0)
    assert c.received == c.accepted + c.duplicates + c.rejected_busy


async def test_busy_refusal_is_not_remembered_nor_dispatched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = asyncio.Event()
    seen: list[str] = []

    async def held(delivery: WebhookDelivery) -> None:
        await gate.wait()
        seen.append(delivery.job_id)

    async with WebhookReceiver(SECRET, on_event=held, max_pending_callbacks=1) as receiver:
        first, second = event_body("job_first"), event_body("job_second")
        waiting = receiver.subscribe("job_second")
        assert receiver.receive(first, signed(first)).status == 200
        with caplog.at_level(logging.WARNING, logger="tutorflow_async"):
            for _ in range(5):
                verdict = receiver.receive(second, signed(second))
                assert verdict.status == 503
                assert verdict.headers == {"Retry-After": "1"}
                assert verdict.delivery is not None and verdict.delivery.job_id == "job_second"
        # One WARNING for the episode, not one per refusal.
        assert [r.levelno for r in caplog.records].count(logging.WARNING) == 1
        # While busy, a repeat of the accepted event still gets its 200 duplicate.
        assert receiver.receive(first, signed(first)).body["duplicate"] is True
        await asyncio.sleep(0)
        assert not waiting.done()  # a refused event resolves no subscription
        assert receiver.counters.rejected_busy == 5

        gate.set()
        await callbacks_finished(receiver)
        retry = receiver.receive(second, signed(second))
        assert (retry.status, retry.duplicate) == (200, False)
        assert (await asyncio.wait_for(waiting, 1)).job_id == "job_second"
        await callbacks_finished(receiver)
    assert seen == ["job_first", "job_second"]
    assert [d.job_id async for d in receiver] == ["job_first", "job_second"]


async def test_without_on_event_nothing_is_refused_as_busy() -> None:
    async with WebhookReceiver(SECRET, max_pending_callbacks=1) as receiver:
        for i in range(20):
            body = event_body(f"job_{i}")
            assert receiver.receive(body, signed(body)).status == 200
    assert receiver.counters.rejected_busy == 0


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"read_timeout": 0}, "read_timeout"),
        ({"read_timeout": -1.0}, "read_timeout"),
        ({"read_timeout": True}, "read_timeout"),
        ({"read_timeout": "10"}, "read_timeout"),
        ({"read_timeout": float("inf")}, "read_timeout"),
        ({"read_timeout": float("nan")}, "read_timeout"),
        ({"max_pending_callbacks": 0}, "max_pending_callbacks"),
        ({"max_pending_callbacks": 1.5}, "max_pending_callbacks"),
        ({"max_pending_callbacks": True}, "max_pending_callbacks"),
    ],
)
def test_bad_limits_fail_fast(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(tf.InvalidArgumentError, match=argument):
        WebhookReceiver(SECRET, **kwargs)
