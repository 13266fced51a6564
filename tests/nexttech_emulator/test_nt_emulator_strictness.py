"""The Next Tech emulator exactly as strict as ``openapi/nexttech.yaml``, and its 405s.

The per-parameter decisions are in ``openapi/README.md``; every refusal is a 400 with a
JSON ``detail``, never a crash, and what the document allows is still answered.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from nt_http import get
from yarl import URL

from nexttech_async.testing import NextTechEmulator
from nexttech_async.testing._time import parse_iso_millis

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "nexttech.yaml"
QUERY_INSTANT = yaml.safe_load(SPEC.read_text())["components"]["schemas"]["QueryInstant"]


@pytest.fixture
async def emu() -> AsyncIterator[NextTechEmulator]:
    async with NextTechEmulator() as emulator:
        emulator.add_content(1_600_000_000)
        yield emulator


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"])
@pytest.mark.parametrize("path", ["/contents", "/grades"])
async def test_a_wrong_method_is_405_json_with_allow_before_credentials(
    emu: NextTechEmulator, session: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with session.request(method, emu.base_url + path) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "GET"
        if method != "HEAD":
            assert response.content_type == "application/json"
            detail = (await response.json())["detail"]
            assert method in detail
            assert "GET" in detail
    assert emu.counters.by_status == {405: 1}


@pytest.mark.parametrize("path", ["/contents%0A", "/con%0Atents", "/%0A", "/grades%0D%0A"])
async def test_a_path_holding_a_newline_is_a_json_404(
    emu: NextTechEmulator, session: aiohttp.ClientSession, path: str
) -> None:
    async with session.get(URL(emu.base_url + path, encoded=True)) as response:
        assert response.status == 404
        assert response.content_type == "application/json"
        assert "detail" in await response.json()
    assert emu.counters.requests == 1
    assert emu.counters.by_status == {404: 1}


@pytest.mark.parametrize(
    "query",
    [
        # Digits of other scripts: \d without re.ASCII took them, and int() read them.
        "before=%D9%A2%D9%A0%D9%A2%D9%A0-01-01T00:00Z",
        "after=2020-%EF%BC%91-01T00:00Z",
        "before=2020-01-01T00:00:0%DB%B1Z",
        # An offset's colon without its minutes.
        "before=2020-01-01T00:00%2B05:",
        # An empty course API key.
        "course_uid[]=",
        "course_uid[]=abc&course_uid[]=",
    ],
)
async def test_what_the_document_refuses_is_400(
    emu: NextTechEmulator, session: aiohttp.ClientSession, query: str
) -> None:
    status, body = await get(session, emu, "/contents", query)
    assert status == 400, body
    assert isinstance(body["detail"], str)


@pytest.mark.parametrize(
    "query",
    [
        "before=2020-10-7T23:13:00.000Z",
        "before=2000-02-29T00:00%2B23:59",
        "after=0001-01-01T00:00%2B01:00",
        "before=9999-12-31T23:59:59.999999999-23:59",
        "course_uid[]=x&remote_user_id=",
    ],
)
async def test_what_the_document_allows_is_answered(
    emu: NextTechEmulator, session: aiohttp.ClientSession, query: str
) -> None:
    status, body = await get(session, emu, "/contents", query)
    assert status == 200, body


# Two digits of other scripts: ARABIC-INDIC DIGIT TWO and FULLWIDTH DIGIT ZERO.
_INSTANT_ALPHABET = st.sampled_from([*"0123456789-:.,+TtZz ", "\u0662", "\uff10"])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(QUERY_INSTANT["pattern"], fullmatch=True, alphabet=_INSTANT_ALPHABET),
        st.from_regex(
            r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,3})?)?"
            r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)",
            fullmatch=True,
        ),
        st.text(_INSTANT_ALPHABET, max_size=30),
    )
)
def test_the_emulator_accepts_exactly_the_documented_instants(text: str) -> None:
    documented = re.search(QUERY_INSTANT["pattern"], text) is not None
    try:
        parse_iso_millis(text)
    except ValueError:
        accepted = False
    else:
        accepted = True
    assert accepted == documented, text
