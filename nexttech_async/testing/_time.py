"""Time conversions for the Next Tech emulator.

The emulator keeps every created time as an integer count of milliseconds since the Unix
epoch.  This module turns the inputs a test hands over (aware datetimes, epoch seconds) and
the ISO 8601 strings a client sends in ``before``/``after`` into that one representation, so
the store never has to reason about time zones or float error.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

__all__ = [
    "TimeInput",
    "iso_from_millis",
    "parse_iso_millis",
    "seconds_from_millis",
    "to_millis",
    "truncate_to_second",
]

TimeInput = datetime | float | int
"""An instant as a test may give it: an aware datetime or epoch seconds."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

# One- or two-digit month and day are accepted because the vendor's own examples
# ("2020-10-7T23:13:00.000Z") use them; a zone designator is required because an instant
# without one is ambiguous and a client that sends it has a bug worth surfacing.
# ASCII digits only: without re.ASCII, \d also matches other scripts' digits ("٢٠٢٠"), which
# int() reads happily. An offset's colon needs its minutes ("+05:" is not an offset).
# Together with the range checks of datetime() this accepts exactly what the document's
# QueryInstant pattern (openapi/nexttech.yaml) does.
_ISO_INSTANT = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"[Tt](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<off_h>\d{2})(?::?(?P<off_m>\d{2}))?)",
    re.ASCII,
)


def to_millis(value: TimeInput) -> int:
    """Convert an aware datetime or epoch seconds to integer epoch milliseconds.

    Datetimes are floored to the millisecond.  Floats are rounded to the nearest
    millisecond instead, because ``1.005 * 1000`` is ``1004.999…`` in binary floating
    point and flooring would silently lose a millisecond the caller meant to keep.

    Raises:
        ValueError: for a naive datetime or a non-finite number.
        TypeError: for anything else (including ``bool``, which is an ``int`` subclass).
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: give it a time zone")
        return (value - _EPOCH) // _ONE_MS
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected an aware datetime or epoch seconds, got {value!r}")
    if isinstance(value, int):
        return value * 1000
    if not math.isfinite(value):
        raise ValueError(f"epoch seconds must be finite, got {value!r}")
    return round(value * 1000)


def truncate_to_second(millis: int) -> int:
    """Drop the sub-second part of an epoch-milliseconds value (floor, also below 0)."""
    return millis - millis % 1000


def seconds_from_millis(millis: int) -> int:
    """Render epoch milliseconds as the API's integer epoch seconds (floor)."""
    return millis // 1000


def parse_iso_millis(text: str) -> int:
    """Parse an ISO 8601 instant with a zone designator into epoch milliseconds.

    Fractions finer than a millisecond are truncated, matching how the store compares at
    millisecond precision.

    Raises:
        ValueError: when ``text`` is not such an instant (including impossible dates).
    """
    match = _ISO_INSTANT.fullmatch(text)
    if match is None:
        raise ValueError(f"not an ISO 8601 instant with a zone: {text!r}")
    try:
        zone: timezone = UTC
        if match["sign"] is not None:
            off_minutes = int(match["off_m"] or 0)
            if off_minutes >= 60:
                raise ValueError("offset minutes out of range")
            offset = timedelta(hours=int(match["off_h"]), minutes=off_minutes)
            zone = timezone(-offset if match["sign"] == "-" else offset)
        moment = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            tzinfo=zone,
        )
    except ValueError as exc:
        # One message for every refusal, so callers can rely on its wording.
        raise ValueError(f"not an ISO 8601 instant ({exc}): {text!r}") from None
    fraction_ms = int((match["fraction"] or "0").ljust(3, "0")[:3])
    return (moment - _EPOCH) // _ONE_MS + fraction_ms


def iso_from_millis(millis: int) -> str:
    """Format epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the documented form)."""
    moment = _EPOCH + timedelta(milliseconds=millis)
    # Formatted by hand: strftime("%Y") does not zero-pad years below 1000 on glibc.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        f".{millis % 1000:03d}Z"
    )
