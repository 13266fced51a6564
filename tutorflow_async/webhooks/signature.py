"""Webhook signatures: compute and verify the HMAC-SHA256 a TutorFlow delivery carries.

Each delivery carries ``X-Content-Integration-Signature``: the hex HMAC-SHA256 of the
*raw* request body, keyed with the webhook's secret (shown once, at creation).
:func:`verify_signature` checks one in constant time and never raises on a bad header;
:func:`compute_signature` signs a body (for test deliveries).

Signatures are always checked on the bytes as received: re-serialised JSON (parsed, then
dumped again) has different bytes and would never verify.

Pure: no aiohttp, no I/O. The receiver (:mod:`tutorflow_async.webhooks.receiver`) calls
these functions on every delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from edu_async_core.redaction import Secret

from .. import defaults

__all__ = ["compute_signature", "verify_signature"]

# After stripping and lower-casing: exactly one SHA-256 digest in hex.
_HEX_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_SIGNATURE_PREFIX: Final = "sha256="


def _body_bytes(raw_body: object) -> bytes:
    if isinstance(raw_body, bytes):
        return raw_body
    if isinstance(raw_body, bytearray | memoryview):
        return bytes(raw_body)
    # A str here almost always means the body was decoded or re-serialised first, which
    # is the classic way to make every genuine signature fail: say so loudly.
    raise TypeError(
        f"raw_body must be the request's raw bytes, not {type(raw_body).__name__}; "
        "verify before decoding or re-serialising the body"
    )


def _secret_text(secret: object) -> str:
    if isinstance(secret, Secret):
        return secret.reveal()
    if isinstance(secret, str):
        return secret
    raise TypeError(f"secret must be a str or a Secret, not {type(secret).__name__}")


def compute_signature(raw_body: bytes, secret: str | Secret) -> str:
    """The header value a sender puts on ``raw_body``: lower-case hex HMAC-SHA256.

    Useful to sign test deliveries; to check one, use :func:`verify_signature`.
    """
    key = _secret_text(secret).encode("utf-8")
    return hmac.new(key, _body_bytes(raw_body), hashlib.sha256).hexdigest()


def _digest_from_header(signature: object) -> str | None:
    """The 64 lower-case hex digits of a signature header, or ``None`` if it has none.

    Tolerates surrounding whitespace, upper-case hex and a ``sha256=`` prefix (the form
    other senders use), so a proxy or a future format change does not fail every delivery.
    """
    if not isinstance(signature, str):
        return None
    text = signature.strip()
    # Checked before lower(): a non-ASCII character must never lower-case into hex.
    if not text.isascii():
        return None
    text = text.lower()
    if text.startswith(_SIGNATURE_PREFIX):
        text = text[len(_SIGNATURE_PREFIX) :]
    return text if _HEX_SHA256.fullmatch(text) else None


def verify_signature(
    raw_body: bytes,
    signature: str | None,
    secret: str | Secret,
    *,
    max_body_bytes: int = defaults.WEBHOOK_MAX_BODY_BYTES,
) -> bool:
    """Whether ``signature`` is the hex HMAC-SHA256 of ``raw_body`` keyed with ``secret``.

    ``raw_body`` must be the bytes exactly as received. The header may carry surrounding
    whitespace, upper- or lower-case hex and an optional ``sha256=`` prefix. Comparison is
    constant time (:func:`hmac.compare_digest`).

    Returns ``False``, never raises, for anything a sender controls: a missing, empty,
    non-hex or wrong-length signature, or a body over ``max_body_bytes`` (refused before
    hashing, so a huge body costs no CPU). An empty secret also gives ``False``: it would
    let anyone sign. Passing a ``str`` body or a non-string secret is a programming error
    and raises ``TypeError``.
    """
    body = _body_bytes(raw_body)
    key = _secret_text(secret)
    if not key or len(body) > max_body_bytes:
        return False
    given = _digest_from_header(signature)
    if given is None:
        return False
    return hmac.compare_digest(compute_signature(body, key), given)
