"""The pytest plugin's fixtures and markers, used directly by this suite.

The plugin is loaded by its ``pytest11`` entry point, as in a user's project; this suite
runs in auto mode (strict mode is covered by ``test_pytest_plugin_pytester``).
"""

from __future__ import annotations

import datetime as dt
import math
import time

import aiohttp
import pytest

import nexttech_async as nt
import tutorflow_async as tf
from nexttech_async.testing import Fault as NextTechFault
from nexttech_async.testing import NextTechEmulator, PageSchedule
from nexttech_async.testing import pytest_plugin as nt_plugin
from tutorflow_async.testing import Fault, IssuedKey, TutorFlowEmulator
from tutorflow_async.testing import pytest_plugin as tf_plugin

LESSON = {"language": "en", "level": {"id": "a1", "lessons": [{"id": "greetings"}]}}
# The SDK's default first poll is 2 s away; tests have no reason to wait that long.
QUICK_POLL = 0.05


# -- TutorFlow -------------------------------------------------------------------------


async def test_three_line_usage_completes_a_job(
    tutorflow_content_session: tf.ContentSession,
) -> None:
    job = await tutorflow_content_session.expansions.create(LESSON)
    result = await tutorflow_content_session.wait_for_expansion(job.id, poll_interval=QUICK_POLL)
    assert result.job.status == tf.JobStatus.COMPLETED


async def test_defaults_suit_fast_tests(
    tutorflow_emulator: TutorFlowEmulator, tutorflow_api_key: IssuedKey
) -> None:
    config = tutorflow_emulator.config
    assert (config.queued_seconds, config.processing_seconds) == (0.0, 0.1)
    assert tutorflow_api_key.rate_limit_per_minute == 6000
    assert tutorflow_emulator.base_url.startswith("http://127.0.0.1:")
    assert tutorflow_emulator.pending_faults == []


@pytest.mark.tutorflow_emulator(failure_rate=1.0)
async def test_failure_rate_marker_fails_jobs(
    tutorflow_content_session: tf.ContentSession,
) -> None:
    job = await tutorflow_content_session.expansions.create(LESSON)
    with pytest.raises(tf.ExpansionFailed):
        await tutorflow_content_session.wait_for_expansion(job.id, poll_interval=QUICK_POLL)


@pytest.mark.tutorflow_emulator(rate_limit_per_minute=7, rate_limit_window=2.0)
async def test_rate_limit_marker_reaches_key_and_emulator(
    tutorflow_emulator: TutorFlowEmulator, tutorflow_api_key: IssuedKey
) -> None:
    assert tutorflow_api_key.rate_limit_per_minute == 7
    assert tutorflow_emulator.config.rate_limit_window == 2.0


@pytest.mark.tutorflow_emulator(seed=7, processing_seconds=5.0)
class TestMarkersMerge:
    @pytest.mark.tutorflow_emulator(processing_seconds=0.0)
    async def test_closest_marker_wins_per_knob(
        self, tutorflow_emulator: TutorFlowEmulator
    ) -> None:
        assert tutorflow_emulator.config.seed == 7
        assert tutorflow_emulator.config.processing_seconds == 0.0


@pytest.mark.tutorflow_emulator(faults=[Fault(kind="status", status=503)])
async def test_faults_are_armed_for_the_body_not_the_login(
    tutorflow_emulator: TutorFlowEmulator,
    tutorflow_api_key: IssuedKey,
    tutorflow_admin_session: tf.AdminSession,
) -> None:
    # The login of tutorflow_admin_session ran before the body: the fault is untouched.
    assert tutorflow_emulator.pending_faults == [Fault(kind="status", status=503)]
    keys = await tutorflow_admin_session.api_keys.list()  # hit once, then retried
    assert tutorflow_api_key.key_id in {k.id for k in keys}
    assert tutorflow_emulator.counters.faults_injected == 1
    assert tutorflow_emulator.counters.by_status[503] == 1
    assert tutorflow_emulator.pending_faults == []


