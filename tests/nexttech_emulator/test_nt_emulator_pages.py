"""Page-size schedules, hidden items, filtering after the LIMIT and deletes, on the wire.

Every request goes to a real emulator on 127.0.0.1 through aiohttp, as the sibling files
do; no SDK code is involved, so these tests check the emulator alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from nt_http import get

from nexttech_async.testing import (
    Fault,
    NextTechEmulator,
    NextTechEmulatorConfig,
    PageSchedule,
    UnknownItemError,
)

T0 = 1_600_000_000


def iso(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def page(
    session: aiohttp.ClientSession, emu: NextTechEmulator, path: str = "/contents", query: str = ""
) -> list[dict[str, Any]]:
    status, body = await get(session, emu, path, query)
    assert status == 200, body
    assert isinstance(body, list)
    return body


def ids(items: Sequence[dict[str, Any]]) -> list[int]:
    return [int(item["id"]) for item in items]


async def walk_seconds(
    session: aiohttp.ClientSession, emu: NextTechEmulator, path: str = "/contents", query: str = ""
) -> tuple[list[dict[str, Any]], list[int]]:
    """A date-cursor walk over items at distinct whole seconds (the oracle of these tests).

    Each next page asks for everything strictly before the oldest item of the last one;
    an empty page ends the walk, as it must for any date-cursor client.  Returns the items
    and the length of every page.
    """
    items: list[dict[str, Any]] = []
    lengths: list[int] = []
    cursor: int | None = None
    while True:
        params = [query] if query else []
        if cursor is not None:
            params.append(f"before={iso(cursor)}")
        got = await page(session, emu, path, "&".join(params))
        lengths.append(len(got))
        if not got:
            return items, lengths
        items += got
        cursor = min(int(item["created_at"]) for item in got)


def longest_run(flags: Sequence[bool]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


# -- PageSchedule, offline ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "schedule", "printed"),
    [
        ("7", PageSchedule.fixed(7), "7"),
        ("1", PageSchedule.fixed(1), "1"),
        ("20..30", PageSchedule.random(20, 30), "20..30"),
        ("4..4", PageSchedule.random(4, 4), "4..4"),
        ("5,9,7", PageSchedule.cycle([5, 9, 7]), "5,9,7"),
        (" 5 , 9 ", PageSchedule.cycle((5, 9)), "5,9"),
        ("50>20@40", PageSchedule.change(50, 20, after=40), "50>20@40"),
        ("3 > 8 @ 1", PageSchedule.change(3, 8, after=1), "3>8@1"),
    ],
)
def test_parse_reads_each_syntax_and_round_trips(
    text: str, schedule: PageSchedule, printed: str
) -> None:
    assert PageSchedule.parse(text) == schedule
    assert str(schedule) == printed
    assert PageSchedule.parse(str(schedule)) == schedule


@pytest.mark.parametrize(
    "text",
    ["", " ", "0", "-3", "x", "7.5", "5..3", "0..4", "5..", "..5", "1,,2", "5,0", "5,",
     "3>0@5", "3>4@0", "3>4", "3@4", "٣", "20..30..40", "5;9"],
)  # fmt: skip
def test_parse_rejects_other_texts_naming_them(text: str) -> None:
    with pytest.raises(ValueError, match="page schedule") as raised:
        PageSchedule.parse(text)
    assert repr(text) in str(raised.value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: PageSchedule.fixed(0), "integer >= 1, got 0"),
        (lambda: PageSchedule.random(0, 3), "integer >= 1, got 0"),
        (lambda: PageSchedule.random(4, 3), "low <= high"),
        (lambda: PageSchedule.cycle([]), "at least one size"),
        (lambda: PageSchedule.cycle([3, 0]), "integer >= 1, got 0"),
        (lambda: PageSchedule.cycle([3, True]), "integer >= 1, got True"),
        (lambda: PageSchedule.change(0, 3, after=2), "integer >= 1, got 0"),
        (lambda: PageSchedule.change(3, 4, after=0), "after >= 1"),
        (lambda: PageSchedule("fixed", (1, 2)), "fixed page schedule cannot hold"),
        (lambda: PageSchedule("fixed", (1,), after=3), "only a change page schedule"),
        (lambda: PageSchedule("sometimes", (1,)), "unknown page schedule kind"),  # type: ignore[arg-type]
    ],
)
def test_constructors_refuse_sizes_below_one_and_odd_shapes(
    build: Callable[[], PageSchedule], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_smallest_and_largest_bound_every_size() -> None:
    assert (PageSchedule.fixed(7).smallest, PageSchedule.fixed(7).largest) == (7, 7)
    assert (PageSchedule.random(20, 30).smallest, PageSchedule.random(20, 30).largest) == (20, 30)
    cycle = PageSchedule.cycle([5, 9, 2, 7])
    assert (cycle.smallest, cycle.largest) == (2, 9)
    change = PageSchedule.change(50, 20, after=40)
    assert (change.smallest, change.largest) == (20, 50)


def test_a_one_size_cycle_is_a_fixed_schedule() -> None:
    assert PageSchedule.cycle([6]) == PageSchedule.fixed(6)
    assert hash(PageSchedule.cycle([1, 2])) == hash(PageSchedule.parse("1,2"))


# -- schedules on the wire ---------------------------------------------------------------


async def served(
    session: aiohttp.ClientSession, config: NextTechEmulatorConfig, requests: int
) -> tuple[list[int], list[int]]:
    """Page lengths of ``requests`` identical list requests over 200 items, and the sizes
    the emulator says it used."""
    async with NextTechEmulator(config) as emu:
        emu.add_contents(T0 + n for n in range(200))
        lengths = [len(await page(session, emu)) for _ in range(requests)]
        return lengths, emu.page_sizes_served


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("7", [7] * 8),
        ("5,9,7", [5, 9, 7, 5, 9, 7, 5, 9]),
        ("1,3", [1, 3, 1, 3, 1, 3, 1, 3]),
        # Change after 3: requests 1-3 get 4, request 4 (N+1) onwards gets 2.
        ("4>2@3", [4, 4, 4, 2, 2, 2, 2, 2]),
        (PageSchedule.change(1, 6, after=1), [1, 6, 6, 6, 6, 6, 6, 6]),
    ],
)
async def test_each_schedule_serves_exactly_its_sizes(
    session: aiohttp.ClientSession, schedule: PageSchedule | str, expected: list[int]
) -> None:
    config = NextTechEmulatorConfig(page_size=50, page_schedule=schedule)
    lengths, sizes = await served(session, config, len(expected))
    assert lengths == expected
    assert sizes == expected


async def test_random_sizes_stay_in_range_repeat_per_seed_and_differ_across_seeds(
    session: aiohttp.ClientSession,
) -> None:
    schedule = PageSchedule.random(3, 8)
    first, first_sizes = await served(session, NextTechEmulatorConfig(page_schedule=schedule), 60)
    again, _ = await served(session, NextTechEmulatorConfig(page_schedule="3..8"), 60)
    other, _ = await served(session, NextTechEmulatorConfig(page_schedule=schedule, seed=1), 60)
    assert first == first_sizes == again
    assert first != other
    assert set(first) == set(range(3, 9)), "uniform over the closed range, both ends included"
    assert all(3 <= size <= 8 for size in other)


async def test_without_a_schedule_every_page_is_page_size(
    session: aiohttp.ClientSession,
) -> None:
    lengths, sizes = await served(session, NextTechEmulatorConfig(page_size=11), 4)
    assert lengths == sizes == [11] * 4


async def test_only_requests_reaching_the_listing_advance_the_schedule(
    session: aiohttp.ClientSession,
) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(page_schedule="1,2,3")) as emu:
        emu.add_contents(T0 + n for n in range(10))
        for n in range(10):
            emu.add_grade(T0 + n)
        assert len(await page(session, emu)) == 1
        assert (await get(session, emu, authenticated=False))[0] == 401
        emu.add_fault(Fault(kind="status", status=503))
        assert (await get(session, emu))[0] == 503
        assert (await get(session, emu, query="before=yesterday"))[0] == 400
        # Grades and contents share one index: this is request 1, the next one request 2.
        assert len(await page(session, emu, "/grades")) == 2
        assert len(await page(session, emu)) == 3
        emu.add_fault(Fault(kind="truncated"))
        with pytest.raises(aiohttp.ClientPayloadError):
            await get(session, emu)  # answered (index 3), then cut on its way out
        assert len(await page(session, emu)) == 2
        assert emu.page_sizes_served == [1, 2, 3, 1, 2]


async def test_set_page_schedule_on_a_running_emulator_restarts_the_index(
    session: aiohttp.ClientSession,
) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=4)) as emu:
        emu.add_contents(T0 + n for n in range(20))
        assert len(await page(session, emu)) == 4
        emu.set_page_schedule("2,5")
        assert emu.page_schedule == PageSchedule.cycle([2, 5])
        assert [len(await page(session, emu)) for _ in range(3)] == [2, 5, 2]
        emu.set_page_schedule(PageSchedule.cycle([2, 5]))
        assert len(await page(session, emu)) == 2, "index back at 0"
        emu.set_page_size(6)
        assert len(await page(session, emu)) == 5, "a schedule, while set, decides"
        emu.set_page_schedule(None)
        assert len(await page(session, emu)) == 6
        assert emu.page_size == 6
        with pytest.raises(ValueError, match=re.escape("'2..1'")):
            emu.set_page_schedule("2..1")
        with pytest.raises(TypeError, match="page_schedule"):
            emu.set_page_schedule(3)  # type: ignore[arg-type]
        assert emu.page_sizes_served == [4, 2, 5, 2, 2, 5, 6]


async def test_set_page_schedule_restarts_random_draws_from_the_seed(
    session: aiohttp.ClientSession,
) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(page_schedule="1..30")) as emu:
        emu.add_contents(T0 + n for n in range(40))
        first = [len(await page(session, emu)) for _ in range(10)]
        emu.set_page_schedule("1..30")
        assert [len(await page(session, emu)) for _ in range(10)] == first


async def test_page_sizes_served_keeps_only_the_request_log_limit() -> None:
    async with (
        NextTechEmulator(
            NextTechEmulatorConfig(page_schedule="1,2,3,4,5", request_log_limit=3)
        ) as emu,
        aiohttp.ClientSession() as client,
    ):
        emu.add_contents(T0 + n for n in range(10))
        for _ in range(5):
            await page(client, emu)
        assert emu.page_sizes_served == [3, 4, 5]


@pytest.mark.parametrize("schedule", ["1..4", "2,1,3", "4>1@3"])
async def test_a_walk_under_any_schedule_reproduces_the_snapshot(
    session: aiohttp.ClientSession, schedule: str
) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(page_schedule=schedule)) as emu:
        emu.add_contents(T0 + n for n in range(37))
        walked, lengths = await walk_seconds(session, emu)
        assert walked == emu.contents_snapshot()
        assert lengths[-1] == 0 and len(set(lengths[:-1])) > 1


# -- hidden items and filter_after_limit -------------------------------------------------


def hidden_middle(config: NextTechEmulatorConfig) -> NextTechEmulator:
    """Ten contents one second apart (ids 1..10, oldest first); 6, 7 and 8 are hidden,
    and 4 belongs to another course.  Not started yet."""
    emu = NextTechEmulator(config)
    for n in range(10):
        emu.add_content(T0 + n, hidden=n + 1 in (6, 7, 8), course_uid="b" if n == 3 else "a")
    return emu


async def test_filter_after_limit_gives_short_and_empty_pages_while_older_items_remain(
    session: aiohttp.ClientSession,
) -> None:
    emu = hidden_middle(NextTechEmulatorConfig(page_size=3, filter_after_limit=True))
    async with emu:
        # The window's newest three are 10, 9, 8: 8 is hidden, so the page is short.
        assert ids(await page(session, emu)) == [10, 9]
        # Before 9's second the window starts 8, 7, 6: all hidden, an EMPTY page...
        assert await page(session, emu, query=f"before={iso(T0 + 8)}") == []
        # ...while 5, 4, 3, 2 and 1 are still there, older in the same window.
        assert ids(await page(session, emu, query=f"before={iso(T0 + 5)}")) == [5, 4, 3]
        # A filter drops after the LIMIT too: 4 is course "b", so 5, 4, 3 yields 5, 3.
        assert ids(await page(session, emu, query=f"course_uid[]=a&before={iso(T0 + 5)}")) == [
            5,
            3,
        ]
        # So a date-cursor walk stops at the empty page and never sees 1..5.
        walked, lengths = await walk_seconds(session, emu)
        assert ids(walked) == [10, 9] and lengths == [2, 0]
        assert ids(emu.contents_snapshot()) == [10, 9, 5, 4, 3, 2, 1]
        # A bigger page than the hidden run gets past it: every page has something.
        emu.set_page_size(4)
        walked, lengths = await walk_seconds(session, emu)
        assert walked == emu.contents_snapshot()
        assert lengths == [2, 1, 4, 0]


async def test_without_filter_after_limit_pages_are_full(
    session: aiohttp.ClientSession,
) -> None:
    emu = hidden_middle(NextTechEmulatorConfig(page_size=3))
    async with emu:
        assert ids(await page(session, emu)) == [10, 9, 5]
        assert ids(await page(session, emu, query=f"before={iso(T0 + 8)}")) == [5, 4, 3]
        assert ids(await page(session, emu, query="course_uid[]=a")) == [10, 9, 5]
        walked, lengths = await walk_seconds(session, emu)
        assert walked == emu.contents_snapshot()
        assert lengths == [3, 3, 1, 0]


async def test_hidden_items_are_in_no_answer_and_no_snapshot(
    session: aiohttp.ClientSession,
) -> None:
    for filter_after_limit in (False, True):
        config = NextTechEmulatorConfig(page_size=1000, filter_after_limit=filter_after_limit)
        async with NextTechEmulator(config) as emu:
            shown = emu.add_contents([T0, T0 + 2], metadata={"level": "x"})
            secret = emu.add_contents([T0 + 1, T0 + 3], metadata={"level": "x"}, hidden=True)
            draft = emu.add_content(T0 + 4, draft=True, hidden=False)
            grade = emu.add_grade(T0, hidden=True)
            visible_grade = emu.add_grade(T0 + 1)
            assert all("hidden" not in item for item in [*shown, *secret, draft, grade])
            visible = sorted(ids([*shown, draft]), reverse=True)
            for query in ("", "project_metadata[][key]=level&project_metadata[][value]=x"):
                answered = await page(session, emu, query=query)
                assert set(ids(answered)) <= set(visible)
                assert all("hidden" not in item for item in answered)
            assert ids(await page(session, emu)) == visible
            assert ids(emu.contents_snapshot()) == visible
            assert ids(emu.contents_snapshot(project_metadata={"level": "x"})) == ids(shown)[::-1]
            assert ids(await page(session, emu, "/grades")) == [visible_grade["id"]]
            assert ids(emu.grades_snapshot()) == [visible_grade["id"]]
            assert emu.hidden_ids("contents") == ids(secret)
            assert emu.hidden_ids("grades") == [grade["id"]]


async def test_hidden_fraction_respects_the_run_cap_over_2000_items(
    session: aiohttp.ClientSession,
) -> None:
    config = NextTechEmulatorConfig(
        hidden_fraction=0.6,
        max_hidden_run=3,
        seed=7,
        filter_after_limit=True,
        page_schedule="4..9",
    )
    async with NextTechEmulator(config) as emu:
        added = emu.add_contents(T0 + n for n in range(2000))  # oldest first
        visible = {item["id"] for item in emu.contents_snapshot()}
        flags = [item["id"] not in visible for item in added]  # time order = insertion order
        assert emu.hidden_ids("contents") == [
            item["id"] for item, hidden in zip(added, flags, strict=True) if hidden
        ]
        assert longest_run(flags) == 3, "capped at max_hidden_run, and the cap is reached"
        assert 0.4 < sum(flags) / len(flags) < 0.65
        # max_hidden_run (3) is below the smallest page size (4): every page of a walk
        # holds at least one item until the end, so the walk is exact, though pages vary.
        walked, lengths = await walk_seconds(session, emu)
        assert walked == emu.contents_snapshot()
        assert min(lengths[:-1]) >= 1 and lengths[-1] == 0
        pages = zip(lengths, emu.page_sizes_served, strict=True)
        assert any(length < size for length, size in pages), "some pages came back short"


async def test_hidden_fraction_repeats_per_seed_and_never_shifts_rendered_items() -> None:
    def hidden(seed: int, fraction: float) -> tuple[list[int], list[dict[str, Any]]]:
        run = 2 if fraction else 0
        emu = NextTechEmulator(
            NextTechEmulatorConfig(seed=seed, hidden_fraction=fraction, max_hidden_run=run)
        )
        rendered = []
        for n in range(300):  # contents and grades interleaved: the cap counts per kind
            rendered += [emu.add_content(T0 + n), emu.add_grade(T0 + n)]
        for kind in ("contents", "grades"):
            hidden_ids = set(emu.hidden_ids(kind))
            assert longest_run([item_id in hidden_ids for item_id in range(1, 301)]) <= run
        return emu.hidden_ids("contents") + emu.hidden_ids("grades"), rendered

    first_hidden, first_rendered = hidden(3, 0.4)
    assert hidden(3, 0.4) == (first_hidden, first_rendered)
    assert hidden(4, 0.4)[0] != first_hidden
    none_hidden, plain_rendered = hidden(3, 0.0)
    assert none_hidden == []
    assert plain_rendered == first_rendered, "hiding draws from a generator of its own"


def test_explicit_hidden_wins_over_the_fraction() -> None:
    emu = NextTechEmulator(NextTechEmulatorConfig(hidden_fraction=1.0, max_hidden_run=2))
    emu.add_contents(T0 + n for n in range(7))  # hidden, hidden, shown, hidden, hidden, ...
    assert emu.hidden_ids("contents") == [1, 2, 4, 5, 7]
    emu.add_contents([T0 + 10, T0 + 11, T0 + 12], hidden=True)  # past the cap: honoured
    emu.add_content(T0 + 13)  # the run is 4 long, so the fraction may not extend it
    emu.add_content(T0 + 14, hidden=False)
    emu.add_content(T0 + 15)
    assert emu.hidden_ids("contents") == [1, 2, 4, 5, 7, 8, 9, 10, 13]


# -- deletes -----------------------------------------------------------------------------


async def test_deletes_take_effect_for_the_next_request(
    session: aiohttp.ClientSession,
) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=3)) as emu:
        emu.add_contents(T0 + n for n in range(9))  # ids 1..9
        emu.add_grade(T0)

        def delete(emulator: NextTechEmulator, number: int) -> None:
            if number == 2:
                emulator.remove_content(5)  # on the page this very request answers
                emulator.remove_content(2)  # not reached yet

        emu.on_request(delete)
        walked, _ = await walk_seconds(session, emu)
        assert ids(walked) == [9, 8, 7, 6, 4, 3, 1]
        assert ids(emu.contents_snapshot()) == [9, 8, 7, 6, 4, 3, 1]
        removed = emu.remove_grade(1)
        assert removed["id"] == 1 and "hidden" not in removed
        assert await page(session, emu, "/grades") == []


def test_removing_an_unknown_item_names_it() -> None:
    emu = NextTechEmulator()
    emu.add_content(T0)
    emu.add_content(T0 + 1, hidden=True)
    assert emu.remove_content(2)["id"] == 2
    assert emu.hidden_ids("contents") == []
    with pytest.raises(UnknownItemError, match="no content with id 2 is stored"):
        emu.remove_content(2)
    with pytest.raises(KeyError):
        emu.remove_grade(1)
    with pytest.raises(UnknownItemError) as raised:
        emu.remove_grade(1)
    assert str(raised.value) == "no grade with id 1 is stored"
    assert ids(emu.contents_snapshot()) == [1]


# -- config validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"page_schedule": "20..x"}, "page_schedule: page schedule '20..x'"),
        ({"page_schedule": "0"}, "page_schedule: page schedule '0'"),
        ({"hidden_fraction": 1.5, "max_hidden_run": 1}, "'hidden_fraction' must be <= 1.0"),
        ({"hidden_fraction": -0.1, "max_hidden_run": 1}, "'hidden_fraction' must be >= 0.0"),
        ({"max_hidden_run": -1}, "'max_hidden_run' must be >= 0"),
        ({"hidden_fraction": 0.2}, "hidden_fraction=0.2 needs max_hidden_run >= 1"),
    ],
)
def test_bad_config_values_are_rejected_naming_the_knob(
    knobs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        NextTechEmulatorConfig(**knobs)


def test_config_takes_a_schedule_or_its_text_and_nothing_else() -> None:
    assert NextTechEmulatorConfig(page_schedule="5,9,7").page_schedule == PageSchedule.cycle(
        [5, 9, 7]
    )
    assert NextTechEmulatorConfig().page_schedule is None
    with pytest.raises(TypeError, match="page_schedule must be a PageSchedule"):
        NextTechEmulatorConfig(page_schedule=5)  # type: ignore[arg-type]
    config = NextTechEmulatorConfig(hidden_fraction=0.1, max_hidden_run=2)
    assert (config.hidden_fraction, config.max_hidden_run, config.filter_after_limit) == (
        0.1,
        2,
        False,
    )
