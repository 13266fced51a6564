"""``session.contents`` and ``session.grades``: one page with ``list()``, all with ``iterate()``."""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from edu_async_core.reading import ModelReader, Response

from .cursor import Bound, CursorState, Query, WalkRange, plan
from .errors import FAMILY, InvalidArgumentError
from .filters import Filters, Instant, MetadataInput, date_params, instant_ms
from .instants import iso_from_ms
from .models import converter
from .observed import ObservedWalk
from .resume_token import decode_token
from .shards import ShardedWalk
from .walk import AsyncWalk, Walk

if TYPE_CHECKING:
    from edu_async_core.transport import Transport

M = TypeVar("M")


def _bound(value: Instant | None, argument: str) -> Bound | None:
    if value is None:
        return None
    ms = instant_ms(value, argument)
    return Bound.user(iso_from_ms(ms), ms)


def walk_range(before: Instant | None, after: Instant | None) -> WalkRange:
    """The range of a walk, checked: both bounds aware, ``after`` not later than ``before``."""
    upper = _bound(before, "before")
    lower = _bound(after, "after")
    if upper is not None and lower is not None and lower.edge_ms > upper.edge_ms:
        raise InvalidArgumentError(
            "after", f"{lower.wire} is later than before={upper.wire}; nothing can match"
        )
    return WalkRange(after=lower, before=upper)


def request_of(
    before: Instant | None,
    after: Instant | None,
    remote_user_id: str | None,
    project_metadata: MetadataInput,
    course_metadata: MetadataInput,
    course_uid: Sequence[str] | str | None,
) -> tuple[WalkRange, Filters]:
    """The checked range and filters of a listing call (errors name the argument)."""
    filters = Filters.build(
        remote_user_id=remote_user_id,
        project_metadata=project_metadata,
        course_metadata=course_metadata,
        course_uid=course_uid,
    )
    return walk_range(before, after), filters


