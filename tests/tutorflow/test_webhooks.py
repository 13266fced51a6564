"""Webhooks: signature checks against an independent HMAC, tolerant payload parsing, the
receiver's verdicts and dispatch, and end-to-end deliveries from the real emulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from fast_settings import FAST
from hypothesis import given, settings
from hypothesis import strategies as st
from webhook_helpers import hooked_receiver

import tutorflow_async as tf
from tutorflow_async import webhooks
from tutorflow_async.testing import EmulatorConfig, IssuedKey, TutorFlowEmulator
from tutorflow_async.webhooks import (
    WebhookDelivery,
    WebhookPayloadError,
    WebhookReceiver,
    parse_delivery,
    verify_signature,
)
from tutorflow_async.webhooks import receiver as webhook_receiver

SECRET = "whsec_test-signing-secret-0123456789"
SIG = "X-Content-Integration-Signature"
EVT = "X-Content-Integration-Event"


def independent_hmac(secret: str, body: bytes) -> str:
    """The signature computed here, from the raw bytes, without the code under test."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(job_id: str = "job_1", event: str = "content.completed", **extra: Any) -> bytes:
    status = "completed" if event == "content.completed" else "failed"
    document = {
        "event": event,
        "jobId": job_id,
        "status": status,
        "sourceType": "source_json",
        "requestedOutputs": ["interactive_module"],
        "completedAt": "2025-01-02T03:04:05.678Z",
        **extra,
    }
    return json.dumps(document).encode()


def signed(body: bytes, secret: str = SECRET, event: str = "content.completed") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        EVT: event,
        SIG: independent_hmac(secret, body),
    }


# ---------------------------------------------------------------- verify_signature


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=2048), secret=st.text(min_size=1, max_size=64))
def test_signature_agrees_with_an_independent_hmac(body: bytes, secret: str) -> None:
    good = independent_hmac(secret, body)
    assert verify_signature(body, good, secret)
    assert verify_signature(body, good, tf.Secret(secret))
    # Any other digest of the right shape fails.
    wrong = independent_hmac(secret + "x", body)
    assert not verify_signature(body, wrong, secret)


@settings(max_examples=40, deadline=None)
@given(body=st.binary(min_size=1, max_size=512), flip=st.integers(min_value=0))
def test_any_tampered_byte_fails(body: bytes, flip: int) -> None:
    signature = independent_hmac(SECRET, body)
    position = flip % len(body)
    tampered = body[:position] + bytes([body[position] ^ 0x01]) + body[position + 1 :]
    assert not verify_signature(tampered, signature, SECRET)


@pytest.mark.parametrize(
    "form",
    [
        lambda d: d,
        lambda d: d.upper(),
        lambda d: f"  {d}\t\n",
        lambda d: f"sha256={d}",
        lambda d: f"SHA256={d.upper()}",
        lambda d: f" sha256={d[:32].upper()}{d[32:]} ",
    ],
    ids=["plain", "upper", "whitespace", "prefix", "prefix-upper", "mixed"],
)
def test_tolerant_header_forms(form: Any) -> None:
    body = event_body()
    assert verify_signature(body, form(independent_hmac(SECRET, body)), SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "sha256=",
        "not-hex-" * 8,
        "ab" * 31,  # too short
        "ab" * 33,  # too long
        "sha1=" + "ab" * 32,
        "\u0661" * 64,  # non-ASCII digits
        "ab" * 16 + " " + "ab" * 16,
    ],
)
def test_malformed_signatures_are_false_not_errors(header: str | None) -> None:
    assert verify_signature(event_body(), header, SECRET) is False


def test_non_string_header_is_false() -> None:
    assert verify_signature(b"{}", b"00" * 32, SECRET) is False  # type: ignore[arg-type]


