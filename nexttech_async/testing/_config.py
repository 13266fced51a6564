"""Settings of the Next Tech emulator, with every default in one place."""

from __future__ import annotations

from typing import Literal

import attrs

from ._pages import PageSchedule, as_page_schedule

__all__ = ["NextTechEmulatorConfig", "TimeResolution"]

#: How precisely the emulator stores creation times: ``"millisecond"`` (what the API
#: takes in ``before``/``after``), or ``"second"`` (a server that keeps whole seconds, so
#: items of one second tie whatever the query).
TimeResolution = Literal["millisecond", "second"]


def _check_resolution(_instance: object, _attribute: object, value: str) -> None:
    if value not in ("millisecond", "second"):
        raise ValueError(f"time_resolution must be 'millisecond' or 'second', got {value!r}")


def _check_token(_instance: object, _attribute: object, value: str | None) -> None:
    # Basic auth splits "<token>:<secret>" at the first colon, so a colon in the token
    # would make the credentials impossible to send.
    if value is not None and (not value or ":" in value):
        raise ValueError("api_token must be non-empty and must not contain ':'")


def _page_schedule(value: PageSchedule | str | None) -> PageSchedule | None:
    # Named in the message so a marker's or a CLI's bad text says which knob it was.
    try:
        return as_page_schedule(value)
    except ValueError as exc:
        raise ValueError(f"page_schedule: {exc}") from None


def _check_secret(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and not value:
        raise ValueError("secret_key must be non-empty")


@attrs.frozen
class NextTechEmulatorConfig:
    """How a :class:`NextTechEmulator` behaves when it starts.

    Page size, page schedule, bound inclusivity and latency can also be changed on a
    running emulator; this object is only the starting point and is never mutated.

    Attributes:
        host: interface to listen on; loopback only by design.
        port: TCP port; 0 lets the OS choose (read it back from ``base_url``).
        page_size: how many items a list request returns at most.  The real value is
            undocumented, so tests should try several, including 1.
        page_schedule: when set, decides the page size of each list request instead of
            ``page_size`` (which stays the fixed default, used again once the schedule is
            removed): a :class:`~nexttech_async.testing.PageSchedule` or its text form
            (``"7"``, ``"20..30"``, ``"5,9,7"``, ``"50>20@40"``).  Request ``i`` is the
            i-th list request (0-based) that reached the listing: faulted, 401 and 400
            requests do not count, in-transit faults do (they were answered).  Random
            sizes are drawn from a generator seeded by ``seed``.
        filter_after_limit: ``False``: hidden items and items failing the
            ``course_uid``/``remote_user_id``/metadata filters are dropped first, then
            the first n matches are returned (n: the request's page size).  ``True``, as
            a server may do that applies its LIMIT in the database and its permissions
            afterwards: the first n items of the ``before``/``after`` window are taken
            (newest first, ties by id descending), and only then are hidden and
            non-matching ones dropped, so a page may come back short, or **empty**, while
            older matching items remain in the window.
        hidden_fraction: chance (0..1) that an item added without an explicit
            ``hidden=`` is hidden from the caller (a draft, a permission), drawn from a
            generator seeded by ``seed``.  Hidden items are in no answer and no snapshot.
        max_hidden_run: the most items, consecutive in insertion order per kind, that
            ``hidden_fraction`` may hide; needed (>= 1) when ``hidden_fraction`` > 0.  An
            explicit ``hidden=True`` is always honoured, and counts towards the run.

    **Hidden runs and empty pages.**  With ``filter_after_limit``, a run of k hidden (or
    non-matching) items in a row makes any request whose page size n <= k, starting at
    that run, answer an empty page.  A date-cursor client reads an empty page as "nothing
    older", so no client can see items behind such a run.  To keep walks exact, keep
    ``max_hidden_run`` below the smallest page size (``page_size``, or
    ``PageSchedule.smallest``), add items oldest first (insertion order is then time
    order, which is what the cap counts), and mind that filters and deletes can make
    longer runs than the cap alone.
        before_inclusive: whether ``before=T`` also returns items created exactly at T.
        after_inclusive: whether ``after=T`` also returns items created exactly at T.
        time_resolution: ``"millisecond"`` keeps created times to the millisecond;
            ``"second"`` truncates them to whole seconds, so the bounds then only ever
            meet items on a second boundary.
        latency: seconds every ``/v1`` response waits before it is answered.
        seed: seeds identifiers, URLs and probabilistic faults, so runs repeat.
        request_log_limit: how many requests ``request_log`` keeps (oldest dropped first).
        api_token: the accepted API token; ``None`` draws a random one at construction of
            the emulator.
        secret_key: the accepted secret key; ``None`` draws a random one likewise.
        shutdown_timeout: seconds ``close()`` waits for requests still being answered
            (for example one held by a ``delay`` fault) before cancelling them.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(
        default=0, validator=[attrs.validators.ge(0), attrs.validators.le(65535)]
    )
    page_size: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    before_inclusive: bool = False
    after_inclusive: bool = False
    time_resolution: TimeResolution = attrs.field(
        default="millisecond", validator=_check_resolution
    )
    latency: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))
    seed: int = 0
    request_log_limit: int = attrs.field(default=10_000, validator=attrs.validators.ge(0))
    api_token: str | None = attrs.field(default=None, validator=_check_token)
    secret_key: str | None = attrs.field(default=None, validator=_check_secret, repr=False)
    shutdown_timeout: float = attrs.field(default=0.5, validator=attrs.validators.ge(0.0))
    page_schedule: PageSchedule | None = attrs.field(default=None, converter=_page_schedule)
    filter_after_limit: bool = False
    hidden_fraction: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    max_hidden_run: int = attrs.field(default=0, validator=attrs.validators.ge(0))

    def __attrs_post_init__(self) -> None:
        # A fraction with no run allowed would hide nothing while looking as if it did.
        if self.hidden_fraction > 0 and self.max_hidden_run == 0:
            raise ValueError(
                f"hidden_fraction={self.hidden_fraction} needs max_hidden_run >= 1 "
                "(how many items in a row it may hide), got max_hidden_run=0"
            )
