"""The emulator's in-memory records and the query logic over them.

Pure and synchronous: no I/O, no aiohttp, so it can be tested and reasoned about on its own.

Each kind (contents, grades) lives in one list kept sorted ascending by
``(created_ms, id)``.  Because ids only grow, appending in insertion order keeps ties
ordered by id, and a ``before``/``after`` window becomes two binary searches; a list
request then reads the window backwards (newest first) and stops after ``limit`` matches,
so a long date-cursor walk over a large store stays cheap.  With ``filter_after_limit`` it
stops after ``limit`` items of the window instead, and drops the hidden and non-matching
ones among them afterwards, so the answer may be short or empty.

Hidden items (drafts, items the caller may not see) are stored like any other but never
answered, neither by a list request nor by a snapshot (``limit=None``).  Whether an item
is hidden is given by the caller, or drawn with ``hidden_fraction`` from a generator of
its own (so hiding never shifts the ids, identifiers and URLs the seed gives), never
more than ``max_hidden_run`` drawn-hidden items in a row per kind, in insertion order.

Metadata filter semantics (the vendor is vague, so this is the emulator's choice):

* contents: an item matches when, for **every** requested pair, it has an entry with that
  key and value (``all``);
* grades: the docs say "one or more matching metadata", so an item matches when **any**
  requested pair is present.

Values are compared as strings, since a query string can carry nothing else. When both
``project_metadata`` and ``course_metadata`` are given, both must hold. It is over 400 lines
because the records and the query over them are one piece: every filter reads the same
records.
"""

from __future__ import annotations

import bisect
import itertools
import random
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, TypeVar, cast

import attrs

from ._query import Filters, MetadataPair
from ._time import seconds_from_millis

__all__ = [
    "Bounds",
    "ItemStore",
    "Kind",
    "MetadataInput",
    "Record",
    "UnknownItemError",
    "clone_json",
    "metadata_pairs",
]

Kind = Literal["contents", "grades"]

_T = TypeVar("_T")

MetadataInput = Mapping[str, object] | Iterable[tuple[str, object]] | Iterable[Mapping[str, object]]
"""Metadata as a test may give it: ``{"level": "intro"}``, ``[("level", "intro")]`` or
``[{"key": "level", "value": "intro"}]``."""

# Fields the store itself computes; letting ``**extra`` override them would break the
# ordering and identity invariants every query relies on.
_RESERVED = frozenset({"id", "created_at"})


@attrs.frozen
class Bounds:
    """Whether ``before`` and ``after`` include an item created exactly at the bound."""

    before_inclusive: bool = False
    after_inclusive: bool = False


class UnknownItemError(KeyError):
    """No stored item of that kind has that id (it was never added, or already removed)."""

    def __str__(self) -> str:
        # KeyError would print its message quoted, as if it were the missing key itself.
        return str(self.args[0]) if self.args else ""


@attrs.define
class Record:
    """One stored item: its rendered body plus the fields filters look at."""

    id: int
    created_ms: int
    body: dict[str, Any]
    course_uid: str | None = None
    remote_user_id: str | None = None
    project_metadata: tuple[MetadataPair, ...] = ()
    course_metadata: tuple[MetadataPair, ...] = ()
    hidden: bool = False


def metadata_pairs(metadata: MetadataInput | None) -> list[tuple[str, object]]:
    """Normalise any accepted metadata form to a list of ``(key, value)`` pairs."""
    if metadata is None:
        return []
    if isinstance(metadata, Mapping):
        return [(str(key), value) for key, value in metadata.items()]
    pairs: list[tuple[str, object]] = []
    for entry in metadata:
        if isinstance(entry, Mapping):
            pairs.append((str(entry["key"]), entry["value"]))
        else:
            key, value = entry
            pairs.append((str(key), value))
    return pairs