@pytest.mark.tutorflow_emulator(
    faults=[Fault(kind="reset", method="POST", after_commit=True)], processing_seconds=0.0
)
async def test_faults_reach_the_content_session(
    tutorflow_emulator: TutorFlowEmulator, tutorflow_content_session: tf.ContentSession
) -> None:
    job = await tutorflow_content_session.expansions.create(LESSON, idempotency_key="once")
    # The reset came after the commit; the retry found the same job instead of a second.
    assert tutorflow_emulator.jobs_per_idempotency_key() == {job.idempotency_key: 1}
    assert tutorflow_emulator.counters.faults_injected == 1


@pytest.mark.tutorflow_emulator(
    final_status="expired",
    status_case="upper",
    result_lag_seconds=30.0,
    result_lag_status=409,
    queued_seconds=0.0,
    processing_seconds=10.0,
)
async def test_status_misbehaviour_markers_reach_the_emulator(
    tutorflow_emulator: TutorFlowEmulator, tutorflow_api_key: IssuedKey
) -> None:
    config = tutorflow_emulator.config
    assert (config.final_status, config.status_case) == ("expired", "upper")
    assert (config.result_lag_seconds, config.result_lag_status) == (30.0, 409)
    url = f"{tutorflow_emulator.base_url}/v1/content/integrations/expansions"
    bearer = {"Authorization": f"Bearer {tutorflow_api_key.api_key}"}
    async with aiohttp.ClientSession(headers=bearer) as http:
        async with http.post(url, json={"payload": LESSON}) as r:
            job = (await r.json())["job"]
        assert job["status"] == "PROCESSING"
        tutorflow_emulator.advance(10.0)
        async with http.get(f"{url}/{job['id']}") as r:
            assert (await r.json())["job"]["status"] == "EXPIRED"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"procesing_seconds": 1}, "'procesing_seconds' (did you mean 'processing_seconds'?)"),
        ({"bogus": 1}, "unknown keyword argument(s) 'bogus'; known: "),
        ({"failure_rate": 2.0}, "invalid EmulatorConfig knob"),
        ({"result_lag_status": 500}, "result_lag_status must be 404 or 409"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute must be an int >= 1"),
        ({"poll_interval": 0}, "poll_interval must be a number > 0"),
        ({"poll_interval": 1.0, "max_interval": 0.5}, "max_interval must not be shorter"),
        ({"faults": Fault(kind="reset")}, "faults must be a list"),
        ({"faults": [NextTechFault(kind="reset")]}, "tutorflow_async.testing.Fault objects"),
    ],
)
def test_bad_tutorflow_marker_fails_naming_the_knob(
    request: pytest.FixtureRequest, kwargs: dict[str, object], message: str
) -> None:
    request.applymarker(pytest.mark.tutorflow_emulator(**kwargs))
    with pytest.raises(pytest.fail.Exception) as failed:
        tf_plugin.marker_options(request.node)
    assert message in str(failed.value)
    assert str(failed.value).startswith("tutorflow_emulator marker: ")


@pytest.mark.tutorflow_emulator(1.0)
def test_positional_marker_arguments_are_refused(request: pytest.FixtureRequest) -> None:
    with pytest.raises(pytest.fail.Exception, match="keyword arguments only"):
        tf_plugin.marker_options(request.node)


def test_markers_are_registered(pytestconfig: pytest.Config) -> None:
    lines = pytestconfig.getini("markers")
    assert any(line.startswith("tutorflow_emulator(**knobs):") for line in lines)
    assert any(line.startswith("nexttech_emulator(**knobs):") for line in lines)


# -- Next Tech -------------------------------------------------------------------------


async def _content_ids(session: nt.NextTechSession) -> list[int]:
    return [content.id async for content in session.contents.iterate()]


def _snapshot_ids(emulator: NextTechEmulator) -> list[int]:
    return [int(item["id"]) for item in emulator.contents_snapshot()]


@pytest.mark.nexttech_emulator(contents=50, page_size=1)
async def test_walk_yields_every_seeded_content_at_page_size_one(
    nexttech_emulator: NextTechEmulator, nexttech_session: nt.NextTechSession
) -> None:
    assert nexttech_emulator.page_size == 1
    ids = await _content_ids(nexttech_session)
    assert len(ids) == 50
    assert ids == _snapshot_ids(nexttech_emulator)


