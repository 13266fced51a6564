"""Credential helpers of the emulator: key secrets, admin session tokens, header parsing.

Pure functions; nothing here touches the network or the emulator's state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets

CONTENT_KEY_LEAD = "tf_content_"
KEY_PREFIX_LENGTH = 15
ADMIN_COOKIE_NAMES = ("jwt", "tutorflow_admin_session")


def new_key_secret() -> str:
    """A fresh content API key secret, ``tf_content_`` followed by random url-safe text."""
    return CONTENT_KEY_LEAD + secrets.token_urlsafe(32)


def key_prefix(secret: str) -> str:
    """The part of a key secret that may be shown and logged."""
    return secret[:KEY_PREFIX_LENGTH]


def hash_secret(secret: str) -> str:
    """The only form in which the emulator stores a key secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AdminTokens:
    """Issues and checks HS256 JWTs standing for an admin session.

    A real JWT rather than an opaque string, so a client that peeks at its claims (or a
    test that tampers with the signature) sees what a real server would hand out.
    """

    def __init__(self) -> None:
        self._signing_key = secrets.token_bytes(32)

    def issue(self, email: str, organization_id: str, issued_at: int) -> str:
        """A signed token for this admin."""
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        claims = {"sub": email, "organizationId": organization_id, "iat": issued_at}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = hmac.new(self._signing_key, signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def verify(self, token: str) -> str | None:
        """The organization id of a valid token, else ``None``."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        header, payload, signature = parts
        expected = hmac.new(
            self._signing_key, f"{header}.{payload}".encode("ascii", "replace"), hashlib.sha256
        ).digest()
        try:
            given = _unb64(signature)
            claims = json.loads(_unb64(payload))
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(expected, given) or not isinstance(claims, dict):
            return None
        org = claims.get("organizationId")
        return org if isinstance(org, str) else None


def parse_cookie_header(header: str | None) -> dict[str, str]:
    """Cookies of a ``Cookie`` request header; malformed pairs are skipped.

    Parsed by hand because ``http.cookies`` drops the whole header on one bad pair, and a
    client under test may send odd cookies next to the session one.
    """
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for pair in header.split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep and name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies.setdefault(name.strip(), value)
    return cookies


def admin_token_from_cookies(cookies: dict[str, str]) -> str | None:
    """The admin session token among the cookies, under either documented name."""
    for name in ADMIN_COOKIE_NAMES:
        token = cookies.get(name)
        if token:
            return token
    return None


def bearer_token(header: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer ...`` header, else ``None``."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None