class ItemStore:
    """Contents and grades of one emulated account.

    Ids, identifiers and URLs are drawn from a ``random.Random`` seeded by the caller so
    that two emulators built with the same seed and fed the same items render them
    byte for byte alike; which items ``hidden_fraction`` hides is drawn from another,
    seeded likewise.
    """

    def __init__(self, seed: int, *, hidden_fraction: float = 0.0, max_hidden_run: int = 0) -> None:
        self._rng = random.Random(f"nexttech-emulator-ids:{seed}")
        self._hiding_rng = random.Random(f"nexttech-emulator-hidden:{seed}")
        self._hidden_fraction = hidden_fraction
        self._max_hidden_run = max_hidden_run
        # Hidden items most recently added in a row, per kind (what the cap counts).
        self._hidden_run: dict[Kind, int] = {"contents": 0, "grades": 0}
        self._records: dict[Kind, list[Record]] = {"contents": [], "grades": []}
        # The same records by id, in insertion order, for removal and hidden_ids().
        self._by_id: dict[Kind, dict[int, Record]] = {"contents": {}, "grades": {}}
        self._next_id: dict[Kind, int] = {"contents": 1, "grades": 1}
        self._next_metadata_id = 1
        self._publishable_key = f"{self._rng.getrandbits(128):032X}"

    def add_content(
        self,
        created_ms: int,
        *,
        name: str | None,
        metadata: MetadataInput | None,
        course_uid: str | None,
        remote_user_id: str | None,
        draft: bool,
        extra: Mapping[str, Any],
        hidden: bool | None = None,
    ) -> dict[str, Any]:
        """Store a content created at ``created_ms`` and return it as the API renders it.

        ``hidden``: ``None`` lets ``hidden_fraction`` decide.
        """
        item_id, seconds = self._new_item("contents", created_ms, extra)
        identifier = self._uuid()
        project = metadata_pairs(metadata)
        body: dict[str, Any] = {
            **_stamped(item_id, seconds),
            "draft": draft,
            "identifier": identifier,
            "editor_owned": False,
            "gradeable": False,
            "lti_url": f"https://api.next.tech/api/v1/lti/load?content_id={identifier}",
            "name": name if name is not None else f"Content {item_id}",
            "position": None,
            "public_url": (
                f"https://api.next.tech/api/v1/publishable_key/{self._publishable_key}"
                f"?content_id={identifier}"
            ),
            "metadata": self._render_metadata(project, seconds),
        }
        extra = dict(extra)
        # Contents carry no documented course metadata; a test may attach some so the
        # course_metadata filter has something to match, rendered like ``metadata``.
        course: list[tuple[str, object]] = []
        if "course_metadata" in extra:
            course = metadata_pairs(extra.pop("course_metadata"))
            body["course_metadata"] = self._render_metadata(course, seconds)
        body.update(extra)
        return self._insert(
            "contents",
            item_id,
            created_ms,
            body,
            project=project,
            course=course,
            course_uid=course_uid,
            remote_user_id=remote_user_id,
            hidden=hidden,
        )

    def add_grade(
        self,
        created_ms: int,
        *,
        course_name: str,
        project_metadata: MetadataInput | None,
        course_metadata: MetadataInput | None,
        course_uid: str | None,
        extra: Mapping[str, Any],
        hidden: bool | None = None,
    ) -> dict[str, Any]:
        """Store a grade created at ``created_ms`` and return it as the API renders it.

        ``hidden``: ``None`` lets ``hidden_fraction`` decide.
        """
        item_id, seconds = self._new_item("grades", created_ms, extra)
        project = metadata_pairs(project_metadata)
        course = metadata_pairs(course_metadata)
        share_url = f"https://next.tech/projects/{self._rng.getrandbits(48):012x}/share"
        body: dict[str, Any] = {
            **_stamped(item_id, seconds),
            "course_metadata": self._render_metadata(course, seconds),
            "course_name": course_name,
            "lesson_uid": self._uuid(),
            "project_metadata": self._render_metadata(project, seconds),
            "project_name": f"Project {item_id}",
            "project_review_url": f"{share_url}?p={self._rng.getrandbits(64):016x}&review=true",
            "project_share_url": share_url,
        }
        body.update(extra)
        return self._insert(
            "grades",
            item_id,
            created_ms,
            body,
            project=project,
            course=course,
            course_uid=course_uid,
            hidden=hidden,
        )

    def query(
        self,
        kind: Kind,
        filters: Filters,
        bounds: Bounds,
        *,
        limit: int | None,
        filter_after_limit: bool = False,
    ) -> list[dict[str, Any]]:
        """Visible matching items of ``kind``, newest first (ties: higher id first).

        At most ``limit`` of them; with ``filter_after_limit``, those among the first
        ``limit`` items of the date window (so possibly fewer, or none, while more match
        further on).  Hidden items are never returned.

        The returned dicts are the stored bodies themselves, for serialising; callers that
        hand them to user code must copy them.
        """
        if limit is not None and limit <= 0:
            return []
        window = self._window(kind, filters, bounds)
        if filter_after_limit and limit is not None:
            return [
                record.body
                for record in itertools.islice(window, limit)
                if not record.hidden and _matches(kind, record, filters)
            ]
        matches: list[dict[str, Any]] = []
        for record in window:
            if not record.hidden and _matches(kind, record, filters):
                matches.append(record.body)
                if limit is not None and len(matches) >= limit:
                    break
        return matches

    def remove(self, kind: Kind, item_id: int) -> dict[str, Any]:
        """Delete the item of ``kind`` with ``item_id``; a copy of it as it was rendered.

        Raises:
            UnknownItemError: if no such item is stored.
        """
        record = self._by_id[kind].pop(item_id, None)
        if record is None:
            noun = "content" if kind == "contents" else "grade"
            raise UnknownItemError(f"no {noun} with id {item_id!r} is stored")
        records = self._records[kind]
        index = bisect.bisect_left(records, _order_key(record), key=_order_key)
        del records[index]
        return clone_json(record.body)

    def hidden_ids(self, kind: Kind) -> list[int]:
        """Ids of the hidden items of ``kind`` still stored, in insertion order."""
        return [item_id for item_id, record in self._by_id[kind].items() if record.hidden]

    def count(self, kind: Kind) -> int:
        """How many items of ``kind`` are stored, hidden ones included."""
        return len(self._records[kind])

    def _window(self, kind: Kind, filters: Filters, bounds: Bounds) -> Iterator[Record]:
        records = self._records[kind]
        hi = len(records)
        lo = 0
        if filters.before_ms is not None:
            search = bisect.bisect_right if bounds.before_inclusive else bisect.bisect_left
            hi = search(records, filters.before_ms, key=_created_ms)
        if filters.after_ms is not None:
            search = bisect.bisect_left if bounds.after_inclusive else bisect.bisect_right
            lo = search(records, filters.after_ms, key=_created_ms)
        for index in range(hi - 1, lo - 1, -1):
            yield records[index]

    def _new_item(self, kind: Kind, created_ms: int, extra: Mapping[str, Any]) -> tuple[int, int]:
        """Check ``extra``, then the next id of ``kind`` and ``created_ms`` in epoch seconds."""
        _check_extra(extra)
        item_id = self._next_id[kind]
        self._next_id[kind] = item_id + 1
        return item_id, seconds_from_millis(created_ms)

    def _insert(
        self,
        kind: Kind,
        item_id: int,
        created_ms: int,
        body: dict[str, Any],
        *,
        project: list[tuple[str, object]],
        course: list[tuple[str, object]],
        course_uid: str | None,
        remote_user_id: str | None = None,
        hidden: bool | None = None,
    ) -> dict[str, Any]:
        """Store the rendered ``body`` with the fields filters look at; a copy of ``body``."""
        record = Record(
            id=item_id,
            created_ms=created_ms,
            body=body,
            course_uid=course_uid,
            remote_user_id=remote_user_id,
            project_metadata=_as_strings(project),
            course_metadata=_as_strings(course),
            hidden=self._hide(kind, hidden),
        )
        bisect.insort_right(self._records[kind], record, key=_order_key)
        self._by_id[kind][item_id] = record
        return clone_json(record.body)

    def _hide(self, kind: Kind, explicit: bool | None) -> bool:
        """Whether the item being added is hidden, keeping count of the run it extends.

        The generator is drawn from for every item left undecided, capped or not, so the
        cap changes which items end up hidden but not the draws of the items after them.
        """
        if explicit is not None:
            hidden = explicit
        elif self._hidden_fraction > 0:
            drawn = self._hiding_rng.random() < self._hidden_fraction
            hidden = drawn and self._hidden_run[kind] < self._max_hidden_run
        else:
            hidden = False
        self._hidden_run[kind] = self._hidden_run[kind] + 1 if hidden else 0
        return hidden

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _render_metadata(
        self, pairs: list[tuple[str, object]], seconds: int
    ) -> list[dict[str, Any]]:
        rendered: list[dict[str, Any]] = []
        for key, value in pairs:
            rendered.append(
                {**_stamped(self._next_metadata_id, seconds), "key": key, "value": value}
            )
            self._next_metadata_id += 1
        return rendered


