"""One version, written in pyproject.toml; each SDK's sessions name themselves in User-Agent."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from aioresponses import aioresponses
from fast_settings import FAST

import edu_async_core
import nexttech_async as nt
import tutorflow_async as tf
from edu_async_core import defaults as core_defaults
from edu_async_core import version
from nexttech_async import defaults as nt_defaults
from tutorflow_async import defaults as tf_defaults
from tutorflow_async.testing import TutorFlowEmulator

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def pyproject_version() -> str:
    version_ = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    assert isinstance(version_, str)
    return version_


def agents(emu: TutorFlowEmulator) -> list[str]:
    return [
        value
        for record in emu.request_log
        for name, value in record.headers.items()
        if name.lower() == "user-agent"
    ]


# -- the version ----------------------------------------------------------------------------


def test_every_package_reports_the_pyproject_version() -> None:
    expected = pyproject_version()
    assert tf.__version__ == nt.__version__ == edu_async_core.__version__ == expected
    assert importlib.metadata.version("tutorflow-async") == expected


def test_a_source_tree_without_metadata_reads_its_pyproject(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert version.distribution_version() == pyproject_version()


def test_the_fallback_reads_only_this_distributions_pyproject(tmp_path: Path) -> None:
    read = version._source_tree_version
    assert read(tmp_path / "absent.toml") == version.UNKNOWN
    other = tmp_path / "other.toml"
    other.write_text('[project]\nname = "something-else"\nversion = "9.9"\n')
    assert read(other) == version.UNKNOWN
    broken = tmp_path / "broken.toml"
    broken.write_text("[project\n")
    assert read(broken) == version.UNKNOWN
    ours = tmp_path / "ours.toml"
    ours.write_text('[project]\nname = "tutorflow-async"\nversion = "1.2.3"\n')
    assert read(ours) == "1.2.3"


def test_no_version_literal_outside_pyproject() -> None:
    # A version string written in a module drifts from pyproject.toml at the next release.
    literal = re.compile(r"""["']\d+\.\d+(\.\d+)?["']""")
    root = PYPROJECT.parent
    for package in ("edu_async_core", "tutorflow_async", "nexttech_async"):
        for path in (root / package).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                if "version" in line.lower() or "agent" in line.lower():
                    assert not literal.search(line), f"{path.relative_to(root)}: {line.strip()}"


# -- user agents ----------------------------------------------------------------------------


def test_each_sdk_has_its_own_user_agent() -> None:
    current = pyproject_version()
    by_package = {
        "edu-async-core": core_defaults.USER_AGENT,
        "tutorflow-async": tf_defaults.TUTORFLOW_USER_AGENT,
        "nexttech-async": nt_defaults.NEXTTECH_USER_AGENT,
    }
    for product, agent in by_package.items():
        assert agent == f"{product}/{current} (+aiohttp)"


async def test_content_and_admin_sessions_send_the_tutorflow_agent() -> None:
    async with TutorFlowEmulator() as emu:
        key = emu.create_api_key(name="ua", rate_limit_per_minute=10_000)
        async with tf.ContentSession(key.api_key, base_url=emu.base_url, config=FAST) as s:
            job = await s.expansions.create({"title": "x"}, idempotency_key="ua-1")
            await s.expansions.get(job.id)
        async with tf.AdminSession.login(
            emu.admin_email, emu.admin_password, base_url=emu.base_url, config=FAST
        ) as admin:
            await admin.api_keys.list()
        paths = [record.path for record in emu.request_log]
        sent = agents(emu)
    assert "/auth/login" in paths  # the login's own transport names itself too
    assert len(sent) == len(paths) >= 4
    assert set(sent) == {f"tutorflow-async/{tf.__version__} (+aiohttp)"}


async def test_the_callers_user_agent_wins_for_tutorflow() -> None:
    mine = tf.TransportConfig(retry=FAST.retry, user_agent="my-service/7")
    async with TutorFlowEmulator() as emu:
        key = emu.create_api_key(name="ua", rate_limit_per_minute=10_000)
        async with tf.ContentSession(key.api_key, base_url=emu.base_url, config=mine) as s:
            await s.expansions.create({"title": "x"}, idempotency_key="ua-2")
        async with tf.AdminSession.login(
            emu.admin_email, emu.admin_password, base_url=emu.base_url, config=mine
        ) as admin:
            await admin.api_keys.list()
        sent = agents(emu)
    assert len(sent) >= 3
    assert set(sent) == {"my-service/7"}


def next_tech_agents(m: aioresponses) -> list[str]:
    return [call.kwargs["headers"]["User-Agent"] for calls in m.requests.values() for call in calls]


async def test_next_tech_sessions_send_their_own_agent(mocked: aioresponses) -> None:
    # The Next Tech emulator's request log keeps path and query only, so the headers are
    # read where the transport hands them to aiohttp.
    contents = re.compile(r"^https://api\.next\.tech/v1/contents$")
    mocked.get(contents, payload=[])
    mocked.get(contents, payload=[])
    async with nt.NextTechSession("nt_token_ua", "nt_secret_ua") as s:
        await s.contents.list()
    mine = nt.TransportConfig(user_agent="my-service/7")
    async with nt.NextTechSession("nt_token_ua", "nt_secret_ua", config=mine) as s:
        await s.contents.list()
    assert next_tech_agents(mocked) == [
        f"nexttech-async/{nt.__version__} (+aiohttp)",
        "my-service/7",
    ]