def test_oversized_body_is_refused_before_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"x" * 101
    signature = independent_hmac(SECRET, body)
    calls: list[object] = []
    real_new = hmac.new

    def counting_new(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real_new(*args, **kwargs)

    monkeypatch.setattr(hmac, "new", counting_new)
    assert not verify_signature(body, signature, SECRET, max_body_bytes=100)
    assert calls == []
    assert verify_signature(body, signature, SECRET, max_body_bytes=101)
    assert len(calls) == 1


def test_default_size_limit_is_one_mebibyte() -> None:
    body = b"x" * (1024 * 1024 + 1)
    assert not verify_signature(body, independent_hmac(SECRET, body), SECRET)


def test_empty_secret_never_verifies() -> None:
    body = b"{}"
    assert not verify_signature(body, independent_hmac("", body), "")


def test_decoded_body_is_a_programming_error() -> None:
    body = event_body()
    with pytest.raises(TypeError, match="raw bytes"):
        verify_signature(body.decode(), independent_hmac(SECRET, body), SECRET)  # type: ignore[arg-type]


def test_bytearray_and_memoryview_bodies() -> None:
    body = event_body()
    signature = independent_hmac(SECRET, body)
    assert verify_signature(bytearray(body), signature, SECRET)  # type: ignore[arg-type]
    assert verify_signature(memoryview(body), signature, SECRET)  # type: ignore[arg-type]


def test_reserialised_json_does_not_verify() -> None:
    # The classic receiver bug: parse, dump again, verify. Bytes differ, so it must fail.
    body = b'{"event": "content.completed",  "jobId": "j"}'
    reserialised = json.dumps(json.loads(body)).encode()
    assert not verify_signature(reserialised, independent_hmac(SECRET, body), SECRET)


# ---------------------------------------------------------------- parse_delivery


def test_parse_the_emulator_shape() -> None:
    delivery = parse_delivery(event_body("job_9", extra_field={"kept": True}))
    assert delivery == WebhookDelivery(
        event="content.completed",
        job_id="job_9",
        status="completed",
        source_type="source_json",
        requested_outputs=("interactive_module",),
        completed_at=dt.datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
    )
    assert delivery.completed_at is not None and delivery.completed_at.tzinfo is not None
    assert delivery.raw["extra_field"] == {"kept": True}
    assert delivery.is_terminal and delivery.is_completed and not delivery.is_failed
    assert delivery.key == ("job_9", "content.completed", "completed")


@pytest.mark.parametrize(
    "document",
    [
        {"id": "job_x"},
        {"job_id": "job_x"},
        {"jobId": "job_x", "id": "ignored"},
        {"job": {"id": "job_x", "status": "failed"}},
    ],
)
def test_parse_job_id_variants(document: dict[str, Any]) -> None:
    assert parse_delivery(json.dumps(document).encode()).job_id == "job_x"


def test_parse_integer_job_id_becomes_text() -> None:
    assert parse_delivery({"jobId": 42}).job_id == "42"


def test_event_from_header_when_body_has_none() -> None:
    delivery = parse_delivery(b'{"jobId": "j"}', event_header=" content.failed ")
    assert delivery.event == "content.failed"
    assert delivery.status == "failed"  # read from the event
    assert delivery.is_failed and delivery.is_terminal


def test_signed_body_event_wins_over_header() -> None:
    delivery = parse_delivery(event_body(), event_header="content.failed")
    assert delivery.event == "content.completed"


def test_tolerant_of_odd_fields() -> None:
    delivery = parse_delivery(
        {
            "jobId": "j",
            "status": "COMPLETED",
            "requestedOutputs": ["summary_video", 3, None],
            "completedAt": "not a date",
            "source_type": "floco",
        }
    )
    assert delivery.is_completed
    assert delivery.requested_outputs == ("summary_video",)
    assert delivery.completed_at is None
    assert delivery.raw["completedAt"] == "not a date"
    assert delivery.source_type == "floco"
    assert delivery.event is None


def test_epoch_completion_time() -> None:
    delivery = parse_delivery({"jobId": "j", "completedAt": 0})
    assert delivery.completed_at == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe\xfa", "malformed JSON"),
        (b"[" * 100_000, "malformed JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"event": "content.completed"}', "missing job id"),
        (b'{"jobId": "  "}', "missing job id"),
        (b'{"jobId": true}', "missing job id"),
    ],
)
def test_unusable_payloads(body: bytes, message: str) -> None:
    with pytest.raises(WebhookPayloadError, match=message):
        parse_delivery(body)


