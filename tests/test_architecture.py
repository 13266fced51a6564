"""The lines ARCHITECTURE.md draws: the import contracts ([tool.importlinter] in
pyproject.toml) cover every module and break when an import crosses a line, and a module
past ~400 lines says why in its docstring.

``./dev test`` runs ``lint-imports`` on the tree as it is; these tests keep the contracts
themselves honest: the lists of modules that must stand below ``testing/`` and ``cli/``
name every module of their package (a module added later is not silently left out), and
a copy of the packages with forbidden imports added fails the run, naming each contract.
"""

from __future__ import annotations

import ast
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("edu_async_core", "tutorflow_async", "nexttech_async")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contracts() -> dict[str, dict[str, Any]]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        config = tomllib.load(f)["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def children(package: str) -> set[str]:
    return {f"{package}.{m.name}" for m in pkgutil.iter_modules([str(ROOT / package)])}


@pytest.mark.parametrize(
    ("name", "package", "above"),
    [
        (
            "TutorFlow: testing/ and cli/ sit above the SDK modules, never below",
            "tutorflow_async",
            {"testing", "cli"},
        ),
        (
            "Next Tech: testing/ and cli/ sit above the SDK modules, never below",
            "nexttech_async",
            {"testing", "cli"},
        ),
        (
            "The core's own modules stand below its test support",
            "edu_async_core",
            {"emulation", "pytest_support"},
        ),
    ],
)
def test_the_layer_contracts_name_every_module(name: str, package: str, above: set[str]) -> None:
    contract = contracts()[name]
    forbidden = set(contract["forbidden_modules"])
    assert {f"{package}.{m}" for m in above} <= forbidden
    below = children(package) - {f"{package}.{m}" for m in above}
    assert set(contract["source_modules"]) == below


CORE = "The core imports neither SDK"
SDKS = "The two SDKs are independent of each other"
CIRCLES = "No import circles between sibling modules, at any depth"
TF_LAYERS = "TutorFlow: testing/ and cli/ sit above the SDK modules, never below"
PURE = "Pure decision modules do no I/O (no aiohttp, even indirectly)"


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="lint-imports is in the dev extra")
@pytest.mark.parametrize(
    ("module", "added", "broken"),
    [
        # The core reaching up into an SDK also joins the two SDKs through it.
        ("edu_async_core/clock.py", "import tutorflow_async", {CORE, SDKS}),
        # A circle hidden in a function, as the walk's modules once had.
        (
            "nexttech_async/cursor.py",
            "def _later() -> None:\n    from .resume_token import state_to_json",
            {CIRCLES},
        ),
        # The models reaching up into the emulator: a circle too (the emulator reads them),
        # and every pure module that names a model now drags aiohttp in.
        ("tutorflow_async/models.py", "from . import testing", {TF_LAYERS, CIRCLES, PURE}),
        ("tutorflow_async/poll_schedule.py", "import aiohttp", {PURE}),
    ],
)
def test_an_import_across_a_line_breaks_its_contract(
    tmp_path: Path, module: str, added: str, broken: set[str]
) -> None:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a", encoding="utf-8") as f:
        f.write(f"\n{added}  # noqa\n")
    run = subprocess.run(  # noqa: S603 (the venv's own lint-imports, fixed arguments)
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = " ".join(run.stdout.split())  # the report wraps long contract names
    assert run.returncode == 1, out
    for name in contracts():
        assert f"{name} {'BROKEN' if name in broken else 'KEPT'}" in out, name


#: Lines past which a module's docstring must say why it is one module.
LONG_MODULE = 400
SAYS_WHY = re.compile(r"over 400 lines|longer than", re.IGNORECASE)


def test_a_long_module_says_why_it_is_one() -> None:
    long = {}
    for package in (*PACKAGES, "examples"):
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            if source.count("\n") > LONG_MODULE:
                long[path.relative_to(ROOT).as_posix()] = ast.get_docstring(ast.parse(source))
    assert long  # the check reads the tree (some modules are long, for stated reasons)
    silent = [p for p, doc in long.items() if not (doc and SAYS_WHY.search(" ".join(doc.split())))]
    assert silent == [], f"over {LONG_MODULE} lines, no reason in the docstring: {silent}"
