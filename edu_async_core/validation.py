"""Checks on the caller's input, made before any request is sent.

Every failure is an :class:`InvalidArgumentError` whose message starts with the name of
the argument at fault.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Iterable, Sequence
from typing import Final, TypeVar
from urllib.parse import quote

import yarl

from .errors import InsecureTransportError, InvalidArgumentError
from .redaction import Secret

T = TypeVar("T")

#: Longest id or query value accepted, in characters once URL-encoded. Both travel in the
#: request line, which servers cap at about 8 KiB (aiohttp and nginx: 8190 bytes); a value
#: this long is a mistake, and refusing it here beats a server's bare 400 or 414.
MAX_URL_VALUE_CHARS: Final = 1024
#: Characters of a caller's value quoted in an error message (the rest is elided).
SHOWN_CHARS: Final = 60


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters (a megabyte of
    input must not make a megabyte of message)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def require_str(value: object, argument: str) -> str:
    """A non-empty, non-blank string."""
    if not isinstance(value, str):
        raise InvalidArgumentError(argument, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidArgumentError(argument, "must not be empty")
    return value


def secret_value(value: object, argument: str, *, blank_ok: bool = False) -> Secret:
    """A credential as a :class:`Secret`: a ``str`` or ``Secret``, not blank.

    The type is checked here so that a wrong one is an error naming the argument rather
    than a bare ``TypeError`` from deep inside (and the value is never quoted).
    """
    if not isinstance(value, str | Secret):
        raise InvalidArgumentError(
            argument, f"expected a string or a Secret, got {type(value).__name__}"
        )
    secret = Secret(value)
    if not blank_ok and not secret.reveal().strip():
        raise InvalidArgumentError(argument, "must not be empty")
    return secret


def url_value(value: object, argument: str, *, safe: str = "") -> str:
    """A non-empty string that fits in a URL: ``value`` URL-encoded (``safe`` kept) is at
    most :data:`MAX_URL_VALUE_CHARS` long. Returns ``value`` itself, not encoded."""
    text = require_str(value, argument)
    encoded = len(quote(text, safe=safe))
    if encoded > MAX_URL_VALUE_CHARS:
        raise InvalidArgumentError(
            argument,
            f"is {encoded} characters once URL-encoded; at most {MAX_URL_VALUE_CHARS} fit",
        )
    return text


# Unreserved characters only (RFC 3986), which ``quote`` leaves as they are.
_PLAIN_SEGMENT = re.compile(rf"[A-Za-z0-9._~-]{{1,{MAX_URL_VALUE_CHARS}}}").fullmatch
_DOT_SEGMENTS: Final = frozenset({".", ".."})


def path_segment(value: object, argument: str) -> str:
    """``value`` quoted as one URL path segment.

    Every reserved character is percent-encoded, so an id like ``../x`` or ``a/b`` stays
    inside its segment; ``.`` and ``..`` alone are refused because URL normalisation
    would turn them into a move to another path. An id longer than
    :data:`MAX_URL_VALUE_CHARS` once encoded is refused (see :func:`url_value`).
    """
    if type(value) is str and _PLAIN_SEGMENT(value) and value not in _DOT_SEGMENTS:
        return value  # the usual id: nothing to quote or refuse, so no more to check
    text = require_str(value, argument)
    if text in _DOT_SEGMENTS:
        raise InvalidArgumentError(argument, f"{text!r} is not a valid id")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise InvalidArgumentError(argument, "must not contain control characters")
    return quote(url_value(text, argument), safe="")


def positive_int(value: object, argument: str) -> int:
    """``value`` itself if it is an int of at least 1 (``bool`` is refused).

    Raises :class:`InvalidArgumentError` naming ``argument`` otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(argument, f"expected an int, got {type(value).__name__}")
    if value < 1:
        raise InvalidArgumentError(argument, f"must be positive, got {value}")
    return value


def positive_number(value: object, argument: str) -> float:
    """``value`` as a float if it is a finite int or float above 0 (``bool`` is refused).

    Raises :class:`InvalidArgumentError` naming ``argument`` for anything else,
    including ``nan`` and infinities.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(argument, f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(argument, f"must be a positive finite number, got {value}")
    return float(value)


def str_list(value: object, argument: str, *, allowed: Iterable[str] | None = None) -> list[str]:
    """A list (or tuple) of non-empty strings, each one of ``allowed`` when given."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidArgumentError(argument, "expected a list of strings")
    items = [require_str(v, f"{argument}[{i}]") for i, v in enumerate(value)]
    if allowed is not None:
        allowed_set = frozenset(allowed)
        unknown = [v for v in items if v not in allowed_set]
        if unknown:
            raise InvalidArgumentError(
                argument,
                f"unknown value(s) {shown(unknown)}; expected any of {sorted(allowed_set)!r}",
            )
    return items


def is_loopback_host(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.", "ip6-localhost"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(value: object, argument: str = "base_url") -> yarl.URL:
    """An absolute http(s) URL; plain http only to this machine (credentials ride on it)."""
    text = require_str(value, argument)
    try:
        url = yarl.URL(text)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(argument, f"not a URL: {exc}") from None
    if url.scheme not in {"http", "https"} or not url.host:
        raise InvalidArgumentError(
            argument, f"expected an absolute http(s) URL, got {shown(text)}"
        )
    if url.query_string or url.fragment:
        raise InvalidArgumentError(argument, "must not carry a query or a fragment")
    if url.user or url.password:
        raise InvalidArgumentError(argument, "must not carry credentials")
    if url.scheme == "http" and not is_loopback_host(url.host):
        raise InsecureTransportError(
            argument,
            f"refusing to send credentials over plain http to {url.host}; use https",
        )
    return url


def from_env(value: T | None, env_name: str, argument: str, *, default: T | None = None) -> T | str:
    """``value``, else the environment variable, else ``default``; a clear error if none."""
    if value is not None:
        return value
    env_value = os.environ.get(env_name)
    if env_value:
        return env_value
    if default is not None:
        return default
    raise InvalidArgumentError(argument, f"not given and ${env_name} is not set")