@pytest.mark.nexttech_emulator(contents=12, page_size=2, before_inclusive=True)
async def test_inclusive_before_marker(
    nexttech_emulator: NextTechEmulator, nexttech_session: nt.NextTechSession
) -> None:
    assert nexttech_emulator.bounds.before_inclusive
    assert not nexttech_emulator.bounds.after_inclusive
    assert await _content_ids(nexttech_session) == _snapshot_ids(nexttech_emulator)


@pytest.mark.nexttech_emulator(contents=30, page_size=4, time_resolution="second")
async def test_whole_second_storage_walks_exact_ties(
    nexttech_emulator: NextTechEmulator, nexttech_session: nt.NextTechSession
) -> None:
    # Stored whole seconds, the three contents of each second are one instant: a tie
    # smaller than the page, which the walk must still return exactly once each.
    assert nexttech_emulator.config.time_resolution == "second"
    assert await _content_ids(nexttech_session) == _snapshot_ids(nexttech_emulator)


@pytest.mark.nexttech_emulator(
    contents=9, faults=[NextTechFault(kind="status", status=503), NextTechFault(kind="malformed")]
)
async def test_nexttech_faults_are_applied(
    nexttech_emulator: NextTechEmulator, nexttech_session: nt.NextTechSession
) -> None:
    assert len(nexttech_emulator.pending_faults) == 2
    assert len(await _content_ids(nexttech_session)) == 9
    assert nexttech_emulator.counters.faults_injected == 2
    assert nexttech_emulator.counters.by_status[503] == 1


async def _page_lengths(emulator: NextTechEmulator, requests: int, query: str = "") -> list[int]:
    """Lengths of ``requests`` raw list requests, sent past the SDK: only the emulator's
    own behaviour is under test here."""
    headers = {"Authorization": emulator.authorization}
    url = emulator.base_url + "/contents" + (f"?{query}" if query else "")
    lengths = []
    async with aiohttp.ClientSession() as http:
        for _ in range(requests):
            async with http.get(url, headers=headers) as response:
                assert response.status == 200
                lengths.append(len(await response.json()))
    return lengths


@pytest.mark.nexttech_emulator(contents=40, page_schedule="3..5")
async def test_page_schedule_marker_gives_pages_of_three_to_five(
    nexttech_emulator: NextTechEmulator,
) -> None:
    assert nexttech_emulator.page_schedule == PageSchedule.random(3, 5)
    assert nexttech_emulator.page_size == 100, "page_size stays the fixed default"
    lengths = await _page_lengths(nexttech_emulator, 30)
    assert set(lengths) == {3, 4, 5}
    assert lengths == nexttech_emulator.page_sizes_served


@pytest.mark.nexttech_emulator(contents=20, page_schedule=PageSchedule.cycle([2, 7]))
async def test_page_schedule_marker_takes_a_schedule_object(
    nexttech_emulator: NextTechEmulator,
) -> None:
    assert await _page_lengths(nexttech_emulator, 4) == [2, 7, 2, 7]


@pytest.mark.nexttech_emulator(
    contents=300, hidden_fraction=0.5, max_hidden_run=2, filter_after_limit=True, seed=5,
    page_size=3,
)  # fmt: skip
async def test_hiding_and_filter_after_limit_markers_reach_the_emulator(
    nexttech_emulator: NextTechEmulator,
) -> None:
    config = nexttech_emulator.config
    assert (config.hidden_fraction, config.max_hidden_run, config.filter_after_limit) == (
        0.5,
        2,
        True,
    )
    hidden = set(nexttech_emulator.hidden_ids("contents"))
    # The plugin seeds oldest first, so ids are time order and the cap holds in time.
    runs = "".join("h" if item_id in hidden else "." for item_id in range(1, 301))
    assert "hh" in runs and "hhh" not in runs
    assert len(nexttech_emulator.contents_snapshot()) == 300 - len(hidden)
    # After the LIMIT: the level filter keeps about a third of each page of 3.
    query = "project_metadata[][key]=level&project_metadata[][value]=advanced"
    assert min(await _page_lengths(nexttech_emulator, 1, query)) <= 1


