"""Typed models of Next Tech responses (snake_case on the wire and in Python).

``created_at``/``updated_at`` arrive as integer epoch seconds and become aware UTC
datetimes. Every model keeps the mapping it was read from in ``raw``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from edu_async_core.reading import make_converter, snake_case


def _raw() -> Any:
    # The mapping a model was read from: kept, but out of repr and equality.
    return attrs.field(factory=dict, repr=False, eq=False)


# weakref_slot=False on every model read from an answer: without a __weakref__ slot,
# Python 3.11 too lets the generated reader fill a mutable twin and then make it this
# class (edu_async_core/reading/generated.py), about a third cheaper than storing each
# field through its slot. The SDK keeps no weak references to these values.


@attrs.frozen(weakref_slot=False)
class MetadataEntry:
    """A ``{key, value}`` pair attached to a content."""

    key: str
    value: Any = None
    id: int | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(weakref_slot=False)
class Content:
    """A content of the account (a project of a course or of a remote editor)."""

    id: int
    created_at: dt.datetime
    updated_at: dt.datetime | None = None
    identifier: str | None = None
    name: str | None = None
    draft: bool | None = None
    editor_owned: bool | None = None
    gradeable: bool | None = None
    lti_url: str | None = None
    public_url: str | None = None
    position: int | None = None
    metadata: tuple[MetadataEntry, ...] = ()
    raw: Mapping[str, Any] = _raw()

    def metadata_value(self, key: str) -> Any:
        """The value of the first metadata entry named ``key`` (``None`` if absent)."""
        return next((m.value for m in self.metadata if m.key == key), None)


@attrs.frozen(weakref_slot=False)
class Grade:
    """A grade of a learner on a project."""

    id: int
    created_at: dt.datetime
    updated_at: dt.datetime | None = None
    course_name: str | None = None
    lesson_uid: str | None = None
    project_name: str | None = None
    project_metadata: Any = None
    course_metadata: Any = None
    project_share_url: str | None = None
    project_review_url: str | None = None
    raw: Mapping[str, Any] = _raw()


converter = make_converter(snake_case)
