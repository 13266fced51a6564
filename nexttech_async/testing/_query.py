"""Parsing of the Next Tech list endpoints' query parameters.

Next Tech documents its filters in a Rails-style bracketed form::

    before=2020-10-07T23:13:00.000Z
    project_metadata[][key]=level&project_metadata[][value]=intermediate
    course_metadata[][key]=course&course_metadata[][value]=Python
    course_uid[]=196e2e6a-...&course_uid[]=6e17916f-...
    remote_user_id=42

Metadata pairs are rebuilt by pairing the n-th ``[key]`` with the n-th ``[value]`` in the
order they appear in the query string; unequal counts are an error.

The emulator is deliberately stricter than a typical server so that SDK bugs surface as a
400 instead of a silently unfiltered answer:

* a scalar parameter (``before``, ``after``, ``remote_user_id``) given twice is refused;
* a parameter that starts with a documented filter's name but is not in its documented
  form (``course_uid=x``, ``project_metadata[0][key]=x``) is refused;
* ``before``/``after`` must be ISO 8601 instants with a zone designator; an offset's
  ``+`` must be percent-encoded (``%2B``), since form decoding turns a bare ``+`` into a
  space and the emulator refuses the result rather than guess.

Other, unknown parameters are ignored, as servers commonly do.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from multidict import MultiMapping

from ._time import parse_iso_millis

__all__ = ["Filters", "MetadataPair", "QueryError", "parse_filters"]

MetadataPair = tuple[str, str]

_PROJECT_KEY = "project_metadata[][key]"
_PROJECT_VALUE = "project_metadata[][value]"
_COURSE_KEY = "course_metadata[][key]"
_COURSE_VALUE = "course_metadata[][value]"
_COURSE_UID = "course_uid[]"

# Prefixes of bracketed filters, each with the exact parameter names it may take.
_BRACKETED = {
    "project_metadata": frozenset({_PROJECT_KEY, _PROJECT_VALUE}),
    "course_metadata": frozenset({_COURSE_KEY, _COURSE_VALUE}),
    "course_uid": frozenset({_COURSE_UID}),
}


class QueryError(ValueError):
    """A query string the emulator refuses; its message becomes the 400 ``detail``."""


@attrs.frozen
class Filters:
    """Every filter a list request can carry, already parsed.

    ``None`` (or an empty tuple for metadata) means "not filtered on".  Times are epoch
    milliseconds; whether each bound is inclusive is a server setting, not part of the
    request, so it is not held here.
    """

    before_ms: int | None = None
    after_ms: int | None = None
    remote_user_id: str | None = None
    course_uids: frozenset[str] | None = None
    project_metadata: tuple[MetadataPair, ...] = ()
    course_metadata: tuple[MetadataPair, ...] = ()


def parse_filters(query: MultiMapping[str]) -> Filters:
    """Parse a request's decoded query parameters into :class:`Filters`.

    Raises:
        QueryError: for a malformed date, unpaired metadata, a repeated scalar or a
            bracketed filter in an undocumented form.
    """
    _refuse_undocumented_forms(query)
    course_uids = query.getall(_COURSE_UID, [])
    if any(not uid for uid in course_uids):
        # The document's items have minLength 1; an empty one is a client bug, not a filter.
        raise QueryError(f"{_COURSE_UID} must not be empty")
    return Filters(
        before_ms=_instant(query, "before"),
        after_ms=_instant(query, "after"),
        remote_user_id=_single(query, "remote_user_id"),
        course_uids=frozenset(course_uids) if course_uids else None,
        project_metadata=_pairs(query, _PROJECT_KEY, _PROJECT_VALUE),
        course_metadata=_pairs(query, _COURSE_KEY, _COURSE_VALUE),
    )


def _refuse_undocumented_forms(names: Iterable[str]) -> None:
    for name in names:
        for prefix, allowed in _BRACKETED.items():
            if name.startswith(prefix) and name not in allowed:
                documented = " / ".join(sorted(allowed))
                raise QueryError(f"unsupported parameter {name!r}; use {documented}")


def _single(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise QueryError(f"{name} given {len(values)} times; give it at most once")
    return values[0] if values else None


def _instant(query: MultiMapping[str], name: str) -> int | None:
    text = _single(query, name)
    if text is None:
        return None
    try:
        return parse_iso_millis(text)
    except ValueError:
        raise QueryError(
            f"{name} must be an ISO 8601 instant such as 2020-10-07T23:13:00.000Z, got {text!r}"
        ) from None


def _pairs(query: MultiMapping[str], key_name: str, value_name: str) -> tuple[MetadataPair, ...]:
    keys = query.getall(key_name, [])
    values = query.getall(value_name, [])
    if len(keys) != len(values):
        raise QueryError(
            f"{len(keys)} {key_name} but {len(values)} {value_name}; they must pair up in order"
        )
    return tuple(zip(keys, values, strict=True))