class Listing(Generic[M]):
    """A newest-first listing of Next Tech (``/contents`` or ``/grades``)."""

    def __init__(self, transport: Transport, path: str, model: type[M], kind: str) -> None:
        self._transport = transport
        self._path = path
        self._model = model
        self._kind = kind
        self._reader = ModelReader(converter, model, FAMILY)
        self._operation = f"{kind}.list"

    def _user_filter(self, remote_user_id: str | None) -> str | None:
        # Only /contents documents remote_user_id; the grades endpoint ignores it, so
        # sending it would return every grade while the caller believes they are filtered.
        if remote_user_id is not None and self._kind != "contents":
            raise InvalidArgumentError(
                "remote_user_id", f"{self._kind} cannot be filtered by remote user"
            )
        return remote_user_id

    async def list(
        self,
        *,
        before: Instant | None = None,
        after: Instant | None = None,
        remote_user_id: str | None = None,
        project_metadata: MetadataInput = None,
        course_metadata: MetadataInput = None,
        course_uid: Sequence[str] | str | None = None,
    ) -> builtins.list[M]:
        """One request, one page: the newest items matching the filters.

        ``before``/``after`` are aware datetimes or ISO 8601 text with a zone; a naive
        datetime is an error. Metadata filters take a mapping or a list of pairs (order
        kept); ``course_uid`` a list of course API keys.
        """
        rng, filters = request_of(
            before,
            after,
            self._user_filter(remote_user_id),
            project_metadata,
            course_metadata,
            course_uid,
        )
        query = plan(CursorState(), rng)  # a walk's first query is exactly this page
        items, response = await self.fetch(query, filters)
        read = self._reader.read
        return [read(item, response) for item in items]

    def iterate(
        self,
        *,
        before: Instant | None = None,
        after: Instant | None = None,
        remote_user_id: str | None = None,
        project_metadata: MetadataInput = None,
        course_metadata: MetadataInput = None,
        course_uid: Sequence[str] | str | None = None,
        resume: str | None = None,
        shards: int = 1,
        ordered: bool = True,
    ) -> AsyncWalk[M]:
        """Every item of the range, newest first, each exactly once, by date cursor.

        ``resume`` continues a walk from the ``resume_token`` of an earlier one (it
        carries the filters and range, so pass nothing else with it). ``shards=N``
        splits ``[after, before)`` into N windows walked concurrently (``after`` is
        required, ``before`` defaults to now); with ``ordered=True`` the items still come
        newest first, identical to a sequential walk.
        """
        walk = self._iterate(
            before,
            after,
            remote_user_id,
            project_metadata,
            course_metadata,
            course_uid,
            resume,
            shards,
            ordered,
        )
        hooks = self._transport.hooks
        if not hooks.active:
            return walk
        return ObservedWalk(walk, hooks, self._transport.clock, kind=self._kind, shards=shards)

    def _iterate(
        self,
        before: Instant | None,
        after: Instant | None,
        remote_user_id: str | None,
        project_metadata: MetadataInput,
        course_metadata: MetadataInput,
        course_uid: Sequence[str] | str | None,
        resume: str | None,
        shards: int,
        ordered: bool,
    ) -> AsyncWalk[M]:
        if resume is not None:
            given = (before, after, remote_user_id, project_metadata, course_metadata, course_uid)
            if any(v is not None for v in given) or shards != 1:
                raise InvalidArgumentError(
                    "resume", "the token carries the range and filters; pass nothing else"
                )
            rng, filters, state = decode_token(resume, self._kind)
            return self._walk(rng, filters, state, prefetch=True)
        rng, filters = request_of(
            before,
            after,
            self._user_filter(remote_user_id),
            project_metadata,
            course_metadata,
            course_uid,
        )
        if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
            raise InvalidArgumentError("shards", f"expected a positive int, got {shards!r}")
        if shards == 1:
            return self._walk(rng, filters, None, prefetch=True)
        if rng.after is None:
            raise InvalidArgumentError("after", "a sharded walk needs a lower bound to split")
        if rng.before is None:
            now_ms = int(time.time() * 1000)
            rng = WalkRange(after=rng.after, before=Bound.user(iso_from_ms(now_ms), now_ms))
        return ShardedWalk(
            lambda part: self._walk(part, filters, None),
            rng,
            kind=self._kind,
            filters=filters,
            shards=shards,
            ordered=ordered,
            sample=lambda whole: self._newest_page(whole, filters),
        )

    def _walk(
        self, rng: WalkRange, filters: Filters, state: Any, *, prefetch: bool = False
    ) -> Walk[M]:
        # A sequential walk asks for its next page while its caller reads this one; the
        # windows of a sharded walk do not (the shards are its concurrency).
        return Walk(
            kind=self._kind,
            fetch=self.fetch,
            structure=self._reader.read,
            rng=rng,
            filters=filters,
            state=state,
            prefetch=prefetch,
        )

    async def _newest_page(
        self, rng: WalkRange, filters: Filters
    ) -> tuple[Query, builtins.list[Any], Response]:
        """The newest page of ``rng`` (a sharded walk's plan, and its first window's start)."""
        query = plan(CursorState(), rng)
        items, response = await self.fetch(query, filters)
        return query, items, response

    async def fetch(self, query: Query, filters: Filters) -> tuple[builtins.list[Any], Response]:
        """Send one listing request and return its items (a bare JSON array)."""
        if query.probe:
            params: builtins.list[tuple[str, str]] = []
        else:
            before = query.before_wire or (
                iso_from_ms(query.before_ms) if query.before_ms is not None else None
            )
            after = query.after_wire or (
                iso_from_ms(query.after_ms) if query.after_ms is not None else None
            )
            params = date_params(before, after) + filters.params()
        # An empty 200 is no page: taken as one, it would end the walk with items left.
        response = await self._transport.request(
            "GET", self._path, params=params, require_document=True, operation=self._operation
        )
        value = response.json(FAMILY)
        if not isinstance(value, list):
            raise FAMILY.bad_response(
                f"expected a JSON array of {self._kind}, got {type(value).__name__}",
                status=response.status,
                context=response.context,
            )
        return value, response

    def structure(self, item: Any, response: Response) -> M:
        """One raw item of a page read as this listing's model (``Content`` or ``Grade``).

        ``response`` is the answer it came in, named in the error: an item that does not
        fit the model raises the SDK's ``BadResponseError`` with the status and request.
        """
        return self._reader.read(item, response)
