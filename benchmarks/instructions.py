"""Client instructions per request and per walked item, counted by callgrind, against bare aiohttp.

CPU seconds on a shared two-core machine swing by several percent between rounds, which
is as much as the gap being measured. Instructions executed do not: valgrind's callgrind
gives the same count for the same program, input and environment whatever else the
machine is doing. Two cases, each client in a child process under
``valgrind --tool=callgrind``:

- **get**: the clients of :mod:`benchmarks.cpu_per_request` (the same server, body and
  calls), ``ContentSession.expansions.get`` against a bare aiohttp GET + ``json.loads``,
  at concurrency 1 and 50; instructions per request.
- **walk**: the walkers of :mod:`benchmarks.walk` on a Next Tech emulator (page size 100),
  ``contents.iterate()`` against the bare aiohttp loop, over the whole store;
  instructions per item.

A child starts, warms up, then does the measured part between two calls of
``getppid()``, before each of which callgrind is told to dump its counters
(``--dump-before``); the middle part of three holds the measured work alone, start-up,
warm-up and shutdown excluded. The servers run outside valgrind in their own processes,
so they are not counted.

Instructions are not seconds (a pointer-chasing instruction costs more than an
arithmetic one), so this complements the CPU-time benchmarks rather than replacing
them; its virtue is that a change of a few hundred instructions per request shows in a
single run, and that the before and after of a change can run at the same time. Needs
``valgrind`` on ``PATH``; without it the figures say so and hold none. It takes about
five minutes, so ``./dev bench`` alone leaves it out: ``./dev bench instructions``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks import walk
from benchmarks.cpu_per_request import CONCURRENCIES, Clients, server_app
from benchmarks.harness import Figures, Options, benchmark
from benchmarks.support import EmulatorProcess, ServerProcess, run_concurrently

NAME = "instructions"
GET_VARIANTS = ("aiohttp", "tutorflow_async", "tutorflow_async+hook")
WALK_VARIANTS = ("aiohttp", "nexttech_async")
WALK_STORE = 20_000
"""Contents in the walk's emulator: 200 pages of 100."""
WALK_WARMUP_ITEMS = 1_000
CHILD_TIMEOUT = 300.0
"""Seconds one child may run under valgrind before it is killed (about 50x slower)."""
MARK = "getppid"
"""The C function whose calls mark the measured part (nothing else on the path calls it)."""
_ROOT = Path(__file__).resolve().parent.parent

Measured = Callable[[], Awaitable[int]]
"""The measured part of a child: does its work, returns how many units (calls, items)."""


async def _marked(warm: Measured, measured: Measured) -> int:
    await warm()
    os.getppid()  # callgrind dumps (and zeroes) its counters here ...
    units = await measured()
    os.getppid()  # ... and here: the part between holds the measured work alone
    return units


async def _get_child(variant: str, url: str, concurrency: int, warmup: int, count: int) -> int:
    """``warmup`` calls, then ``count`` measured calls of one client at ``concurrency``."""
    clients = Clients(url, None)
    try:
        await clients.check()
        call = clients.variants()[variant]
        deadline = time.monotonic() + CHILD_TIMEOUT

        async def calls(n: int) -> int:
            done = await run_concurrently(call, n, concurrency, deadline)
            if done != n:
                raise RuntimeError(f"{variant}: {done} of {n} calls done before the deadline")
            return done

        return await _marked(lambda: calls(warmup), lambda: calls(count))
    finally:
        await clients.close()


async def _walk_child(variant: str, url: str, warmup_after: str, after: str) -> int:
    """A walk of the newest items (from ``warmup_after``), then the measured walk of all."""
    walkers = walk.Walkers(url)
    try:
        count = walkers.count_ours if variant == "nexttech_async" else walkers.count_bare
        return await _marked(lambda: count(warmup_after), lambda: count(after))
    finally:
        await walkers.close()


def total_instructions(callgrind_out: Path) -> int:
    """The ``Ir`` total of one callgrind dump (its ``totals:`` or ``summary:`` line)."""
    for line in callgrind_out.read_text(encoding="utf-8", errors="replace").splitlines():
        name, _, value = line.partition(":")
        if name in ("totals", "summary"):
            return int(value.split()[0])
    raise RuntimeError(f"no totals line in {callgrind_out}")