# ---------------------------------------------------------------- the receiver, served


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await response.json()


@pytest.fixture
async def served() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    async with WebhookReceiver(SECRET) as receiver, receiver.serve() as url:
        yield receiver, url


async def test_valid_delivery_is_accepted(
    served: tuple[WebhookReceiver, str], http: aiohttp.ClientSession
) -> None:
    receiver, url = served
    body = event_body("job_ok")
    status, answer = await post(http, url, body, signed(body))
    assert (status, answer) == (200, {"received": True, "duplicate": False})
    assert receiver.counters.received == receiver.counters.accepted == 1


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda b, h: (b.replace(b"completed", b"failed!!!"), h), "invalid signature"),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != SIG}), "missing signature"),
        (lambda b, h: (b, {**h, SIG: "  "}), "missing signature"),
        (lambda b, h: (b, {**h, SIG: independent_hmac("whsec_wrong", b)}), "invalid signature"),
        (lambda b, h: (b, {**h, SIG: "zz" * 32}), "invalid signature"),
    ],
    ids=["tampered-body", "no-header", "blank-header", "wrong-secret", "non-hex"],
)
async def test_bad_signatures_get_401(
    served: tuple[WebhookReceiver, str],
    http: aiohttp.ClientSession,
    debug_logs: pytest.LogCaptureFixture,
    mangle: Any,
    error: str,
) -> None:
    receiver, url = served
    body, headers = mangle(event_body(), signed(event_body()))
    status, answer = await post(http, url, body, headers)
    assert (status, answer) == (401, {"error": error})
    assert receiver.counters.rejected_signature == 1
    assert receiver.counters.accepted == 0
    assert "rejected 401" in debug_logs.text
    # Neither the secret nor the signature value is echoed or logged.
    for text in (json.dumps(answer), debug_logs.text):
        assert SECRET not in text
        sent = headers.get(SIG, "").strip()
        if sent:
            assert sent not in text


async def test_oversized_body_gets_413_before_verification(
    http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[bytes] = []
    real_verify = webhooks.verify_signature

    def spy(body: bytes, *args: Any, **kwargs: Any) -> bool:
        checked.append(body)
        return real_verify(body, *args, **kwargs)

    monkeypatch.setattr(webhook_receiver, "verify_signature", spy)
    async with WebhookReceiver(SECRET, max_body_bytes=1000) as receiver, receiver.serve() as url:
        big = event_body(padding="x" * 2000)
        status, answer = await post(http, url, big, signed(big))
        assert (status, answer) == (413, {"error": "body too large"})

        # Chunked: no Content-Length, so the limit is enforced while reading.
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(big), 256):
                yield big[i : i + 256]

        async with http.post(url, data=chunks(), headers=signed(big)) as response:
            assert response.status == 413

        small = event_body()
        assert (await post(http, url, small, signed(small)))[0] == 200
    assert receiver.counters.rejected_body == 2
    assert checked == [small]


async def test_malformed_json_and_missing_job_id_get_400(
    served: tuple[WebhookReceiver, str], http: aiohttp.ClientSession
) -> None:
    receiver, url = served
    for body, error in [(b"{oops", "malformed JSON"), (b'{"status": "x"}', "missing job id")]:
        status, answer = await post(http, url, body, signed(body))
        assert (status, answer) == (400, {"error": error})
    assert receiver.counters.rejected_body == 2
    assert receiver.counters.accepted == 0


