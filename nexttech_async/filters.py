"""The documented filters of ``/contents`` and ``/grades`` and their exact wire form (pure).

``project_metadata={"level": "intermediate"}`` goes out as
``project_metadata[][key]=level&project_metadata[][value]=intermediate``, ``course_uid``
as repeated ``course_uid[]=``, dates as zero-padded ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Final
from urllib.parse import quote

import attrs

from .checks import MAX_URL_VALUE_CHARS, require_str, shown, url_value
from .errors import InvalidArgumentError
from .instants import EPOCH
from .instants import iso_from_ms as iso_from_ms  # still importable from here

Pairs = tuple[tuple[str, str], ...]
MetadataInput = Mapping[str, str] | Sequence[tuple[str, str]] | None
Instant = dt.datetime | str

#: Longest filter part of a query once URL-encoded: the request line must stay under the
#: ~8 KiB servers accept (aiohttp, nginx: 8190 bytes), with room for the path and dates.
MAX_FILTER_QUERY_CHARS: Final = 6144


def instant_ms(value: object, argument: str) -> int:
    """An aware datetime or an ISO 8601 string with a zone, as epoch milliseconds (floored).

    A naive datetime is refused: reading it as local time would silently shift the range.
    """
    if isinstance(value, str):
        text = require_str(value, argument).strip()
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise InvalidArgumentError(
                argument, f"not an ISO 8601 instant: {shown(value)}"
            ) from None
        value = parsed
    if not isinstance(value, dt.datetime):
        raise InvalidArgumentError(
            argument, f"expected an aware datetime or ISO 8601 text, got {type(value).__name__}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgumentError(
            argument, "is a naive datetime; give it a time zone (e.g. tzinfo=datetime.UTC)"
        )
    return (value - EPOCH) // dt.timedelta(milliseconds=1)


def metadata_pairs(value: MetadataInput, argument: str) -> Pairs:
    """A mapping or a list of ``(key, value)`` pairs, order kept, as string pairs."""
    if value is None:
        return ()
    items: Sequence[object]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidArgumentError(argument, "expected a mapping or a list of (key, value) pairs")
    else:
        items = value
    pairs: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InvalidArgumentError(f"{argument}[{i}]", "expected a (key, value) pair")
        key, val = item
        name = url_value(key, f"{argument}[{i}] key", safe=":")
        pairs.append((name, _scalar(val, f"{argument}[{name}]")))
    return tuple(pairs)


def _scalar(value: object, argument: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = str(value)
        encoded = len(quote(text, safe=":"))
        if encoded > MAX_URL_VALUE_CHARS:
            raise InvalidArgumentError(
                argument,
                f"is {encoded} characters once URL-encoded; at most {MAX_URL_VALUE_CHARS} fit",
            )
        return text
    raise InvalidArgumentError(argument, f"expected a string or number, got {type(value).__name__}")


def course_uids(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence):
        raise InvalidArgumentError("course_uid", "expected a list of course API keys")
    return tuple(url_value(v, f"course_uid[{i}]", safe=":") for i, v in enumerate(value))


def _check_query_size(filters: Filters) -> Filters:
    """Refuse filters whose query would not fit in a URL, naming the largest argument."""
    sizes: dict[str, int] = {}
    for key, value in filters.params():
        name = key.split("[", 1)[0]
        size = len(quote(key, safe="[]")) + len(quote(value, safe=":")) + 2
        sizes[name] = sizes.get(name, 0) + size
    total = sum(sizes.values())
    if total > MAX_FILTER_QUERY_CHARS:
        largest = max(sizes, key=sizes.__getitem__)
        raise InvalidArgumentError(
            largest,
            f"the filters make a query of {total} characters once URL-encoded; at most "
            f"{MAX_FILTER_QUERY_CHARS} fit in a URL (split the call into several)",
        )
    return filters


@attrs.frozen
class Filters:
    """Every documented filter but the dates, validated; the same for every page of a walk."""

    remote_user_id: str | None = None
    project_metadata: Pairs = ()
    course_metadata: Pairs = ()
    course_uid: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        remote_user_id: str | None = None,
        project_metadata: MetadataInput = None,
        course_metadata: MetadataInput = None,
        course_uid: Sequence[str] | str | None = None,
    ) -> Filters:
        built = cls(
            remote_user_id=(
                url_value(remote_user_id, "remote_user_id", safe=":")
                if remote_user_id is not None
                else None
            ),
            project_metadata=metadata_pairs(project_metadata, "project_metadata"),
            course_metadata=metadata_pairs(course_metadata, "course_metadata"),
            course_uid=course_uids(course_uid),
        )
        return _check_query_size(built)

    def params(self) -> list[tuple[str, str]]:
        """The filter part of the query string, in the documented form and order."""
        out: list[tuple[str, str]] = []
        if self.remote_user_id is not None:
            out.append(("remote_user_id", self.remote_user_id))
        for name, pairs in (
            ("project_metadata", self.project_metadata),
            ("course_metadata", self.course_metadata),
        ):
            for key, value in pairs:
                out.append((f"{name}[][key]", key))
                out.append((f"{name}[][value]", value))
        out.extend(("course_uid[]", uid) for uid in self.course_uid)
        return out


def date_params(before: str | None, after: str | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if before is not None:
        out.append(("before", before))
    if after is not None:
        out.append(("after", after))
    return out
