"""Client instructions per request, counted by callgrind: ``expansions.get`` against bare aiohttp.

CPU seconds on a shared two-core machine swing by several percent between rounds, which
is as much as the gap being measured. Instructions executed do not: valgrind's callgrind
gives the same count for the same program, input and environment whatever else the
machine is doing. This benchmark runs each client of :mod:`benchmarks.cpu_per_request`
(the same server, body and calls) in a child process under ``valgrind --tool=callgrind``:
start-up and ``warmup`` requests, then ``count`` measured requests, then shutdown. The
child marks the two boundaries by calling ``getppid()``, which callgrind is told to dump
its counters before (``--dump-before``), so the middle part of three holds the measured
requests alone; its total over ``count`` is what one request costs the client process.
The fixed-response server runs outside valgrind in its own process, so it is not counted.

Instructions are not seconds (a pointer-chasing instruction costs more than an
arithmetic one), so this complements the CPU-time benchmark rather than replacing it;
its virtue is that a change of a few hundred instructions per request is visible in a
single run. Needs ``valgrind`` on ``PATH``; without it the figures say so and hold none.

``python -m benchmarks instructions`` runs it; ``python -m benchmarks.instructions
--child VARIANT URL CONCURRENCY WARMUP COUNT`` is the measured child (not for direct use).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.cpu_per_request import CONCURRENCIES, Clients, server_app
from benchmarks.harness import Figures, Options, benchmark
from benchmarks.support import ServerProcess, run_concurrently

NAME = "instructions"
VARIANTS = ("aiohttp", "tutorflow_async", "tutorflow_async+hook")
CHILD_TIMEOUT = 240.0
"""Seconds one child may run under valgrind before it is killed (about 50x slower)."""
_ROOT = Path(__file__).resolve().parent.parent


MARK = "getppid"
"""The C function whose calls mark the measured part (nothing else on the path calls it)."""


async def _child(variant: str, url: str, concurrency: int, warmup: int, count: int) -> None:
    """The measured process: ``warmup`` calls, then ``count`` calls between two marks."""
    clients = Clients(url, None)
    try:
        await clients.check()
        call = clients.variants()[variant]
        deadline = time.monotonic() + CHILD_TIMEOUT
        await run_concurrently(call, warmup, concurrency, deadline)
        os.getppid()  # callgrind dumps (and zeroes) its counters here ...
        done = await run_concurrently(call, count, concurrency, deadline)
        os.getppid()  # ... and here: the part between holds the measured calls alone
        if done != count:
            raise RuntimeError(f"{variant}: {done} of {count} calls done before the deadline")
    finally:
        await clients.close()


def total_instructions(callgrind_out: Path) -> int:
    """The ``Ir`` total of one callgrind dump (its ``totals:`` or ``summary:`` line)."""
    for line in callgrind_out.read_text(encoding="utf-8", errors="replace").splitlines():
        name, _, value = line.partition(":")
        if name in ("totals", "summary"):
            return int(value.split()[0])
    raise RuntimeError(f"no totals line in {callgrind_out}")


def count_instructions(
    valgrind: str, variant: str, url: str, concurrency: int, warmup: int, count: int
) -> int:
    """Instructions one child executed for its ``count`` measured calls."""
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
            variant,
            url,
            str(concurrency),
            str(warmup),
            str(count),
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
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"{variant} under callgrind failed: {' | '.join(tail)}")
        # Dumps are numbered from 1 in call order; the final part keeps the plain name.
        parts = sorted(Path(tmp).glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
        if len(parts) != 2:
            raise RuntimeError(f"{variant}: {len(parts)} dumps at {MARK}(), expected 2")
        return total_instructions(parts[1])


def measure(options: Options) -> Figures:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return {"skipped": "valgrind is not on PATH", "table": []}
    warmup = options.pick(full=500, quick=50)
    count = options.pick(full=2000, quick=100)
    cells: dict[str, dict[str, float]] = {}
    rows: list[dict[str, Any]] = []
    with ServerProcess(server_app) as server:
        for concurrency in CONCURRENCIES:
            per_request: dict[str, float] = {}
            for variant in VARIANTS:
                if options.time_left() <= 0:
                    break
                total = count_instructions(
                    valgrind, variant, server.url, concurrency, warmup, count
                )
                per_request[variant] = total / count
            cells[f"concurrency_{concurrency}"] = per_request
            bare = per_request.get("aiohttp")
            if bare is None:
                continue
            row: dict[str, Any] = {
                "concurrency": concurrency,
                "bare aiohttp instr/req": round(bare),
            }
            for variant in VARIANTS[1:]:
                if variant in per_request:
                    row[f"{variant} instr/req"] = round(per_request[variant])
                    # Three decimals (the table's own format keeps three digits): the
                    # differences worth seeing here are a few thousandths.
                    row[f"{variant}/bare"] = f"{per_request[variant] / bare:.3f}"
            rows.append(row)
    return {
        "warmup_requests": warmup,
        "requests_counted": count,
        "python": sys.version.split()[0],
        "cells": {k: {v: round(n) for v, n in c.items()} for k, c in cells.items()},
        "table": rows,
    }


@benchmark(NAME, __doc__.splitlines()[0] if __doc__ else NAME, time_limit=1500.0)
def run(options: Options) -> Figures:
    return measure(options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    parser.add_argument(
        "--child", nargs=5, metavar=("VARIANT", "URL", "CONCURRENCY", "WARMUP", "COUNT")
    )
    args = parser.parse_args(argv)
    if args.child is None:
        parser.error("run it as: python -m benchmarks instructions")
    variant, url, concurrency, warmup, count = args.child
    asyncio.run(_child(variant, url, int(concurrency), int(warmup), int(count)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