async def test_repeated_delivery_is_a_duplicate(http: aiohttp.ClientSession) -> None:
    seen: list[WebhookDelivery] = []
    async with WebhookReceiver(SECRET, on_event=seen.append) as receiver, receiver.serve() as url:
        body = event_body("job_dup")
        first = await post(http, url, body, signed(body))
        second = await post(http, url, body, signed(body))
        # Same job, other status: a new event, not a duplicate.
        failed = event_body("job_dup", event="content.failed")
        third = await post(http, url, failed, signed(failed, event="content.failed"))
    assert first == (200, {"received": True, "duplicate": False})
    assert second == (200, {"received": True, "duplicate": True})
    assert third == (200, {"received": True, "duplicate": False})
    assert [d.status for d in seen] == ["completed", "failed"]
    c = receiver.counters
    assert (c.received, c.accepted, c.duplicates) == (3, 2, 1)


def test_dedupe_memory_is_bounded_lru() -> None:
    receiver = WebhookReceiver(SECRET, dedupe_size=2, queue_size=0)

    def deliver(job: str) -> bool:
        body = event_body(job)
        return receiver.receive(body, signed(body)).duplicate

    assert [deliver("a"), deliver("b"), deliver("a")] == [False, False, True]
    assert deliver("c") is False  # evicts b, the least recently seen
    assert deliver("a") is True
    assert deliver("b") is False


async def test_callback_iterator_and_subscribe_all_receive(
    http: aiohttp.ClientSession,
) -> None:
    sync_seen: list[str] = []
    async_seen: list[str] = []

    async def on_event(delivery: WebhookDelivery) -> None:
        await asyncio.sleep(0)
        async_seen.append(delivery.job_id)

    async with WebhookReceiver(SECRET, on_event=on_event) as receiver, receiver.serve() as url:
        early = receiver.subscribe("job_1")
        for job in ("job_1", "job_2"):
            body = event_body(job)
            assert (await post(http, url, body, signed(body)))[0] == 200
        got = await asyncio.wait_for(early, 1)
        late = receiver.subscribe("job_2")  # after its event: resolved from recent events
        assert late.done()
        iterated = [d.job_id async for d in _take(receiver, 2)]
        assert got.job_id == "job_1" and late.result().job_id == "job_2"
        assert iterated == ["job_1", "job_2"]

    async with WebhookReceiver(SECRET, on_event=lambda d: sync_seen.append(d.job_id)) as r2:
        body = event_body("job_3")
        assert r2.receive(body, signed(body)).status == 200
        await asyncio.sleep(0)
    assert async_seen == ["job_1", "job_2"]
    assert sync_seen == ["job_3"]


async def _take(receiver: WebhookReceiver, count: int) -> AsyncIterator[WebhookDelivery]:
    async for delivery in receiver:
        yield delivery
        count -= 1
        if count == 0:
            return


async def test_slow_callback_does_not_delay_the_answer(http: aiohttp.ClientSession) -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def slow(delivery: WebhookDelivery) -> None:
        await release.wait()
        finished.append(delivery.job_id)

    async with WebhookReceiver(SECRET, on_event=slow) as receiver, receiver.serve() as url:
        body = event_body("job_slow")
        status, _ = await asyncio.wait_for(post(http, url, body, signed(body)), 1)
        assert status == 200
        assert finished == []
        release.set()
    # Leaving serve() let the running callback finish.
    assert finished == ["job_slow"]


async def test_failing_callback_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    def boom(delivery: WebhookDelivery) -> None:
        raise RuntimeError("callback bug")

    async with WebhookReceiver(SECRET, on_event=boom) as receiver:
        body = event_body("job_boom")
        with caplog.at_level(logging.ERROR, logger="tutorflow_async"):
            assert receiver.receive(body, signed(body)).status == 200
            await asyncio.sleep(0.01)
    assert receiver.counters.callback_errors == 1
    assert "job_boom" in caplog.text


async def test_close_cancels_slow_callbacks_after_grace() -> None:
    started = asyncio.Event()

    async def forever(delivery: WebhookDelivery) -> None:
        started.set()
        await asyncio.sleep(3600)

    receiver = WebhookReceiver(SECRET, on_event=forever, callback_grace=0.01)
    body = event_body()
    receiver.receive(body, signed(body))
    await started.wait()
    await asyncio.wait_for(receiver.aclose(), 1)
    assert receiver.closed


