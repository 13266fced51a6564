"""Client CPU per request: ``ContentSession.expansions.get`` against bare aiohttp (and httpx).

One fixed-response aiohttp server in another process answers
``GET /v1/content/integrations/expansions/{id}``; the clients take turns on it in
alternating rounds, at concurrency 1 and 50, and each is charged the CPU time of this
process while its part ran. The SDK's work above bare aiohttp (URL and headers, the
request loop, JSON, structuring the model) is the ratio ``ours / bare``; the target is
at most 1.10 for the median of the rounds' ratios (each round's parts ran side by side,
so the median shrugs off a round that the other core's load spoiled). A second SDK
session with one do-nothing hook attached shows what the event hooks cost when someone
listens (``ours`` has none: the hooks' idle cost is in it). For counts that noise does
not move, see :mod:`benchmarks.instructions`.

httpx is measured when it is importable (a dev dependency, for this benchmark only).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

import tutorflow_async as tf
from benchmarks.harness import Figures, Options, benchmark
from benchmarks.support import (
    ServerProcess,
    Tally,
    fixed_json_app,
    interleaved_rounds,
    median,
    round_ratios,
    server_cpu_seconds,
)

NAME = "cpu_per_request"
API_KEY = "tf_bench_0123456789abcdef"
JOB_ID = "job_1"
PATH = "/v1/content/integrations/expansions"
TARGET_RATIO = 1.10
CONCURRENCIES = (1, 50)
BODY: dict[str, Any] = {
    "job": {
        "id": JOB_ID,
        "status": "processing",
        "sourceType": "source_json",
        "requestedOutputs": ["interactive_module"],
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:01Z",
        "completedAt": None,
    },
    "outputs": [
        {
            "outputType": "interactive_module",
            "status": "processing",
            "resourceType": "module",
            "resourceId": None,
        }
    ],
}
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
ROUNDS_ENV = "CPU_PER_REQUEST_ROUNDS"
"""Overrides the number of interleaved rounds of a full run (the ratio is their median)."""

Call = Callable[[], Awaitable[object]]


def _ignore(event: object) -> None:
    """The do-nothing hook: what is measured is the SDK building and handing out events."""


def server_app() -> aiohttp.web.Application:
    """The fixed-response server (a top-level factory: it runs in a spawned process)."""
    return fixed_json_app({PATH + "/{id}": json.dumps(BODY).encode()})


def import_httpx() -> Any | None:
    """The httpx module, or None; imported by name so that it stays optional."""
    try:
        return importlib.import_module("httpx")
    except ImportError:
        return None


class Clients:
    """The clients under test, each a zero-argument coroutine doing one GET + JSON."""

    def __init__(self, base_url: str, httpx: Any | None) -> None:
        self.url = f"{base_url}{PATH}/{JOB_ID}"
        self.ours = tf.ContentSession(API_KEY, base_url=base_url, rate_limit_per_minute=None)
        self.hooked = tf.ContentSession(
            API_KEY, base_url=base_url, rate_limit_per_minute=None, hooks=[_ignore]
        )
        # As the SDK makes its own: no cookie jar, the same total timeout.
        self.bare = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=30)
        )
        self.httpx = httpx.AsyncClient(timeout=30.0) if httpx is not None else None

    def variants(self) -> dict[str, Call]:
        calls: dict[str, Call] = {
            "aiohttp": self.call_bare,
            "tutorflow_async": self.call_ours,
            "tutorflow_async+hook": self.call_hooked,
        }
        if self.httpx is not None:
            calls["httpx"] = self.call_httpx
        return calls

    async def call_ours(self) -> tf.ExpansionJob:
        return await self.ours.expansions.get(JOB_ID)

    async def call_hooked(self) -> tf.ExpansionJob:
        return await self.hooked.expansions.get(JOB_ID)

    async def call_bare(self) -> Any:
        async with self.bare.get(self.url, headers=HEADERS) as resp:
            if resp.status != 200:
                raise RuntimeError(f"bare aiohttp: HTTP {resp.status}")
            body = await resp.read()
        return json.loads(body)

    async def call_httpx(self) -> Any:
        assert self.httpx is not None
        resp = await self.httpx.get(self.url, headers=HEADERS)
        if resp.status_code != 200:
            raise RuntimeError(f"httpx: HTTP {resp.status_code}")
        return json.loads(resp.content)

    async def check(self) -> None:
        """Every client gets the expected answer (else the figures would mean nothing)."""
        job = await self.call_ours()
        if job.id != JOB_ID or len(job.outputs) != 1:
            raise RuntimeError(f"unexpected job from the SDK: {job!r}")
        for name, call in self.variants().items():
            if not name.startswith("tutorflow_async") and await call() != BODY:
                raise RuntimeError(f"{name}: unexpected body")

    async def close(self) -> None:
        await self.ours.close()
        await self.hooked.close()
        await self.bare.close()
        if self.httpx is not None:
            await self.httpx.aclose()


def cell_figures(tallies: dict[str, Tally]) -> dict[str, Any]:
    bare = tallies["aiohttp"]
    out: dict[str, Any] = {}
    for name, tally in tallies.items():
        out[name] = {
            "requests": tally.calls,
            "cpu_ms_per_request": round(tally.cpu_per_call * 1e3, 4),
            "wall_s": round(tally.wall_s, 3),
            "rounds_completed": len(tally.per_round),
            "requests_per_s": round(tally.calls / tally.wall_s, 1) if tally.wall_s else None,
        }
        if name != "aiohttp":
            ratios = round_ratios(tally, bare)
            out[name]["ratio_to_bare"] = round(tally.cpu_per_call / bare.cpu_per_call, 3)
            out[name]["ratio_to_bare_median_round"] = round(median(ratios), 3)
            out[name]["ratio_to_bare_round_range"] = (
                [round(min(ratios), 3), round(max(ratios), 3)] if ratios else []
            )
    return out


async def measure(options: Options) -> Figures:
    count = options.pick(full=10_000, quick=200)
    rounds = options.pick(full=int(os.environ.get(ROUNDS_ENV) or 20), quick=2)
    warmup = options.pick(full=300, quick=50)
    httpx = import_httpx()
    figures: Figures = {
        "requests_per_cell": count,
        "rounds": rounds,
        "warmup_requests": warmup,
        "target_ratio": TARGET_RATIO,
        "httpx": "measured" if httpx is not None else "skipped: httpx is not importable",
        "cells": {},
    }
    # Every part stops by its deadline; this bounds even a hung request.
    async with asyncio.timeout(options.time_left() + 15.0):
        await measure_on_server(options, figures, httpx, count, rounds, warmup)
    figures["table"] = table(figures)
    ours = [c["tutorflow_async"] for c in figures["cells"].values()]
    figures["worst_ratio_ours_to_bare"] = max(c["ratio_to_bare"] for c in ours)
    worst_median = max(c["ratio_to_bare_median_round"] for c in ours)
    figures["worst_median_round_ratio_ours_to_bare"] = worst_median
    figures["meets_target"] = worst_median <= TARGET_RATIO
    return figures


async def measure_on_server(
    options: Options, figures: Figures, httpx: Any | None, count: int, rounds: int, warmup: int
) -> None:
    with ServerProcess(server_app) as server:
        clients = Clients(server.url, httpx)
        try:
            await clients.check()
            variants = clients.variants()
            # Warm up: open the pools' connections and every code path and cache.
            for concurrency in CONCURRENCIES:
                await interleaved_rounds(
                    variants,
                    count=warmup,
                    rounds=1,
                    concurrency=concurrency,
                    deadline=time.monotonic() + 30,
                )
            server_cpu0 = server_cpu_seconds(server.pid)
            # Leave each concurrency its share of the remaining time.
            for i, concurrency in enumerate(CONCURRENCIES):
                share = options.time_left() / (len(CONCURRENCIES) - i)
                tallies = await interleaved_rounds(
                    variants,
                    count=count,
                    rounds=rounds,
                    concurrency=concurrency,
                    deadline=time.monotonic() + max(1.0, share - 5.0),
                )
                figures["cells"][f"concurrency_{concurrency}"] = cell_figures(tallies)
            server_cpu1 = server_cpu_seconds(server.pid)
            if server_cpu0 is not None and server_cpu1 is not None:
                figures["server_cpu_s"] = round(server_cpu1 - server_cpu0, 3)
        finally:
            await clients.close()


def table(figures: Figures) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for cell_name, cell in figures["cells"].items():
        row: dict[str, Any] = {
            "concurrency": int(cell_name.rpartition("_")[2]),
            "requests": cell["aiohttp"]["requests"],
            "rounds": cell["aiohttp"]["rounds_completed"],
            "bare aiohttp ms/req": cell["aiohttp"]["cpu_ms_per_request"],
            "ours ms/req": cell["tutorflow_async"]["cpu_ms_per_request"],
            "ours/bare": cell["tutorflow_async"]["ratio_to_bare"],
            "ours/bare (median round)": cell["tutorflow_async"]["ratio_to_bare_median_round"],
            "ours+hook/bare (median round)": cell["tutorflow_async+hook"][
                "ratio_to_bare_median_round"
            ],
        }
        if "httpx" in cell:
            row["httpx ms/req"] = cell["httpx"]["cpu_ms_per_request"]
            row["httpx/bare"] = cell["httpx"]["ratio_to_bare"]
        else:
            row["httpx ms/req"] = "skipped"
            row["httpx/bare"] = "skipped"
        rows.append(row)
    return rows


@benchmark(NAME, __doc__.splitlines()[0] if __doc__ else NAME, time_limit=110.0)
def run(options: Options) -> Figures:
    return asyncio.run(measure(options))
