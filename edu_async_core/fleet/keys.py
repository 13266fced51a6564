"""Names and units a fleet's Redis modules share (pure: no Redis client here)."""

from __future__ import annotations

import math

__all__ = ["milliseconds", "namespace"]


def namespace(prefix: str, cred_id: str) -> str:
    """The start of every Redis key of one credential: a hash, never the secret.

    The braces are a Redis Cluster hash tag, so one key's entries live on one node.
    """
    return f"{prefix}:{{{cred_id[:32]}}}"


def milliseconds(seconds: float) -> int:
    """Whole milliseconds for Redis (at least 1: ``PX 0`` is an error), rounded up."""
    return max(1, math.ceil(seconds * 1000))
