"""The pytest plugin as a user meets it: a fresh pytest run in a subprocess.

Each run loads the plugin through its ``pytest11`` entry point in an empty project with
its own ini, in pytest-asyncio's strict and auto modes. Subprocesses keep event loops,
warnings filters and imported modules of these runs apart from this suite's.
"""

from __future__ import annotations

import pytest

INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
"""

# One file holds every scenario, so each mode costs one interpreter start, not many.
# Marked @pytest.mark.asyncio throughout, as strict mode requires (auto mode ignores it).
USER_TESTS = """
import aiohttp
import pytest

import nexttech_async as nt
import tutorflow_async as tf
from nexttech_async.testing import Fault as NextTechFault
from nexttech_async.testing import PageSchedule
from tutorflow_async.testing import Fault

LESSON = {"language": "en", "level": {"id": "a1", "lessons": [{"id": "greetings"}]}}
seen = {}


@pytest.mark.asyncio
async def test_three_lines(tutorflow_content_session):
    job = await tutorflow_content_session.expansions.create(LESSON)
    result = await tutorflow_content_session.wait_for_expansion(job.id, poll_interval=0.05)
    assert result.job.status == tf.JobStatus.COMPLETED


@pytest.mark.asyncio
@pytest.mark.tutorflow_emulator(failure_rate=1.0)
async def test_failure_rate_marker(tutorflow_content_session):
    job = await tutorflow_content_session.expansions.create(LESSON)
    with pytest.raises(tf.ExpansionFailed):
        await tutorflow_content_session.wait_for_expansion(job.id, poll_interval=0.05)


@pytest.mark.asyncio
@pytest.mark.tutorflow_emulator(faults=[Fault(kind="status", status=503, method="POST")])
async def test_tutorflow_faults_and_admin(
    tutorflow_emulator, tutorflow_content_session, tutorflow_admin_session
):
    await tutorflow_content_session.expansions.create(LESSON, idempotency_key="k1")
    assert tutorflow_emulator.counters.by_status[503] == 1
    assert tutorflow_emulator.jobs_per_idempotency_key() == {"k1": 1}
    assert [k.name for k in await tutorflow_admin_session.api_keys.list()] == ["pytest"]
    seen["tutorflow"] = (
        tutorflow_emulator.base_url, tutorflow_content_session, tutorflow_admin_session
    )


@pytest.mark.asyncio
@pytest.mark.nexttech_emulator(
    contents=20, page_size=1, before_inclusive=True,
    faults=[NextTechFault(kind="status", status=500)],
)
async def test_nexttech_walk(nexttech_emulator, nexttech_session):
    assert nexttech_emulator.bounds.before_inclusive
    ids = [c.id async for c in nexttech_session.contents.iterate()]
    assert len(ids) == 20
    assert ids == [item["id"] for item in nexttech_emulator.contents_snapshot()]
    assert nexttech_emulator.counters.faults_injected == 1
    seen["nexttech"] = (nexttech_emulator.base_url, nexttech_session)


@pytest.mark.asyncio
@pytest.mark.nexttech_emulator(
    contents=30, page_schedule="3..5", filter_after_limit=True, hidden_fraction=0.5,
    max_hidden_run=2,
)
async def test_nexttech_page_knobs(nexttech_emulator):
    assert nexttech_emulator.page_schedule == PageSchedule.random(3, 5)
    hidden = set(nexttech_emulator.hidden_ids("contents"))
    assert hidden
    headers = {"Authorization": nexttech_emulator.authorization}
    async with aiohttp.ClientSession() as http:
        for _ in range(6):
            async with http.get(nexttech_emulator.base_url + "/contents", headers=headers) as r:
                assert not hidden & {item["id"] for item in await r.json()}
    sizes = nexttech_emulator.page_sizes_served
    assert len(sizes) == 6 and set(sizes) <= {3, 4, 5}


@pytest.mark.asyncio
async def test_everything_was_closed():
    tf_url, content, admin = seen["tutorflow"]
    nt_url, session = seen["nexttech"]
    assert content.closed and admin.closed and session.closed
    async with aiohttp.ClientSession() as http:
        for url in (tf_url, nt_url):
            with pytest.raises(aiohttp.ClientConnectionError):
                async with http.get(url):
                    pass


@pytest.mark.asyncio
@pytest.mark.tutorflow_emulator(procesing_seconds=1.0)
async def test_bad_tutorflow_knob(tutorflow_emulator):
    pass


@pytest.mark.asyncio
@pytest.mark.nexttech_emulator(contents=3, pagesize=1)
async def test_bad_nexttech_knob(nexttech_session):
    pass
"""

COMMON_ARGS = (
    "-p",
    "no:cacheprovider",
    "--strict-markers",
    "-W",
    "error::ResourceWarning",
    "-W",
    "error::pytest.PytestUnraisableExceptionWarning",
    "-rE",
)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_user_suite_runs_in_both_asyncio_modes(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess(*COMMON_ARGS, "-o", f"asyncio_mode={mode}")
    result.assert_outcomes(passed=6, errors=2, warnings=0)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_bad_tutorflow_knob*",
            "tutorflow_emulator marker: *unknown keyword argument(s) 'procesing_seconds'"
            " (did you mean 'processing_seconds'?)*",
            "*ERROR at setup of test_bad_nexttech_knob*",
            "nexttech_emulator marker: *unknown keyword argument(s) 'pagesize'"
            " (did you mean 'page_size'?)*",
        ],
    )
    output = result.stdout.str() + result.stderr.str()
    # The bad knobs fail at setup with one line each, not a traceback into the plugin.
    assert "pytest_plugin.py" not in output
    assert "Unclosed" not in output
    assert f"mode=Mode.{mode.upper()}" in output


def test_without_pytest_asyncio_other_tests_still_run(pytester: pytest.Pytester) -> None:
    # The entry point loads the plugin wherever the SDK is installed; without
    # pytest-asyncio it must not break the run, only fail the fixtures, saying why.
    pytester.makeconftest(
        """
        import sys

        sys.modules["pytest_asyncio"] = None  # makes importing it fail, as if absent
        pytest_plugins = [
            "tutorflow_async.testing.pytest_plugin",
            "nexttech_async.testing.pytest_plugin",
        ]
        """
    )
    pytester.makepyfile(
        test_user="""
        def test_plain():
            pass

        def test_tutorflow(tutorflow_emulator):
            pass

        def test_nexttech(nexttech_session):
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:asyncio",
        "-p", "no:tutorflow_async", "-p", "no:nexttech_async", "-rE",
    )  # fmt: skip
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*the tutorflow_emulator fixture needs pytest-asyncio: pip install pytest-asyncio*",
            "*the nexttech_session fixture needs pytest-asyncio: pip install pytest-asyncio*",
        ],
    )