def count_instructions(valgrind: str, child_args: list[str]) -> tuple[int, int]:
    """(instructions, units) of one child's measured part."""
    with tempfile.TemporaryDirectory(prefix="callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            f"--dump-before={MARK}",
            sys.executable,
            "-m",
            "benchmarks.instructions",
            "--child",
            *child_args,
        ]
        # A fixed hash seed keeps dict and set layouts, hence the counts, run to run.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed args
            command,
            cwd=_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
        what = " ".join(child_args[:2])
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"{what} under callgrind failed: {' | '.join(tail)}")
        # Dumps are numbered from 1 in call order; the final part keeps the plain name.
        parts = sorted(Path(tmp).glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
        if len(parts) != 2:
            raise RuntimeError(f"{what}: {len(parts)} dumps at {MARK}(), expected 2")
        units = int(json.loads(done.stdout.strip().splitlines()[-1])["units"])
        return total_instructions(parts[1]), units


_COLUMNS = {"tutorflow_async": "SDK", "nexttech_async": "SDK", "tutorflow_async+hook": "SDK+hook"}


def _row(case: str, unit: str, per_unit: dict[str, float]) -> dict[str, Any]:
    """One table row: instructions per unit of each client, and each SDK's over bare."""
    bare = per_unit["aiohttp"]
    row: dict[str, Any] = {"case": case, "per": unit, "bare aiohttp": round(bare)}
    for variant, value in per_unit.items():
        if variant != "aiohttp":
            column = _COLUMNS[variant]
            row[column] = round(value)
            # Three decimals (the table's own format keeps three digits): the differences
            # worth seeing here are a few thousandths.
            row[f"{column}/bare"] = f"{value / bare:.3f}"
    return row


def measure_get(valgrind: str, options: Options, figures: Figures) -> None:
    warmup = options.pick(full=500, quick=50)
    count = options.pick(full=2000, quick=100)
    figures["get_warmup_requests"], figures["get_requests_counted"] = warmup, count
    with ServerProcess(server_app) as server:
        for concurrency in CONCURRENCIES:
            per_request: dict[str, float] = {}
            for variant in GET_VARIANTS:
                args = ["get", variant, server.url, str(concurrency), str(warmup), str(count)]
                total, units = count_instructions(valgrind, args)
                per_request[variant] = total / units
            figures["cells"][f"get_concurrency_{concurrency}"] = per_request
            case = f"expansions.get, concurrency {concurrency}"
            figures["table"].append(_row(case, "request", per_request))


def measure_walk(valgrind: str, options: Options, figures: Figures) -> None:
    store = options.pick(full=WALK_STORE, quick=1_000)
    warmup_items = options.pick(full=WALK_WARMUP_ITEMS, quick=200)
    figures["walk_items"] = store
    with EmulatorProcess(walk.nexttech_emulator, store) as emu:
        args = [walk.newest_after(warmup_items, store), walk.iso(walk.T0 - 10)]
        per_item: dict[str, float] = {}
        for variant in WALK_VARIANTS:
            total, units = count_instructions(valgrind, ["walk", variant, emu.base_url, *args])
            if units != store:
                raise RuntimeError(f"{variant} walked {units} items of {store}")
            per_item[variant] = total / units
        figures["cells"]["walk"] = per_item
        figures["table"].append(_row("contents.iterate()", "item", per_item))


def measure(options: Options) -> Figures:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return {"skipped": "valgrind is not on PATH", "table": []}
    figures: Figures = {"python": sys.version.split()[0], "cells": {}, "table": []}
    measure_get(valgrind, options, figures)
    measure_walk(valgrind, options, figures)
    figures["cells"] = {
        k: {v: round(n) for v, n in cell.items()} for k, cell in figures["cells"].items()
    }
    return figures


# About five minutes (valgrind runs Python some 50 times slower): run by name only.
@benchmark(
    NAME, __doc__.splitlines()[0] if __doc__ else NAME, time_limit=1500.0, by_name_only=True
)
def run(options: Options) -> Figures:
    return measure(options)


def main(argv: list[str] | None = None) -> int:
    """The child: ``--child get VARIANT URL CONCURRENCY WARMUP COUNT`` or
    ``--child walk VARIANT URL WARMUP_AFTER AFTER``; prints ``{"units": N}``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    parser.add_argument("--child", nargs="+", metavar="ARG")
    args = parser.parse_args(argv)
    if args.child is None:
        parser.error("run it as: python -m benchmarks instructions")
    case, *rest = args.child
    if case == "get" and len(rest) == 5:
        variant, url, concurrency, warmup, count = rest
        units = asyncio.run(_get_child(variant, url, int(concurrency), int(warmup), int(count)))
    elif case == "walk" and len(rest) == 4:
        units = asyncio.run(_walk_child(*rest))
    else:
        parser.error(f"unknown child arguments: {args.child}")
    print(json.dumps({"units": units}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
