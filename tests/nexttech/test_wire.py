"""Exact query strings and headers of Next Tech requests, pinned with aioresponses."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import pytest
from aioresponses import aioresponses

import nexttech_async as nt
from nexttech_async.testing import NextTechEmulator

BASE = "https://api.next.tech/v1"
TOKEN, SECRET = "nt_token_abc123", "nt_secret_value_that_must_not_leak"
ITEM = {"id": 1, "created_at": 1_602_112_380, "updated_at": 1_602_112_380, "name": "x",
        "metadata": [{"key": "level", "value": "intermediate", "id": 3,
                      "created_at": 1_602_112_380, "updated_at": 1_602_112_380}],
        "brand_new_field": {"kept": True}}


def sent(m: aioresponses) -> list[tuple[str, Any]]:
    return [(str(url), call) for (method, url), calls in m.requests.items() for call in calls]


async def test_list_sends_every_filter_in_its_documented_form() -> None:
    # The emulator logs the query string exactly as it arrived on the socket.
    async with NextTechEmulator() as emu:
        emu.add_content(dt.datetime(2020, 1, 2, tzinfo=dt.UTC), remote_user_id="lti-user-9",
                        metadata={"level": "intermediate", "language": "python"},
                        course_uid="196e2e6a-aaaa", course_metadata=[{"key": "course",
                                                                      "value": "Python"}])
        async with nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url) as s:
            page = await s.contents.list(
                before=dt.datetime(2020, 10, 7, 23, 13, tzinfo=dt.UTC),
                after="2019-10-07T00:00:00+00:00",
                remote_user_id="lti-user-9",
                project_metadata={"level": "intermediate", "language": "python"},
                course_metadata=[("course", "Python")],
                course_uid=["196e2e6a-aaaa", "6e17916f-bbbb"],
            )
        ((path, query, _),) = emu.request_log
    assert path == "/v1/contents"
    assert query == (
        "before=2020-10-07T23:13:00.000Z&after=2019-10-07T00:00:00.000Z"
        "&remote_user_id=lti-user-9"
        "&project_metadata[][key]=level&project_metadata[][value]=intermediate"
        "&project_metadata[][key]=language&project_metadata[][value]=python"
        "&course_metadata[][key]=course&course_metadata[][value]=Python"
        "&course_uid[]=196e2e6a-aaaa&course_uid[]=6e17916f-bbbb"
    )
    assert emu.secret_key not in query
    (content,) = page  # the emulator applied every filter and still found it
    assert content.created_at == dt.datetime(2020, 1, 2, tzinfo=dt.UTC)
    assert content.metadata_value("level") == "intermediate"


async def test_reserved_characters_in_filters_are_encoded() -> None:
    async with NextTechEmulator() as emu:
        async with nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url) as s:
            await s.grades.list(project_metadata=[("a&b", "c=d e+f")], course_uid="x/y")
        ((path, query, _),) = emu.request_log
    assert path == "/v1/grades"
    assert query == ("project_metadata[][key]=a%26b"
                     "&project_metadata[][value]=c%3Dd%20e%2Bf&course_uid[]=x%2Fy")


async def test_models_keep_unknown_fields_and_the_header_is_basic(mocked: aioresponses) -> None:
    mocked.get(re.compile(r"^https://api\.next\.tech/v1/contents$"), payload=[ITEM])
    async with nt.NextTechSession(TOKEN, SECRET, base_url=BASE) as s:
        (content,) = await s.contents.list()
    ((url, call),) = sent(mocked)
    expected = base64.b64encode(f"{TOKEN}:{SECRET}".encode()).decode()
    assert call.kwargs["headers"]["Authorization"] == f"Basic {expected}"
    assert SECRET not in url
    assert content.created_at == dt.datetime(2020, 10, 7, 23, 13, tzinfo=dt.UTC)
    assert content.metadata[0].key == "level" and content.metadata_value("level") == "intermediate"
    assert content.raw["brand_new_field"] == {"kept": True}


async def test_dates_are_zero_padded_utc_with_milliseconds() -> None:
    cet = dt.timezone(dt.timedelta(hours=2))
    async with NextTechEmulator() as emu:
        async with nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url) as s:
            await s.contents.list(after=dt.datetime(2021, 3, 4, 5, 6, 7, 891_999, tzinfo=cet))
        ((_, query, _),) = emu.request_log
    assert query == "after=2021-03-04T03:06:07.891Z"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"before": dt.datetime(2020, 1, 1)}, "before"),
        ({"after": "2020-01-01T00:00:00"}, "after"),
        ({"after": "yesterday"}, "after"),
        ({"after": 1_600_000_000}, "after"),
        ({"after": "2021-01-01T00:00:00Z", "before": "2020-01-01T00:00:00Z"}, "after"),
        ({"project_metadata": "level=intermediate"}, "project_metadata"),
        ({"project_metadata": [("level",)]}, "project_metadata"),
        ({"course_metadata": {"course": {"nested": 1}}}, "course_metadata"),
        ({"course_uid": ["ok", ""]}, "course_uid"),
        ({"remote_user_id": ""}, "remote_user_id"),
    ],
)
async def test_bad_filters_fail_before_any_request(
    mocked: aioresponses, kwargs: dict[str, Any], argument: str
) -> None:
    async with nt.NextTechSession(TOKEN, SECRET, base_url=BASE) as s:
        with pytest.raises(nt.InvalidArgumentError, match=rf"^{re.escape(argument)}"):
            await s.contents.list(**kwargs)
        with pytest.raises(nt.InvalidArgumentError, match=rf"^{re.escape(argument)}"):
            s.contents.iterate(**kwargs)
    assert sent(mocked) == []


def test_session_settings_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXTTECH_API_TOKEN", TOKEN)
    monkeypatch.setenv("NEXTTECH_SECRET_KEY", SECRET)
    monkeypatch.setenv("NEXTTECH_API_BASE_URL", "http://127.0.0.1:9/v1")
    s = nt.NextTechSession()
    assert s.base_url == "http://127.0.0.1:9/v1"
    assert SECRET not in repr(s) and TOKEN not in repr(s)
    with pytest.raises(nt.InvalidArgumentError, match=r"^base_url: .*plain http"):
        nt.NextTechSession(TOKEN, SECRET, base_url="http://api.next.tech/v1")
    monkeypatch.delenv("NEXTTECH_SECRET_KEY")
    with pytest.raises(nt.InvalidArgumentError, match=r"^secret_key: .*NEXTTECH_SECRET_KEY"):
        nt.NextTechSession(TOKEN)
