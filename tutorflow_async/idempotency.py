"""Idempotency keys: checked when the caller gives one, derived when they do not.

A derived key is a hash of the canonical JSON of everything that defines the job, so the
same input submitted again -- by a retry, a re-run, another process -- names the same job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from . import defaults
from .errors import InvalidArgumentError


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def derive_key(parts: Mapping[str, Any]) -> str:
    """``tfa-`` and 40 hex characters of the SHA-256 of the canonical JSON of ``parts``."""
    digest = hashlib.sha256(canonical_json(parts)).hexdigest()
    return f"{defaults.TUTORFLOW_DERIVED_KEY_PREFIX}{digest[:40]}"


def expansion_key(
    payload: Mapping[str, Any], requested_outputs: Sequence[str], source_type: str
) -> str:
    return derive_key(
        {"payload": payload, "requestedOutputs": list(requested_outputs), "sourceType": source_type}
    )


def check_key(value: object, argument: str = "idempotency_key") -> str:
    """A caller's key: a non-empty header-safe string of printable ASCII."""
    if not isinstance(value, str):
        raise InvalidArgumentError(argument, f"expected a string, got {type(value).__name__}")
    if not value or value != value.strip():
        raise InvalidArgumentError(argument, "must be non-empty with no surrounding whitespace")
    if len(value) > defaults.IDEMPOTENCY_KEY_MAX_LENGTH:
        raise InvalidArgumentError(
            argument, f"longer than {defaults.IDEMPOTENCY_KEY_MAX_LENGTH} characters"
        )
    if not all(0x20 <= ord(ch) < 0x7F for ch in value):
        raise InvalidArgumentError(
            argument, "must be printable ASCII (it travels in an HTTP header)"
        )
    return value
