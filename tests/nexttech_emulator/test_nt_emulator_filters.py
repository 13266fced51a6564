"""The Next Tech emulator's query filters, sent as exact raw query strings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from nexttech_async.testing import NextTechEmulator

T0 = 1_600_000_000


@pytest.fixture
async def emu() -> AsyncIterator[NextTechEmulator]:
    async with NextTechEmulator() as emulator:
        # ids 1..4, newest last
        emulator.add_content(
            T0,
            metadata={"level": "intermediate", "language": "python"},
            course_uid="u1",
            remote_user_id="r1",
            course_metadata=[("course", "Python"), ("id", 1)],
        )
        emulator.add_content(
            T0 + 1, metadata=[("level", "intermediate"), ("language", "go")], course_uid="u2"
        )
        emulator.add_content(
            T0 + 2,
            metadata=[
                {"key": "level", "value": "beginner"},
                {"key": "language", "value": "python"},
            ],
            course_uid="u3",
            remote_user_id="r2",
        )
        emulator.add_content(T0 + 3)
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def get(
    session: aiohttp.ClientSession, emu: NextTechEmulator, path: str, query: str
) -> tuple[int, Any]:
    """GET with ``query`` sent byte for byte, and check the emulator saw exactly it."""
    url = URL(f"{emu.base_url}{path}?{query}", encoded=True)
    async with session.get(url, headers={"Authorization": emu.authorization}) as response:
        result = response.status, await response.json()
    assert emu.request_log[-1].query_string == query
    return result


async def content_ids(session: aiohttp.ClientSession, emu: NextTechEmulator, query: str) -> Any:
    status, body = await get(session, emu, "/contents", query)
    assert status == 200, body
    return [item["id"] for item in body]


# -- contents ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # the documented example: both pairs must hold for contents
        (
            "project_metadata[][key]=level&project_metadata[][value]=intermediate"
            "&project_metadata[][key]=language&project_metadata[][value]=python",
            [1],
        ),
        # keys and values pair up by position, wherever they appear
        (
            "project_metadata[][key]=level&project_metadata[][key]=language"
            "&project_metadata[][value]=intermediate&project_metadata[][value]=python",
            [1],
        ),
        (
            "project_metadata[][key]=level&project_metadata[][key]=language"
            "&project_metadata[][value]=python&project_metadata[][value]=intermediate",
            [],
        ),
        ("project_metadata[][key]=level&project_metadata[][value]=intermediate", [2, 1]),
        ("project_metadata[][key]=language&project_metadata[][value]=python", [3, 1]),
        ("project_metadata[][key]=level&project_metadata[][value]=expert", []),
        # percent-encoded brackets are the same parameter
        ("project_metadata%5B%5D%5Bkey%5D=level&project_metadata%5B%5D%5Bvalue%5D=beginner", [3]),
    ],
)
async def test_project_metadata_pairs(
    emu: NextTechEmulator, session: aiohttp.ClientSession, query: str, expected: list[int]
) -> None:
    assert await content_ids(session, emu, query) == expected


async def test_course_metadata_matches_attached_course_metadata(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    query = (
        "course_metadata[][key]=course&course_metadata[][value]=Python"
        "&course_metadata[][key]=id&course_metadata[][value]=1"
    )
    assert await content_ids(session, emu, query) == [1]
    query = "course_metadata[][key]=course&course_metadata[][value]=Go"
    assert await content_ids(session, emu, query) == []


async def test_course_uid_list(emu: NextTechEmulator, session: aiohttp.ClientSession) -> None:
    assert await content_ids(session, emu, "course_uid[]=u1&course_uid[]=u3") == [3, 1]
    assert await content_ids(session, emu, "course_uid%5B%5D=u2") == [2]
    assert await content_ids(session, emu, "course_uid[]=nope") == []


async def test_remote_user_id_exact(emu: NextTechEmulator, session: aiohttp.ClientSession) -> None:
    assert await content_ids(session, emu, "remote_user_id=r2") == [3]
    assert await content_ids(session, emu, "remote_user_id=r") == []


async def test_filters_combine_with_and(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    query = (
        "course_uid[]=u1&course_uid[]=u3"
        "&project_metadata[][key]=language&project_metadata[][value]=python"
        "&before=2020-09-13T12:26:42.000Z&remote_user_id=r1"
    )
    assert await content_ids(session, emu, query) == [1]


async def test_unknown_parameters_are_ignored(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    assert await content_ids(session, emu, "page=2&size=1&whatever") == [4, 3, 2, 1]


@pytest.mark.parametrize(
    "query",
    [
        "project_metadata[][key]=level",
        "project_metadata[][key]=a&project_metadata[][value]=1&project_metadata[][value]=2",
        "course_metadata[][value]=Python",
        "course_uid=u1",  # not the documented course_uid[] form
        "project_metadata[0][key]=level&project_metadata[0][value]=x",
        "remote_user_id=r1&remote_user_id=r2",
        "before=yesterday",
        "before=",
        "after=2020-10-07T23:13:00",  # no zone
        "after=2020-13-07T23:13:00Z",  # no such month
        "before=2020-10-07T23:13:00.000Z&before=2020-10-08T23:13:00.000Z",
    ],
)
async def test_malformed_queries_are_400_with_detail(
    emu: NextTechEmulator, session: aiohttp.ClientSession, query: str
) -> None:
    status, body = await get(session, emu, "/contents", query)
    assert status == 400
    assert isinstance(body["detail"], str)
    assert body["detail"]


async def test_unequal_pair_counts_explain_themselves(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    _, body = await get(session, emu, "/contents", "project_metadata[][key]=level")
    assert "1 project_metadata[][key] but 0 project_metadata[][value]" in body["detail"]


@pytest.mark.parametrize(
    "bound",
    [
        "2020-09-13T12:26:42.000Z",
        "2020-09-13T12:26:42Z",
        "2020-09-13T12:26:42.000%2B00:00",
        "2020-09-13T14:26:42.000%2B02:00",  # "+" must be percent-encoded in a query
        "2020-09-13T07:26:42-05:00",
        "2020-9-13T12:26:42.000Z",  # the vendor's examples drop the zero padding
    ],
)
async def test_iso_8601_forms_of_one_instant(
    emu: NextTechEmulator, session: aiohttp.ClientSession, bound: str
) -> None:
    assert await content_ids(session, emu, f"before={bound}") == [2, 1]


async def test_unescaped_plus_in_an_offset_is_refused(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    # Form decoding turns a raw "+" into a space; the emulator refuses rather than guess.
    status, body = await get(session, emu, "/contents", "before=2020-09-13T12:26:42+00:00")
    assert status == 400
    assert "2020-09-13T12:26:42 00:00" in body["detail"]


# -- grades ------------------------------------------------------------------------------------


@pytest.fixture
def graded(emu: NextTechEmulator) -> list[dict[str, Any]]:
    return [
        emu.add_grade(T0, project_metadata={"level": "intermediate"}, course_uid="u1"),
        emu.add_grade(
            T0 + 1,
            project_metadata={"language": "python"},
            course_metadata={"course": "Python"},
            course_uid="u2",
        ),
        emu.add_grade(T0 + 2, course_name="Other", course_metadata={"id": 1}, course_uid="u3"),
    ]


async def grade_ids(session: aiohttp.ClientSession, emu: NextTechEmulator, query: str) -> Any:
    status, body = await get(session, emu, "/grades", query)
    assert status == 200, body
    return [item["id"] for item in body]


async def test_grades_render_documented_fields_newest_first(
    emu: NextTechEmulator, session: aiohttp.ClientSession, graded: list[dict[str, Any]]
) -> None:
    status, body = await get(session, emu, "/grades", "")
    assert status == 200
    assert body == list(reversed(graded))
    assert set(body[0]) == {
        "created_at",
        "updated_at",
        "id",
        "course_name",
        "lesson_uid",
        "project_name",
        "project_metadata",
        "course_metadata",
        "project_share_url",
        "project_review_url",
    }
    assert body[0]["created_at"] == T0 + 2
    assert body[0]["course_name"] == "Other"
    assert body[2]["project_metadata"][0]["key"] == "level"
    assert body[2]["project_metadata"][0]["value"] == "intermediate"


async def test_grade_metadata_filters_match_any_pair(
    emu: NextTechEmulator, session: aiohttp.ClientSession, graded: list[dict[str, Any]]
) -> None:
    project = (
        "project_metadata[][key]=level&project_metadata[][value]=intermediate"
        "&project_metadata[][key]=language&project_metadata[][value]=python"
    )
    assert await grade_ids(session, emu, project) == [2, 1]
    course = (
        "course_metadata[][key]=course&course_metadata[][value]=Python"
        "&course_metadata[][key]=id&course_metadata[][value]=1"
    )
    assert await grade_ids(session, emu, course) == [3, 2]
    assert await grade_ids(session, emu, f"{project}&{course}") == [2]


async def test_grade_course_uid_and_bounds(
    emu: NextTechEmulator, session: aiohttp.ClientSession, graded: list[dict[str, Any]]
) -> None:
    assert await grade_ids(session, emu, "course_uid[]=u1&course_uid[]=u2") == [2, 1]
    assert await grade_ids(session, emu, "after=2020-09-13T12:26:40.000Z") == [3, 2]
    assert await grade_ids(session, emu, "before=2020-09-13T12:26:42.000Z") == [2, 1]
    # remote_user_id is documented for contents only; grades ignore it
    assert await grade_ids(session, emu, "remote_user_id=r1") == [3, 2, 1]
    status, _ = await get(session, emu, "/grades", "course_metadata[][key]=x")
    assert status == 400


async def test_grades_snapshot(emu: NextTechEmulator, graded: list[dict[str, Any]]) -> None:
    assert emu.grades_snapshot(course_uid="u3") == [graded[2]]
    assert [g["id"] for g in emu.grades_snapshot(project_metadata={"level": "intermediate"})] == [1]


async def test_contents_snapshot_filters_like_the_server(emu: NextTechEmulator) -> None:
    def snapshot_ids(**filters: Any) -> list[int]:
        return [item["id"] for item in emu.contents_snapshot(**filters)]

    assert snapshot_ids() == [4, 3, 2, 1]
    assert snapshot_ids(course_uid=["u1", "u3"]) == [3, 1]
    assert snapshot_ids(course_uid="u2") == [2]
    assert snapshot_ids(remote_user_id="r2") == [3]
    assert snapshot_ids(project_metadata={"level": "intermediate", "language": "python"}) == [1]
    assert snapshot_ids(course_metadata=[("id", 1)]) == [1]
    assert snapshot_ids(after="2020-09-13T12:26:41Z", before=T0 + 3) == [3]
