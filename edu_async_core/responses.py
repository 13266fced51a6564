"""Moved to :mod:`edu_async_core.reading.responses`; these names stay importable here."""

from __future__ import annotations

from .reading.responses import (
    Response,
    api_error_from_response,
    decode_json,
    error_fields,
    snippet,
)

__all__ = ["Response", "api_error_from_response", "decode_json", "error_fields", "snippet"]
