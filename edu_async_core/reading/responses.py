"""Reading what a server sent back: the response value and the error it means (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .. import defaults
from ..errors import APIError, ErrorFamily, RateLimitError, RequestContext


class Response:
    """A finished 2xx response: status, headers, the raw body, and its request's context."""

    __slots__ = ("_json", "body", "context", "headers", "status")

    def __init__(
        self, status: int, headers: Mapping[str, str], body: bytes, context: RequestContext
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.context = context
        self._json: Any = _UNSET

    def json(self, errors: ErrorFamily) -> Any:
        """The body parsed as JSON; ``None`` for an empty body (some 200s carry none).

        Raises the family's bad-response error when the body is not JSON.
        """
        value = self._json
        if value is _UNSET:
            # The usual body takes one parser call here; what it refuses, the rest below.
            try:
                value = _parse(self.body)
            except (ValueError, RecursionError):  # odd JSON, bad UTF-8, too deeply nested
                value = _parse_refused(self.body, self.status, self.context, errors)
            self._json = value
        return value

    def json_object(self, what: str, errors: ErrorFamily) -> dict[str, Any]:
        """The body as a JSON object (an empty body counts as ``{}``); anything else is
        the family's bad-response error naming ``what`` was expected."""
        value = self._json
        if value is _UNSET:
            value = self.json(errors)
        if type(value) is dict:  # what both parsers give for an object
            return value
        if value is None:
            return {}
        raise errors.bad_response(
            f"expected a JSON object for {what}, got {type(value).__name__}",
            status=self.status,
            context=self.context,
        )

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.context.method} {self.context.path})"


_UNSET: Any = object()
_NO_HEADERS: Mapping[str, str] = {}
_decode = json.JSONDecoder().decode  # json.loads(text) without its argument checks


def _parse_utf8(body: bytes) -> Any:
    # UTF-8 (RFC 8259) decoded directly skips json's encoding sniffing; any other body,
    # empty or not, takes the general path of _parse_refused, which decides as before.
    return _decode(body.decode())


_parse: Callable[[bytes], Any]
"""The first parser a body meets: raises ValueError or RecursionError on what it refuses."""
_parse_next: Callable[[bytes], Any] | None
"""Where the first parser is the fast one, the standard library's UTF-8 step after it."""
try:
    from msgspec.json import Decoder as _Decoder
except ImportError:  # no wheel for this interpreter: the standard library alone
    _parse, _parse_next = _parse_utf8, None
else:
    # Untyped, it parses UTF-8 JSON about twice as fast as ``json`` and gives the same
    # values (integers beyond 64 bits stay exact ints, unlike orjson's floats). What it
    # refuses (NaN, a BOM, lone surrogates, other encodings) goes to ``json``.
    _parse, _parse_next = _Decoder().decode, _parse_utf8


def snippet(body: bytes, limit: int = defaults.ERROR_SNIPPET_CHARS) -> str:
    """The start of a body as text, for an error message, on one line."""
    text = body[: limit * 4].decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decode_json(body: bytes, status: int, context: RequestContext, errors: ErrorFamily) -> Any:
    """``body`` parsed as JSON (``None`` when blank), or the family's bad-response error."""
    return Response(status, _NO_HEADERS, body, context).json(errors)


def _parse_refused(body: bytes, status: int, context: RequestContext, errors: ErrorFamily) -> Any:
    """What the first parser refused: the standard library's reading of it, ``None`` for
    a blank body, or the family's bad-response error."""
    if _parse_next is not None:
        try:
            return _parse_next(body)
        except (ValueError, RecursionError):  # bad UTF-8 or JSON; nesting deeper than Python's
            pass
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise errors.bad_response(
            f"response body is not JSON: {snippet(body)!r}",
            status=status,
            context=context,
            body_snippet=snippet(body),
        ) from None


def error_fields(body: bytes) -> tuple[str | None, str | None]:
    """The (code, message) an error body carries, from any shape we have seen.

    TutorFlow: ``{"error": {"code", "message", "status"}}``; others use a top-level
    ``code``/``message``/``detail``/``error`` string. Anything else gives ``(None, None)``.
    """
    try:
        value = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(value, dict):
        return None, None
    inner = value.get("error")
    source = inner if isinstance(inner, dict) else value
    code = source.get("code")
    message = source.get("message") or source.get("detail")
    if message is None and isinstance(inner, str):
        message = inner
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


def api_error_from_response(
    errors: ErrorFamily,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    context: RequestContext,
    attempts: int,
    retry_after: float | None,
) -> APIError:
    """The typed error for a non-2xx answer; a non-JSON body keeps a short snippet."""
    code, message = error_fields(body)
    text = snippet(body) if body else ""
    if message is None:
        message = f"HTTP {status}" + (f": {text}" if text else "")
    cls = errors.api_error_class(status, code)
    error = cls(
        message,
        status=status,
        code=code,
        context=context,
        body_snippet=text or None,
        attempts=attempts,
    )
    if isinstance(error, RateLimitError):
        error.retry_after = retry_after
    return error
