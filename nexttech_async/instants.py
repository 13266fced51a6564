"""Epoch milliseconds in the API's ISO 8601 form (pure, and below every other module:
the errors name instants too, so this imports nothing of the SDK)."""

from __future__ import annotations

import datetime as dt
from typing import Final

__all__ = ["EPOCH", "iso_from_ms"]

#: The instant epoch milliseconds count from (1970-01-01T00:00:00Z).
EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def iso_from_ms(ms: int) -> str:
    """``2020-10-07T23:13:00.000Z`` for an epoch-millisecond instant (year zero-padded)."""
    when = EPOCH + dt.timedelta(milliseconds=ms)
    # Not strftime("%Y"): glibc writes year 1 as "1", which is not ISO 8601.
    return f"{when.year:04d}-" + when.strftime("%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
