"""Checks on the caller's input, made before any request is sent.

Every failure is an :class:`InvalidArgumentError` whose message starts with the name of
the argument at fault.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from urllib.parse import quote

import yarl

from .errors import InsecureTransportError, InvalidArgumentError


def require_str(value: object, argument: str) -> str:
    """A non-empty, non-blank string."""
    if not isinstance(value, str):
        raise InvalidArgumentError(argument, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidArgumentError(argument, "must not be empty")
    return value


def path_segment(value: object, argument: str) -> str:
    """``value`` quoted as one URL path segment.

    Every reserved character is percent-encoded, so an id like ``../x`` or ``a/b`` stays
    inside its segment; ``.`` and ``..`` alone are refused because URL normalisation
    would turn them into a move to another path.
    """
    text = require_str(value, argument)
    if text in {".", ".."}:
        raise InvalidArgumentError(argument, f"{text!r} is not a valid id")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise InvalidArgumentError(argument, "must not contain control characters")
    return quote(text, safe="")


def positive_int(value: object, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(argument, f"expected an int, got {type(value).__name__}")
    if value < 1:
        raise InvalidArgumentError(argument, f"must be positive, got {value}")
    return value


def positive_number(value: object, argument: str) -> float:
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
                f"unknown value(s) {unknown!r}; expected any of {sorted(allowed_set)!r}",
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
        raise InvalidArgumentError(argument, f"expected an absolute http(s) URL, got {text!r}")
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
