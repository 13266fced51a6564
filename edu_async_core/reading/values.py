"""JSON values as Python ones, the way both SDKs accept them (pure; no cattrs, no attrs).

The converter registers these as its hooks and the generated readers inline the usual
cases of :func:`to_datetime`; both import them from here, so neither imports the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


def camel_case(name: str) -> str:
    """``snake_case`` attribute name as its camelCase wire name (TutorFlow)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake_case(name: str) -> str:
    """The attribute name as its own wire name (Next Tech)."""
    return name


def to_datetime(value: object) -> dt.datetime:
    """ISO 8601 text or epoch seconds as an aware UTC datetime (naive text is read as UTC)."""
    if isinstance(value, bool):
        raise TypeError("expected a timestamp, got a bool")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        tz = parsed.tzinfo
        if tz is None:
            return parsed.replace(tzinfo=dt.UTC)
        # "...Z" already parses as UTC; converting it again would only copy it.
        return parsed if tz is dt.UTC else parsed.astimezone(dt.UTC)
    raise TypeError(f"expected a timestamp, got {type(value).__name__}")


def structure_str(value: object, _: type) -> str:
    # cattrs' default would call str() on anything (a dict would become its repr).
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def structure_int(value: object, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an int, got {type(value).__name__}")


def structure_bool(value: object, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a bool, got {type(value).__name__}")


def structure_any_mapping(value: object, _: type) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")