@pytest.mark.nexttech_emulator(
    contents=[{"created_at": 1_700_000_000, "hidden": True}, 1_700_000_001]
)
async def test_seed_entries_may_be_hidden(nexttech_emulator: NextTechEmulator) -> None:
    assert nexttech_emulator.hidden_ids("contents") == [1]
    assert [item["id"] for item in nexttech_emulator.contents_snapshot()] == [2]


WHEN = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.nexttech_emulator(
    contents=[WHEN, {"created_at": WHEN.timestamp() + 1, "name": "newest"}], grades=4
)
async def test_seed_lists_and_grades(
    nexttech_emulator: NextTechEmulator, nexttech_session: nt.NextTechSession
) -> None:
    contents = [c async for c in nexttech_session.contents.iterate()]
    assert contents[0].name == "newest"
    assert [c.created_at for c in contents] == [WHEN + dt.timedelta(seconds=1), WHEN]
    grades = [g async for g in nexttech_session.grades.iterate()]
    assert len(grades) == 4


@pytest.mark.nexttech_emulator(contents=6)
async def test_seeded_contents_carry_levels(nexttech_session: nt.NextTechSession) -> None:
    levels = [
        c.metadata_value("level")
        async for c in nexttech_session.contents.iterate(project_metadata={"level": "advanced"})
    ]
    assert levels == ["advanced", "advanced"]


def test_seed_times_are_distinct_recent_and_tied_per_second() -> None:
    now = 1_700_000_000.7
    times = nt_plugin.seed_times(50, now)
    assert len(set(times)) == 50
    assert times == sorted(times)
    assert max(times) < math.floor(now)
    seconds = [math.floor(t) for t in times]
    assert all(seconds.count(s) <= 3 for s in seconds)
    assert seconds.count(seconds[0]) == 3
    assert nt_plugin.seed_times(0, now) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"page_sise": 1}, "'page_sise' (did you mean 'page_size'?)"),
        ({"page_size": 0}, "invalid NextTechEmulatorConfig knob"),
        ({"contents": -1}, "contents must be >= 0"),
        ({"grades": "many"}, "grades must be a count"),
        ({"faults": [Fault(kind="reset")]}, "nexttech_async.testing.Fault objects"),
        ({"page_schedule": "3..x"}, "page_schedule: page schedule '3..x' is not one of"),
        ({"page_schedule": "0,4"}, "page_schedule: page schedule '0,4'"),
        ({"page_schedule": 4}, "page_schedule must be a PageSchedule"),
        ({"hidden_fraction": 0.5}, "hidden_fraction=0.5 needs max_hidden_run >= 1"),
        ({"hidden_fraction": 2.0, "max_hidden_run": 1}, "'hidden_fraction' must be <= 1.0"),
        ({"max_hidden_run": -1}, "'max_hidden_run' must be >= 0"),
    ],
)
def test_bad_nexttech_marker_fails_naming_the_knob(
    request: pytest.FixtureRequest, kwargs: dict[str, object], message: str
) -> None:
    request.applymarker(pytest.mark.nexttech_emulator(**kwargs))
    with pytest.raises(pytest.fail.Exception) as failed:
        nt_plugin.marker_options(request.node)
    assert message in str(failed.value)
    assert str(failed.value).startswith("nexttech_emulator marker: ")


# A naive datetime, on purpose: the emulator refuses it and the message must say which entry.
@pytest.mark.nexttech_emulator(contents=[dt.datetime(2026, 1, 1)])
def test_bad_seed_entry_fails_naming_it(request: pytest.FixtureRequest) -> None:
    options = nt_plugin.marker_options(request.node)
    with pytest.raises(pytest.fail.Exception, match=r"cannot seed contents entry .*naive"):
        nt_plugin._add_items(NextTechEmulator(), options)


def test_seeded_times_are_recent() -> None:
    emulator = NextTechEmulator()
    nt_plugin._add_items(
        emulator,
        nt_plugin.NextTechMarkerOptions(config=emulator.config, contents=5, grades=0, faults=()),
    )
    newest = emulator.contents_snapshot()[0]["created_at"]
    assert time.time() - 10 < newest < time.time()
