"""The receiver's limits: more than one signature header is refused (400)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

import tutorflow_async as tf
from tutorflow_async import webhooks
from tutorflow_async.webhooks import WebhookReceiver

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

    monkeypatch.setattr(webhooks, "compute_signature", spy)
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
