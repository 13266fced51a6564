"""The benchmark registry and runner behind ``python -m benchmarks``.

``python -m benchmarks [names...] [--quick] [--list] [--output PATH]`` runs the selected
benchmarks (all registered ones by default), one after another, writes
``benchmarks/results/latest.json`` (date, machine, per-benchmark figures) and
``latest.md`` (the same as markdown tables), and prints the tables. The exit status is 1
if any benchmark failed (its error is recorded and the others still run).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import inspect
import json
import math
import os
import pkgutil
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

Figures: TypeAlias = dict[str, Any]
"""What a benchmark returns: JSON-serialisable; ``"table"`` (list of row dicts) is printed."""

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS_DIR / "latest.json"
DEFAULT_TIME_LIMIT = 150.0
"""Seconds one benchmark may take before it should stop early (it checks ``deadline``)."""

_PACKAGE = __name__.rpartition(".")[0] or "benchmarks"
_NOT_BENCHMARKS = frozenset({"harness", "support"})


@dataclass(frozen=True)
class Options:
    """How a benchmark should run this time."""

    quick: bool = False
    """A smoke run: shrink counts so the benchmark takes a few seconds."""
    time_limit: float = DEFAULT_TIME_LIMIT
    """Seconds this benchmark may take; stop early (and say so in the figures) after it."""
    started: float = 0.0
    """``time.monotonic()`` when the benchmark started."""

    def pick(self, *, full: int, quick: int) -> int:
        """``quick`` in a quick run, otherwise ``full``."""
        return quick if self.quick else full

    @property
    def deadline(self) -> float:
        """``time.monotonic()`` value after which the benchmark should wind down."""
        return self.started + self.time_limit

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


BenchFunc: TypeAlias = Callable[[Options], Figures] | Callable[[Options], Awaitable[Figures]]
F = TypeVar("F", bound=BenchFunc)


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    func: BenchFunc
    time_limit: float
    by_name_only: bool = False
    """Left out of a run of all benchmarks (it takes minutes); run when named."""


REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    name: str,
    description: str,
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
    by_name_only: bool = False,
) -> Callable[[F], F]:
    """Register ``func(options) -> figures`` (sync or async) under ``name``; with
    ``by_name_only`` it runs only when named, not in a run of all of them."""

    def register(func: F) -> F:
        if name in REGISTRY and REGISTRY[name].func is not func:
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY[name] = Benchmark(name, description, func, time_limit, by_name_only)
        return func

    return register


def discover() -> dict[str, str]:
    """Import every public module of the package; returns ``{module: error}`` for failures."""
    errors: dict[str, str] = {}
    package = importlib.import_module(_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _NOT_BENCHMARKS:
            continue
        try:
            importlib.import_module(f"{_PACKAGE}.{info.name}")
        except Exception as exc:  # one broken module must not stop the others
            errors[info.name] = f"{type(exc).__name__}: {exc}"
    return errors


def machine() -> dict[str, Any]:
    """Where the figures were measured (they mean little without it)."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    for dist in ("aiohttp", "yarl", "multidict", "attrs", "cattrs", "tutorflow-async", "httpx"):
        try:
            info[f"{dist}_version"] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[f"{dist}_version"] = None
    info["git"] = _git_revision()
    return info


def _git_revision() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, fixed args
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}{'+dirty' if dirty else ''}"


def run_one(bench: Benchmark, quick: bool) -> dict[str, Any]:
    """Run one benchmark; its figures, or the error it raised, and how long it took."""
    options = Options(quick=quick, time_limit=bench.time_limit, started=time.monotonic())
    cpu0 = time.process_time()
    entry: dict[str, Any] = {"description": bench.description}
    try:
        result = bench.func(options)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        json.dumps(result, allow_nan=True)  # fail here, not when writing the file
        entry["figures"] = result
    except Exception as exc:
        entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["traceback"] = traceback.format_exc()
    entry["wall_s"] = round(time.monotonic() - options.started, 3)
    entry["harness_process_cpu_s"] = round(time.process_time() - cpu0, 3)
    return entry