def clone_json(value: _T) -> _T:
    """Copy a JSON-shaped value (dicts, lists, scalars) so callers cannot alter the store.

    Much cheaper than ``copy.deepcopy`` for bulk inserts, and sufficient because every
    stored body must be JSON-serialisable anyway to be served.
    """
    if isinstance(value, dict):
        return cast(_T, {key: clone_json(item) for key, item in value.items()})
    if isinstance(value, list):
        return cast(_T, [clone_json(item) for item in value])
    return value


def _stamped(item_id: int, seconds: int) -> dict[str, Any]:
    """The fields every rendered item starts with, in the API's order."""
    return {"created_at": seconds, "updated_at": seconds, "id": item_id}


def _created_ms(record: Record) -> int:
    return record.created_ms


def _order_key(record: Record) -> tuple[int, int]:
    return (record.created_ms, record.id)


def _check_extra(extra: Mapping[str, Any]) -> None:
    clash = _RESERVED.intersection(extra)
    if clash:
        raise ValueError(f"extra fields may not set {sorted(clash)}: the store assigns them")


def _as_strings(pairs: list[tuple[str, object]]) -> tuple[MetadataPair, ...]:
    return tuple((key, str(value)) for key, value in pairs)


def _matches(kind: Kind, record: Record, filters: Filters) -> bool:
    if filters.course_uids is not None and record.course_uid not in filters.course_uids:
        return False
    # remote_user_id is documented for contents only; grades ignore it.
    if (
        kind == "contents"
        and filters.remote_user_id is not None
        and record.remote_user_id != filters.remote_user_id
    ):
        return False
    combine = all if kind == "contents" else any
    for wanted, present in (
        (filters.project_metadata, record.project_metadata),
        (filters.course_metadata, record.course_metadata),
    ):
        if wanted and not combine(pair in present for pair in wanted):
            return False
    return True
