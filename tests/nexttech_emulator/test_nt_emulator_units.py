"""The emulator's pure parts, without a server: time parsing, query parsing, store windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict

from nexttech_async.testing import Fault
from nexttech_async.testing._faults import FaultPlan
from nexttech_async.testing._query import Filters, QueryError, parse_filters
from nexttech_async.testing._store import Bounds, ItemStore
from nexttech_async.testing._time import (
    iso_from_millis,
    parse_iso_millis,
    to_millis,
    truncate_to_second,
)

OCT_7 = 1602112380000  # 2020-10-07T23:13:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-10-07T23:13:00.000Z", OCT_7),
        ("2020-10-7T23:13:00.000Z", OCT_7),  # the vendor's own example form
        ("2020-10-07T23:13Z", OCT_7),
        ("2020-10-07t23:13:00z", OCT_7),
        ("2020-10-07T23:13:00.5Z", OCT_7 + 500),
        ("2020-10-07T23:13:00.123999Z", OCT_7 + 123),  # sub-millisecond truncated
        ("2020-10-08T01:13:00.000+02:00", OCT_7),
        ("2020-10-08T01:13:00+0200", OCT_7),
        ("2020-10-07T18:13:00-05", OCT_7),
    ],
)
def test_parse_iso_millis(text: str, expected: int) -> None:
    assert parse_iso_millis(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2020-10-07",
        "2020-10-07T23:13:00",
        "2020-10-07 23:13:00Z",
        "2020-10-07T23:13:00 02:00",
        "2020-02-30T00:00:00Z",
        "2020-10-07T24:00:00Z",
        "2020-10-07T23:13:00+25:00",
        "2020-10-07T23:13:00+02:75",
        "1602112380",
    ],
)
def test_parse_iso_millis_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_iso_millis(text)


@given(st.integers(min_value=0, max_value=253402300799999))
def test_iso_round_trip(millis: int) -> None:
    assert parse_iso_millis(iso_from_millis(millis)) == millis


def test_to_millis() -> None:
    assert to_millis(1.005) == 1005  # rounded, not floored into 1004
    assert to_millis(7) == 7000
    moment = datetime(2020, 10, 7, 23, 13, 0, 999_999, tzinfo=UTC)
    assert to_millis(moment) == OCT_7 + 999
    assert to_millis(moment.astimezone(timezone(timedelta(hours=-3)))) == OCT_7 + 999
    assert truncate_to_second(OCT_7 + 999) == OCT_7
    assert truncate_to_second(-1) == -1000
    with pytest.raises(TypeError):
        to_millis(True)
    with pytest.raises(ValueError, match="finite"):
        to_millis(float("nan"))


def test_parse_filters_pairs_in_order() -> None:
    query = MultiDict(
        [
            ("project_metadata[][key]", "level"),
            ("course_uid[]", "a"),
            ("project_metadata[][value]", "intermediate"),
            ("project_metadata[][key]", "language"),
            ("project_metadata[][value]", "python"),
            ("course_uid[]", "b"),
            ("remote_user_id", "42"),
            ("after", "2020-10-07T23:13:00.000Z"),
        ]
    )
    assert parse_filters(query) == Filters(
        after_ms=OCT_7,
        remote_user_id="42",
        course_uids=frozenset({"a", "b"}),
        project_metadata=(("level", "intermediate"), ("language", "python")),
    )
    assert parse_filters(MultiDict()) == Filters()


def test_parse_filters_refuses_unpaired_metadata() -> None:
    query = MultiDict([("course_metadata[][key]", "a"), ("course_metadata[][key]", "b")])
    with pytest.raises(QueryError, match="pair up"):
        parse_filters(query)


def test_fault_plan_is_seeded_and_counts_down() -> None:
    def draws(seed: int) -> list[bool]:
        plan = FaultPlan(seed)
        plan.add(Fault(kind="status", times=None, probability=0.3))
        return [plan.draw("/v1/contents") is not None for _ in range(50)]

    assert draws(1) == draws(1)
    assert 0 < sum(draws(1)) < 50
    plan = FaultPlan(0)
    plan.add(Fault(kind="html", path="/contents", times=2))
    assert plan.draw("/v1/grades") is None
    assert plan.draw("/v1/contents") is not None
    assert plan.draw("/v1/contents") is not None
    assert plan.draw("/v1/contents") is None


def test_store_renders_identically_for_one_seed() -> None:
    def render(seed: int) -> list[dict[str, object]]:
        store = ItemStore(seed)
        store.add_content(
            OCT_7, name=None, metadata=None, course_uid=None, remote_user_id=None,
            draft=False, extra={},
        )  # fmt: skip
        store.add_grade(
            OCT_7, course_name="c", project_metadata=None, course_metadata=None,
            course_uid=None, extra={},
        )  # fmt: skip
        return store.query("contents", Filters(), Bounds(), limit=None) + store.query(
            "grades", Filters(), Bounds(), limit=None
        )

    assert render(5) == render(5)
    assert render(5) != render(6)


@settings(max_examples=150, deadline=None)
@given(
    created=st.lists(st.integers(min_value=0, max_value=3000), max_size=30),
    before=st.none() | st.integers(min_value=-1, max_value=3001),
    after=st.none() | st.integers(min_value=-1, max_value=3001),
    before_inclusive=st.booleans(),
    after_inclusive=st.booleans(),
    limit=st.none() | st.integers(min_value=1, max_value=10),
)
def test_store_window_matches_brute_force(
    created: list[int],
    before: int | None,
    after: int | None,
    before_inclusive: bool,
    after_inclusive: bool,
    limit: int | None,
) -> None:
    store = ItemStore(0)
    for millis in created:
        store.add_content(
            millis, name=None, metadata=None, course_uid=None, remote_user_id=None,
            draft=False, extra={},
        )  # fmt: skip
    bounds = Bounds(before_inclusive, after_inclusive)
    got = store.query("contents", Filters(before_ms=before, after_ms=after), bounds, limit=limit)

    def keep(millis: int) -> bool:
        if before is not None and not (millis <= before if before_inclusive else millis < before):
            return False
        return after is None or (millis >= after if after_inclusive else millis > after)

    expected = sorted(
        ((millis, index + 1) for index, millis in enumerate(created) if keep(millis)),
        reverse=True,
    )
    if limit is not None:
        expected = expected[:limit]
    assert [item["id"] for item in got] == [item_id for _, item_id in expected]