async def test_close_ends_iterators_and_subscriptions_and_refuses_deliveries() -> None:
    receiver = WebhookReceiver(SECRET)
    body = event_body("queued_before_close")
    receiver.receive(body, signed(body))
    pending = receiver.subscribe("never")
    await receiver.aclose()
    assert pending.cancelled()
    assert [d.job_id async for d in receiver] == ["queued_before_close"]
    assert [d async for d in receiver.events()] == []  # the end marker stays for everyone
    assert receiver.subscribe("never").cancelled()
    other = event_body("late")
    assert receiver.receive(other, signed(other)).status == 503
    await receiver.aclose()  # idempotent


async def test_cancelled_subscription_is_forgotten() -> None:
    async with WebhookReceiver(SECRET) as receiver:
        future = receiver.subscribe("job_c")
        future.cancel()
        await asyncio.sleep(0)
        assert receiver._subscribers == {}
        body = event_body("job_c")
        assert receiver.receive(body, signed(body)).status == 200


async def test_unread_queue_drops_oldest() -> None:
    receiver = WebhookReceiver(SECRET, queue_size=2)
    for job in ("a", "b", "c"):
        body = event_body(job)
        receiver.receive(body, signed(body))
    await receiver.aclose()
    assert receiver.counters.queue_overflows == 1
    assert [d.job_id async for d in receiver] == ["b", "c"]


def test_several_secrets_for_a_webhook_switch() -> None:
    receiver = WebhookReceiver(["whsec_old_secret_value", tf.Secret("whsec_new_secret_value")])
    for secret in ("whsec_old_secret_value", "whsec_new_secret_value"):
        body = event_body(secret)
        assert receiver.receive(body, signed(body, secret)).status == 200
    body = event_body("x")
    assert receiver.receive(body, signed(body, "whsec_other")).status == 401


def test_headers_from_another_framework_are_case_insensitive() -> None:
    receiver = WebhookReceiver(SECRET, queue_size=0)
    body = b'{"jobId": "j"}'
    headers = {SIG.lower(): independent_hmac(SECRET, body), EVT.upper(): "content.failed"}
    verdict = receiver.receive(body, headers)
    assert verdict.status == 200
    assert verdict.delivery is not None and verdict.delivery.event == "content.failed"


