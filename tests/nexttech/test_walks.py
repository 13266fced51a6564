"""Walk scenarios through the SDK against the Next Tech emulator."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator

import pytest
from aioresponses import aioresponses
from fast_settings import FAST

import nexttech_async as nt
from nexttech_async.testing import Fault, NextTechEmulator, NextTechEmulatorConfig

T0 = 1_700_000_000.0
AFTER = dt.datetime.fromtimestamp(T0 - 1, dt.UTC)
BEFORE = dt.datetime.fromtimestamp(T0 + 400, dt.UTC)


def seed(emu: NextTechEmulator, count: int = 600) -> None:
    # Bursts of ties: several items per second, some seconds crowded beyond a page.
    stamps = [T0 + (i // 7) + (i % 7) * 0.013 for i in range(count)]
    stamps += [T0 + 50 + k * 0.004 for k in range(40)]  # one second, 40 items
    emu.add_contents(stamps, metadata={"level": "intermediate"})


@pytest.fixture
async def emu() -> AsyncIterator[NextTechEmulator]:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=25)) as e:
        seed(e)
        yield e


async def collect(walk: nt.AsyncWalk[nt.Content], into: list[int]) -> None:
    async for content in walk:
        into.append(content.id)


def session(emu: NextTechEmulator) -> nt.NextTechSession:
    return nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url, config=FAST)


async def test_sequential_walk_is_exact(emu: NextTechEmulator) -> None:
    truth = [c["id"] for c in emu.contents_snapshot()]
    async with session(emu) as s:
        walk = s.contents.iterate(project_metadata={"level": "intermediate"})
        got = [c.id async for c in walk]
    assert got == truth or (sorted(got) == sorted(truth) and len(got) == len(set(got)))
    created = [emu_item["created_at"] for emu_item in emu.contents_snapshot()]
    assert len(got) == len(created) == 640


@pytest.mark.parametrize("shards", [2, 5, 8])
async def test_sharded_walk_gives_the_sequential_sequence(
    emu: NextTechEmulator, shards: int
) -> None:
    async with session(emu) as s:
        sequential = [(c.id, c.created_at) async for c in s.contents.iterate(
            after=AFTER, before=BEFORE)]
        sharded = s.contents.iterate(after=AFTER, before=BEFORE, shards=shards)
        assert isinstance(sharded, nt.ShardedWalk) and sharded.shards == shards
        ordered = [(c.id, c.created_at) async for c in sharded]
        unordered = [c.id async for c in s.contents.iterate(after=AFTER, before=BEFORE,
                                                            shards=shards, ordered=False)]
    assert [t for _, t in ordered] == [t for _, t in sequential]  # newest first, same seconds
    assert sorted(ordered) == sorted(sequential) and len(sequential) == 640
    assert sorted(unordered) == sorted(i for i, _ in sequential)


async def test_an_ordered_sharded_walk_resumes_sequentially(emu: NextTechEmulator) -> None:
    async with session(emu) as s:
        sequential = [c.id async for c in s.contents.iterate(after=AFTER, before=BEFORE)]
        for stop in (1, 100, 333, 639):
            sharded = s.contents.iterate(after=AFTER, before=BEFORE, shards=4)
            head = [(await anext(sharded)).id for _ in range(stop)]
            token = sharded.resume_token
            await sharded.aclose()
            tail = [c.id async for c in s.contents.iterate(resume=token)]
            assert sorted(head + tail) == sorted(sequential) and not set(head) & set(tail)
        async with s.contents.iterate(after=AFTER, before=BEFORE, shards=2,
                                      ordered=False) as unordered:
            await anext(unordered)
            with pytest.raises(nt.CursorError, match="ordered=True"):
                _ = unordered.resume_token


async def test_walk_rides_out_faults_on_a_fifth_of_requests(emu: NextTechEmulator) -> None:
    truth = sorted(c["id"] for c in emu.contents_snapshot())
    for kind in ("status", "reset", "malformed", "html"):
        emu.add_fault(Fault(kind=kind, probability=0.05, times=None,
                            status=503 if kind == "status" else None))
    emu.add_fault(Fault(kind="status", status=429, retry_after=0, probability=0.05, times=None))
    patient = nt.TransportConfig(retry=nt.RetryPolicy(max_attempts=8, backoff_base=0.01,
                                                      backoff_max=0.05))
    async with nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url,
                                  config=patient) as s:
        got = [c.id async for c in s.contents.iterate()]
    assert emu.counters.faults_injected > 5
    assert sorted(got) == truth and len(got) == len(set(got))


async def test_whole_second_storage_tie_beyond_a_page_raises_naming_it() -> None:
    config = NextTechEmulatorConfig(page_size=5, time_resolution="second")
    async with NextTechEmulator(config) as emu:
        emu.add_contents([T0 + 1] * 3 + [T0 + 7.2] * 9 + [T0 + 9] * 2)
        async with session(emu) as s:
            seen: list[int] = []
            with pytest.raises(nt.TieOverflowError) as info:
                await collect(s.contents.iterate(), seen)
    err = info.value
    assert err.instant == "2023-11-14T22:13:27.000Z" and err.reached == 5
    assert isinstance(err, nt.NextTechError) and "2023-11-14T22:13:27.000Z" in str(err)
    assert len(seen) == len(set(seen)) >= 2  # the newer second came out before it stopped


async def test_grades_walk_with_the_same_cursor() -> None:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=3)) as emu:
        for i in range(20):
            emu.add_grade(T0 + i // 4 + (i % 4) * 0.1, course_name=f"c{i % 2}")
        truth = [g["id"] for g in emu.grades_snapshot()]
        async with session(emu) as s:
            grades = [g async for g in s.grades.iterate()]
            page = await s.grades.list()
    assert sorted(g.id for g in grades) == sorted(truth) and len(grades) == 20
    assert isinstance(grades[0], nt.Grade) and grades[0].course_name in {"c0", "c1"}
    assert len(page) == 3


async def test_resume_tokens_are_validated(emu: NextTechEmulator) -> None:
    async with session(emu) as s:
        walk = s.contents.iterate(project_metadata={"level": "intermediate"})
        first = [await anext(walk) for _ in range(30)]
        token = walk.resume_token
        assert len(token) < 400 and emu.secret_key not in token
        data = json.loads(token)
        assert data["f"] == {"project_metadata": [["level", "intermediate"]]}
        rest = [c.id async for c in s.contents.iterate(resume=token)]
        assert len(first) + len(rest) == 640
        assert not {c.id for c in first} & set(rest)
        for bad, why in [("{", "not a valid resume token"), ('{"v": 9}', "version"),
                         (token.replace('"contents"', '"grades"'), "for 'grades'"),
                         (token.replace('"s":{', '"s":{"win":[[5,1]],'), "window")]:
            with pytest.raises(nt.InvalidArgumentError, match=rf"^resume: .*{why}"):
                s.contents.iterate(resume=bad)
        with pytest.raises(nt.InvalidArgumentError, match=r"^resume: .*pass nothing else"):
            s.contents.iterate(resume=token, after=AFTER)
        with pytest.raises(nt.InvalidArgumentError, match=r"^after: .*sharded"):
            s.contents.iterate(shards=4)
        with pytest.raises(nt.InvalidArgumentError, match=r"^shards"):
            s.contents.iterate(shards=0, after=AFTER)


async def test_a_server_that_ignores_bounds_stops_the_walk(mocked: aioresponses) -> None:
    page = [{"id": i, "created_at": 1_600_000_100 - i} for i in range(1, 4)]
    mocked.get(re.compile(r"^https://api\.next\.tech/v1/contents.*$"), payload=page, repeat=True)
    async with nt.NextTechSession("tok", "sec", base_url="https://api.next.tech/v1") as s:
        got: list[int] = []
        with pytest.raises(nt.CursorStalledError, match="does not apply the bound"):
            await collect(s.contents.iterate(), got)
    assert got == [1, 2, 3]
    assert len(mocked.requests[next(iter(mocked.requests))]) <= 3


async def test_items_without_dates_are_a_bad_response(mocked: aioresponses) -> None:
    mocked.get(re.compile(r"^https://api\.next\.tech/v1/contents.*$"),
               payload=[{"id": 1, "created_at": "yesterday"}])
    async with nt.NextTechSession("tok", "sec", base_url="https://api.next.tech/v1") as s:
        with pytest.raises(nt.BadResponseError, match="integer created_at"):
            [c async for c in s.contents.iterate()]


async def test_walk_logs_no_secret(
    emu: NextTechEmulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    async with session(emu) as s:
        walk = s.contents.iterate()
        async for _ in walk:
            pass
        token = walk.resume_token
    text = "\n".join(r.getMessage() for r in debug_logs.records)
    assert "contents cursor: page of 25" in text and "GET /contents -> 200" in text
    for secret in (emu.secret_key, emu.api_token):
        assert secret not in text and secret not in token
