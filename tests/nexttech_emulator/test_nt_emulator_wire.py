"""The Next Tech emulator over real HTTP: auth, routes, rendering, ordering, paging, bounds."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from nt_http import get
from yarl import URL

from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig

T0 = 1_600_000_000  # 2020-09-13T12:26:40Z, a whole second


def iso(epoch_ms: int) -> str:
    """The documented wire form of an instant, e.g. 2020-09-13T12:26:40.500Z."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
async def emu() -> AsyncIterator[NextTechEmulator]:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=100)) as emulator:
        yield emulator


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


# -- auth and routes -------------------------------------------------------------------------


async def test_missing_credentials_are_401_with_detail(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    status, body = await get(session, emu, "/contents", authenticated=False)
    assert (status, body) == (401, {"detail": "Invalid credentials"})


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(b"wrong-token:wrong-secret").decode(),
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-at-all").decode(),
        "Bearer some-token",
    ],
)
async def test_wrong_credentials_are_401(
    emu: NextTechEmulator, session: aiohttp.ClientSession, header: str
) -> None:
    status, body = await get(
        session, emu, "/grades", headers={"Authorization": header}, authenticated=False
    )
    assert (status, body) == (401, {"detail": "Invalid credentials"})


async def test_right_token_wrong_secret_is_401(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    header = aiohttp.encode_basic_auth(emu.api_token, emu.secret_key + "x")
    status, _ = await get(
        session, emu, "/contents", headers={"Authorization": header}, authenticated=False
    )
    assert status == 401


async def test_configured_credentials_are_the_ones_accepted(
    session: aiohttp.ClientSession,
) -> None:
    config = NextTechEmulatorConfig(api_token="tok", secret_key="sek")
    async with NextTechEmulator(config) as emu:
        assert (emu.api_token, emu.secret_key) == ("tok", "sek")
        header = "Basic " + base64.b64encode(b"tok:sek").decode()
        assert emu.authorization == header
        status, body = await get(
            session, emu, "/contents", headers={"Authorization": header}, authenticated=False
        )
    assert (status, body) == (200, [])


def test_default_credentials_are_random_and_secret_is_not_in_config_repr() -> None:
    first, second = NextTechEmulator(), NextTechEmulator()
    assert first.api_token != second.api_token
    assert first.secret_key != second.secret_key
    config = NextTechEmulatorConfig(secret_key="do-not-print")
    assert "do-not-print" not in repr(config)


@pytest.mark.parametrize("authenticated", [True, False])
async def test_secret_key_in_query_string_is_refused(
    emu: NextTechEmulator, session: aiohttp.ClientSession, authenticated: bool
) -> None:
    status, body = await get(
        session, emu, "/contents", f"secret_key={emu.secret_key}", authenticated=authenticated
    )
    assert status == 400
    assert "secret_key" in body["detail"]


async def test_unknown_routes_and_methods_answer_json(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    assert (await get(session, emu, "/nothing-here"))[0] == 404
    root = URL(emu.base_url).with_path("/elsewhere")
    async with session.get(root) as response:
        assert response.status == 404
        assert response.content_type == "application/json"
        assert "detail" in await response.json()
    auth = {"Authorization": emu.authorization}
    async with session.post(emu.base_url + "/contents", headers=auth) as response:
        assert response.status == 405
        assert "detail" in await response.json()


async def test_base_url_is_loopback_with_v1_and_needs_a_running_emulator() -> None:
    emu = NextTechEmulator()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    await emu.start()
    try:
        url = URL(emu.base_url)
        assert (url.host, url.path) == ("127.0.0.1", "/v1")
        assert url.port
    finally:
        await emu.close()
    await emu.close()  # closing twice is harmless


# -- rendering and order ---------------------------------------------------------------------


async def test_content_renders_like_the_documented_example(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    added = emu.add_content(
        T0 + 0.75, name="A content", metadata={"Course Name": "Intro"}, draft=True
    )
    status, body = await get(session, emu, "/contents")
    assert status == 200
    assert body == [added]
    item = body[0]
    assert set(item) == {
        "created_at",
        "updated_at",
        "id",
        "draft",
        "identifier",
        "editor_owned",
        "gradeable",
        "lti_url",
        "name",
        "position",
        "public_url",
        "metadata",
    }
    assert item["created_at"] == T0
    assert item["updated_at"] == T0
    assert isinstance(item["created_at"], int)
    assert item["draft"] is True
    assert item["position"] is None
    assert item["identifier"] in item["lti_url"]
    assert item["identifier"] in item["public_url"]
    assert item["metadata"] == [
        {"created_at": T0, "updated_at": T0, "id": 1, "key": "Course Name", "value": "Intro"}
    ]


async def test_extra_fields_are_rendered_and_reserved_ones_refused(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    later = datetime.fromtimestamp(T0 + 60, UTC)
    emu.add_content(T0, editor_owned=True, brand_new_field=[1, 2], updated_at=later)
    _, body = await get(session, emu, "/contents")
    assert body[0]["editor_owned"] is True
    assert body[0]["brand_new_field"] == [1, 2]
    assert body[0]["updated_at"] == T0 + 60
    with pytest.raises(ValueError, match="id"):
        emu.add_content(T0, id=99)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        NextTechEmulator().add_content(datetime(2020, 1, 1))


async def test_newest_first_with_ties_broken_by_id_descending(
    emu: NextTechEmulator, session: aiohttp.ClientSession
) -> None:
    base = datetime.fromtimestamp(T0, UTC)
    # Inserted out of order; three share one second, two share one millisecond.
    emu.add_content(base + timedelta(milliseconds=500))  # id 1
    emu.add_content(base + timedelta(seconds=2))  # id 2
    emu.add_content(base)  # id 3
    emu.add_content(base + timedelta(milliseconds=500))  # id 4
    emu.add_content(base + timedelta(seconds=2))  # id 5
    _, body = await get(session, emu, "/contents")
    assert ids(body) == [5, 2, 4, 1, 3]
    assert [item["created_at"] for item in body] == [T0 + 2, T0 + 2, T0, T0, T0]


async def test_page_size_cuts_to_the_newest_and_can_change_mid_walk(
    session: aiohttp.ClientSession,
) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=2)) as emu:
        emu.add_contents(T0 + n for n in range(5))
        assert ids((await get(session, emu, "/contents"))[1]) == [5, 4]
        emu.set_page_size(4)
        assert ids((await get(session, emu, "/contents"))[1]) == [5, 4, 3, 2]
        emu.set_page_size(1)
        query = f"before={iso((T0 + 4) * 1000)}"
        assert ids((await get(session, emu, "/contents", query))[1]) == [4]
        assert emu.counters.items_served == 2 + 4 + 1
        with pytest.raises(ValueError, match="at least 1"):
            emu.set_page_size(0)


# -- before / after at the boundary ------------------------------------------------------------

MS_ITEMS = (T0 * 1000, T0 * 1000 + 500, (T0 + 1) * 1000)  # ids 1, 2, 3
HALF = T0 * 1000 + 500
NEXT = (T0 + 1) * 1000


@pytest.mark.parametrize(
    ("after_ms", "before_ms", "inclusive", "expected"),
    [
        (None, HALF, False, [1]),
        (None, HALF, True, [2, 1]),
        (HALF, None, False, [3]),
        (HALF, None, True, [3, 2]),
        # a whole-second bound
        (None, NEXT, False, [2, 1]),
        (None, NEXT, True, [3, 2, 1]),
        (T0 * 1000, None, False, [3, 2]),
        (T0 * 1000, None, True, [3, 2, 1]),
        # one millisecond beside an item: inclusivity makes no difference
        (None, HALF + 1, False, [2, 1]),
        (HALF - 1, None, False, [3, 2]),
        # both bounds at once
        (T0 * 1000, NEXT, False, [2]),
        (T0 * 1000, NEXT, True, [3, 2, 1]),
    ],
)
async def test_bounds_at_the_boundary_millisecond_and_second(
    emu: NextTechEmulator,
    session: aiohttp.ClientSession,
    after_ms: int | None,
    before_ms: int | None,
    inclusive: bool,
    expected: list[int],
) -> None:
    emu.add_contents(ms / 1000 for ms in MS_ITEMS)
    emu.set_bounds(before_inclusive=inclusive, after_inclusive=inclusive)
    params = []
    if after_ms is not None:
        params.append(f"after={iso(after_ms)}")
    if before_ms is not None:
        params.append(f"before={iso(before_ms)}")
    status, body = await get(session, emu, "/contents", "&".join(params))
    assert status == 200
    assert ids(body) == expected
    after = None if after_ms is None else after_ms / 1000
    before = None if before_ms is None else before_ms / 1000
    assert ids(emu.contents_snapshot(after=after, before=before)) == expected


async def test_set_bounds_changes_one_side_only(emu: NextTechEmulator) -> None:
    emu.set_bounds(before_inclusive=True)
    assert (emu.bounds.before_inclusive, emu.bounds.after_inclusive) == (True, False)
    emu.set_bounds(after_inclusive=True)
    assert (emu.bounds.before_inclusive, emu.bounds.after_inclusive) == (True, True)


async def test_config_sets_the_initial_bounds(session: aiohttp.ClientSession) -> None:
    config = NextTechEmulatorConfig(before_inclusive=True, after_inclusive=True)
    async with NextTechEmulator(config) as emu:
        emu.add_content(T0)
        query = f"before={iso(T0 * 1000)}&after={iso(T0 * 1000)}"
        assert ids((await get(session, emu, "/contents", query))[1]) == [1]


async def test_second_resolution_truncates_stored_times(session: aiohttp.ClientSession) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(time_resolution="second")) as emu:
        added = emu.add_content(T0 + 0.999)
        assert added["created_at"] == T0
        cases = {
            f"before={iso(T0 * 1000)}": [],  # stored at T0.000 exactly, exclusive
            f"before={iso(T0 * 1000 + 1)}": [1],
            f"after={iso(T0 * 1000)}": [],
            f"after={iso(T0 * 1000 - 1)}": [1],
            f"after={iso(T0 * 1000 + 500)}": [],  # would match at millisecond resolution
        }
        for query, expected in cases.items():
            assert ids((await get(session, emu, "/contents", query))[1]) == expected, query
        emu.set_bounds(before_inclusive=True)
        assert ids((await get(session, emu, "/contents", f"before={iso(T0 * 1000)}"))[1]) == [1]


async def test_millisecond_resolution_keeps_milliseconds(session: aiohttp.ClientSession) -> None:
    async with NextTechEmulator() as emu:
        emu.add_content(T0 + 0.999)
        assert ids((await get(session, emu, "/contents", f"after={iso(T0 * 1000 + 998)}"))[1]) == [
            1
        ]
        assert ids((await get(session, emu, "/contents", f"after={iso(T0 * 1000 + 999)}"))[1]) == []


async def test_latency_delays_every_v1_answer(session: aiohttp.ClientSession) -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(latency=0.05)) as emu:
        loop_time = asyncio.get_running_loop().time
        started = loop_time()
        status, _ = await get(session, emu, "/contents")
        assert status == 200
        assert loop_time() - started >= 0.05
        assert emu.latency == 0.05