def test_secret_stays_out_of_repr() -> None:
    receiver = WebhookReceiver(SECRET)
    assert SECRET not in repr(receiver)
    assert "whsec_" in repr(receiver)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"secret": ""}, "secret"),
        ({"secret": []}, "secret"),
        ({"secret": 42}, "secret"),
        ({"secret": [SECRET, 1]}, "secret"),
        ({"secret": SECRET, "dedupe_size": -1}, "dedupe_size"),
        ({"secret": SECRET, "queue_size": True}, "queue_size"),
        ({"secret": SECRET, "on_event": "nope"}, "on_event"),
        ({"secret": SECRET, "max_body_bytes": 0}, "max_body_bytes"),
    ],
)
def test_bad_arguments_fail_fast(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(tf.InvalidArgumentError, match=argument):
        WebhookReceiver(**kwargs)


async def test_subscribe_needs_a_job_id() -> None:
    with pytest.raises(tf.InvalidArgumentError, match="job_id"):
        WebhookReceiver(SECRET).subscribe("")


async def test_app_serves_post_only(
    served: tuple[WebhookReceiver, str], http: aiohttp.ClientSession
) -> None:
    _, url = served
    async with http.get(url) as response:
        assert response.status == 405
    with pytest.raises(tf.InvalidArgumentError, match="path"):
        WebhookReceiver(SECRET).app("webhooks")


# ---------------------------------------------------------------- end to end, real emulator


async def _expand(content: tf.ContentSession, name: str, *, fail: bool = False) -> str:
    payload = {"title": name, "_emulator": {"fail": fail}}
    job = await content.expansions.create(payload, idempotency_key=f"webhook-test-{name}")
    return job.id


async def test_emulator_delivery_end_to_end(
    emu: TutorFlowEmulator,
    admin: tf.AdminSession,
    content: tf.ContentSession,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    seen: list[WebhookDelivery] = []
    async with hooked_receiver(admin, on_event=seen.append) as (receiver, secret):
        ok_id = await _expand(content, "ok")
        bad_id = await _expand(content, "bad", fail=True)
        ok_wait, bad_wait = receiver.subscribe(ok_id), receiver.subscribe(bad_id)
        emu.advance(61)
        ok, bad = await asyncio.wait_for(asyncio.gather(ok_wait, bad_wait), 3)
        await emu.drain_webhooks()
        iterated = [d.job_id async for d in _take(receiver, 2)]

    assert ok.event == tf.WebhookEvent.CONTENT_COMPLETED and ok.is_completed
    assert bad.event == tf.WebhookEvent.CONTENT_FAILED and bad.is_failed
    assert ok.source_type == "source_json"
    assert ok.requested_outputs == ("interactive_module",)
    assert ok.completed_at is not None and ok.completed_at.tzinfo is not None
    assert {d.job_id for d in seen} == set(iterated) == {ok_id, bad_id}
    assert receiver.counters.accepted == 2
    assert receiver.counters.rejected_signature == 0
    assert emu.counters.webhook_deliveries == 2
    assert f"job={ok_id!r} verdict=accepted" in debug_logs.text
    assert secret not in debug_logs.text
    assert secret not in repr(receiver)
    # The event names the job the SDK then reads the result of.
    result = await content.expansions.result(ok_id)
    assert result.job.id == ok_id and result.job.is_completed


async def test_emulator_duplicates_are_accepted_once() -> None:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=60.0, webhook_duplicate_rate=1.0)
    async with (
        TutorFlowEmulator(config) as emu,
        tf.AdminSession.login(
            emu.admin_email, emu.admin_password, base_url=emu.base_url, config=FAST
        ) as admin,
        tf.ContentSession(
            emu.create_api_key(rate_limit_per_minute=10_000).api_key,
            base_url=emu.base_url,
            rate_limit_per_minute=10_000,
            config=FAST,
        ) as content,
        hooked_receiver(admin) as (receiver, _),
    ):
        job_ids = [await _expand(content, f"dup-{i}") for i in range(3)]
        waits = [receiver.subscribe(job_id) for job_id in job_ids]
        emu.advance(61)
        await asyncio.wait_for(asyncio.gather(*waits), 3)
        await emu.drain_webhooks()
        accepted = [d.job_id async for d in _take(receiver, 3)]
    assert [d async for d in receiver] == []  # closed, and nothing beyond the three

    assert sorted(accepted) == sorted(job_ids)  # exactly one event per job
    assert emu.counters.webhook_deliveries == 6  # every delivery sent twice, both acked
    c = receiver.counters
    assert (c.accepted, c.duplicates, c.rejected_signature) == (3, 3, 0)


async def test_webhook_ends_wait_for_expansion_without_polling(
    emu: TutorFlowEmulator, admin: tf.AdminSession, key: IssuedKey
) -> None:
    async with (
        hooked_receiver(admin) as (receiver, _),
        tf.ContentSession(
            key.api_key,
            base_url=emu.base_url,
            rate_limit_per_minute=10_000,
            config=FAST,
            webhooks=receiver,
        ) as content,
    ):
        job_id = await _expand(content, "wait")
        wait = asyncio.create_task(content.wait_for_expansion(job_id, timeout=5))
        await asyncio.sleep(0.05)
        emu.advance(61)
        result = await asyncio.wait_for(wait, 3)
        await emu.drain_webhooks()
    assert result.job.is_completed
    assert content.poller.stats.events == 1
    assert content.poller.stats.polls == 0  # the event, not a poll, ended the wait