async def _await(awaitable: Awaitable[Figures]) -> Figures:
    return await awaitable


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else ("yes" if value else "no")
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0 and abs(value) < 0.001:
            return f"{value:.2e}"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines.extend("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows)
    return "\n".join(lines)


def _scalars(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """The top-level scalar figures (nested ones stay in the JSON file only)."""
    out: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if key == "table" or isinstance(value, dict):
            continue
        if isinstance(value, list | tuple):
            if all(not isinstance(v, dict | list) for v in value):
                out.append((key, ", ".join(_fmt(v) for v in value)))
        else:
            out.append((key, value))
    return out


def render(report: dict[str, Any]) -> str:
    """The whole report as markdown."""
    m = report["machine"]
    parts = [
        f"# Benchmarks {report['date']}{' (quick)' if report['quick'] else ''}",
        "",
        f"{m['cpu_count']} CPUs, Python {m['python']} ({m['implementation']}), "
        f"aiohttp {m['aiohttp_version']}, {m['platform']}, git {m['git']}, "
        f"load average at start {m['load_average']}",
    ]
    for name, errors in report.get("import_errors", {}).items():
        parts += ["", f"**module {name} failed to import**: {errors}"]
    for name, entry in report["benchmarks"].items():
        parts += ["", f"## {name}", "", entry["description"], ""]
        if "error" in entry:
            parts.append(f"**FAILED** after {entry['wall_s']} s: {entry['error']}")
            continue
        figures: dict[str, Any] = entry["figures"]
        table = figures.get("table")
        if isinstance(table, list) and table:
            parts += [markdown_table(table), ""]
        rest = _scalars(figures)
        if rest:
            parts.append(markdown_table([{"figure": k, "value": v} for k, v in rest]))
            parts.append("")
        parts.append(f"(wall {entry['wall_s']} s)")
    return "\n".join(parts) + "\n"


def write_report(report: dict[str, Any], output: Path) -> Path:
    """Write ``output`` (JSON) and the markdown beside it (``.md``), atomically."""
    output.parent.mkdir(parents=True, exist_ok=True)
    markdown = output.with_suffix(".md")
    for path, text in (
        (output, json.dumps(report, indent=2, sort_keys=False) + "\n"),
        (markdown, render(report)),
    ):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return markdown


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the benchmarks side by side; figures go to benchmarks/results/.",
    )
    parser.add_argument(
        "names", nargs="*", help="benchmarks to run (default: all but the by-name-only ones)"
    )
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="results file; a .md table is written beside it "
        "(default: benchmarks/results/latest.json)",
    )
    args = parser.parse_args(argv)

    import_errors = discover()
    for module, error in import_errors.items():
        print(f"warning: benchmarks.{module} failed to import: {error}", file=sys.stderr)
    if args.list:
        for bench in REGISTRY.values():
            only = " (run by name only)" if bench.by_name_only else ""
            print(f"{bench.name:24} {bench.description}{only}")
        return 0
    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {sorted(REGISTRY)}")
    names = args.names or [n for n, b in REGISTRY.items() if not b.by_name_only]
    selected = [REGISTRY[n] for n in names]

    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "argv": list(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "benchmarks": {},
    }
    if import_errors:
        report["import_errors"] = import_errors
    failed = False
    for bench in selected:
        print(f"running {bench.name} ...", file=sys.stderr, flush=True)
        entry = run_one(bench, args.quick)
        report["benchmarks"][bench.name] = entry
        if "error" in entry:
            failed = True
            print(entry["traceback"], file=sys.stderr)
        print(f"  done in {entry['wall_s']} s", file=sys.stderr, flush=True)
    markdown = write_report(report, args.output)
    print(render(report))
    print(f"figures: {args.output}  table: {markdown}", file=sys.stderr)
    return 1 if failed or (import_errors and not args.names) else 0
