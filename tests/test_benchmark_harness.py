"""The benchmark runner's selection, and the instruction benchmark's parsing (no valgrind)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import harness, instructions
from benchmarks.harness import Options


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, harness.Benchmark]:
    """A registry of two stand-in benchmarks, one of them run by name only."""
    fake: dict[str, harness.Benchmark] = {}
    monkeypatch.setattr(harness, "REGISTRY", fake)
    monkeypatch.setattr(harness, "discover", dict)
    monkeypatch.setattr(harness, "machine", lambda: {})
    monkeypatch.setattr(harness, "render", lambda report: "")

    @harness.benchmark("everyday", "runs in every run")
    def everyday(options: Options) -> harness.Figures:
        return {"ran": True}

    @harness.benchmark("slow", "runs when named", by_name_only=True)
    def slow(options: Options) -> harness.Figures:
        return {"ran": True}

    return fake


def ran(output: Path) -> list[str]:
    return list(json.loads(output.read_text())["benchmarks"])


def test_a_run_of_all_leaves_out_the_by_name_only_ones(
    registry: dict[str, harness.Benchmark], tmp_path: Path
) -> None:
    assert harness.main(["--output", str(tmp_path / "all.json")]) == 0
    assert ran(tmp_path / "all.json") == ["everyday"]


def test_a_by_name_only_benchmark_runs_when_named(
    registry: dict[str, harness.Benchmark], tmp_path: Path
) -> None:
    assert harness.main(["slow", "--output", str(tmp_path / "slow.json")]) == 0
    assert ran(tmp_path / "slow.json") == ["slow"]


def test_the_list_says_which_run_by_name_only(
    registry: dict[str, harness.Benchmark], capsys: pytest.CaptureFixture[str]
) -> None:
    assert harness.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.endswith("(run by name only)") for line in lines] == [False, True]


def test_the_instruction_benchmark_is_run_by_name_only() -> None:
    harness.discover()
    assert harness.REGISTRY["instructions"].by_name_only
    assert not harness.REGISTRY["cpu_per_request"].by_name_only


def test_a_callgrind_dump_s_total_is_read(tmp_path: Path) -> None:
    dump = tmp_path / "callgrind.out.2"
    dump.write_text("version: 1\ncreator: callgrind\nevents: Ir\nfn=main\n0 5\nsummary: 123456\n")
    assert instructions.total_instructions(dump) == 123456
    (tmp_path / "empty").write_text("events: Ir\n")
    with pytest.raises(RuntimeError, match="no totals"):
        instructions.total_instructions(tmp_path / "empty")


def test_a_row_gives_each_sdk_against_bare_to_three_decimals() -> None:
    row = instructions._row("get", "request", {"aiohttp": 300_000.0, "tutorflow_async": 321_300.0})
    assert row == {
        "case": "get",
        "per": "request",
        "bare aiohttp": 300_000,
        "SDK": 321_300,
        "SDK/bare": "1.071",
    }
