"""Every example in README.md runs, against the emulators, so the guide cannot rot.

Which fenced blocks run:

- ``python``: each is a whole program, run with ``python``; a block that defines
  ``test_...`` functions is a test module and runs under ``pytest`` instead;
- ``sh``: shell examples, run with ``bash -euo pipefail`` (the console scripts on PATH).
  The port 8080 in them is swapped for a free one.
- ``bash``: set-up commands (install, quick start) that the suite itself stands on; not run.

Every run sees the credentials of two fresh emulators in the environment variables the
README documents, and works in a scratch folder holding a copy of ``examples/``. An
example that reads ``REDIS_URL`` also gets a real redis-server of its own
(tests/redis_server.py).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
from cli_helpers import base_env, free_port, run_process
from redis_server import running_redis

from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from nexttech_async.testing.samples import add_sample_contents, add_sample_grades
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: Seconds one example may take (the slowest waits out a few poll intervals).
EXAMPLE_LIMIT = 120.0

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


@attrs.frozen
class Example:
    language: str
    code: str
    section: str

    @property
    def name(self) -> str:
        return f"{self.section} ({self.language})"


def examples() -> list[Example]:
    text = README.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        language, code = match.group(1), match.group(2)
        if language not in ("python", "sh"):
            continue
        headings = re.findall(r"^## (.+)$", text[: match.start()], re.M)
        found.append(Example(language, code, headings[-1] if headings else "top"))
    return found


EXAMPLES = examples()


def test_the_readme_has_examples_of_every_task() -> None:
    sections = {e.section for e in EXAMPLES}
    for task in ("expansions", "admin", "waiting", "webhooks", "bulk", "Next Tech",
                 "Command line", "Emulators"):
        assert any(task in s for s in sections), f"no runnable example under {task!r}"


@pytest.fixture
async def readme_env(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    tutorflow_config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.3, seed=11)
    async with (
        TutorFlowEmulator(tutorflow_config) as tutorflow,
        NextTechEmulator(NextTechEmulatorConfig(page_size=25)) as nexttech,
    ):
        add_sample_contents(nexttech, 150)
        add_sample_grades(nexttech, 30)
        key = tutorflow.create_api_key(name="readme", rate_limit_per_minute=6000)
        shutil.copytree(ROOT / "examples", tmp_path / "examples")
        scripts = str(Path(sys.executable).parent)
        yield base_env(
            {
                "PATH": scripts + ":" + base_env().get("PATH", ""),
                "TUTORFLOW_API_BASE_URL": tutorflow.base_url,
                "TUTORFLOW_CONTENT_API_KEY": key.api_key,
                "TUTORFLOW_ADMIN_EMAIL": tutorflow.admin_email,
                "TUTORFLOW_ADMIN_PASSWORD": tutorflow.admin_password,
                "TUTORFLOW_ORGANIZATION_ID": tutorflow.organization_id,
                "TUTORFLOW_CLASSROOM_ID": "classroom-1",
                "NEXTTECH_API_BASE_URL": nexttech.base_url,
                "NEXTTECH_API_TOKEN": nexttech.api_token,
                "NEXTTECH_SECRET_KEY": nexttech.secret_key,
            }
        )


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
async def test_readme_example_runs(
    example: Example, readme_env: dict[str, str], tmp_path: Path
) -> None:
    if example.language == "sh":
        code = example.code.replace("8080", str(free_port()))
        argv = ["bash", "-euo", "pipefail", "-c", code]
    elif re.search(r"^(async )?def test_", example.code, re.M):
        (tmp_path / "test_example.py").write_text(example.code, encoding="utf-8")
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "test_example.py"]
    else:
        (tmp_path / "example.py").write_text(example.code, encoding="utf-8")
        argv = [sys.executable, "example.py"]

    with contextlib.ExitStack() as stack:
        env = dict(readme_env)
        if "REDIS_URL" in example.code:
            env["REDIS_URL"] = stack.enter_context(running_redis())
        run = await run_process(argv, env=env, cwd=str(tmp_path), limit=EXAMPLE_LIMIT)

    assert run.code == 0, f"README example under {example.section!r} failed:\n{run.text}"
    for secret in (readme_env["TUTORFLOW_CONTENT_API_KEY"], readme_env["NEXTTECH_SECRET_KEY"],
                   readme_env["TUTORFLOW_ADMIN_PASSWORD"]):
        assert secret not in run.text, "a README example printed a secret"
