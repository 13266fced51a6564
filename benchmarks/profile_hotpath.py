"""Where ``ContentSession.expansions.get`` spends its CPU above bare aiohttp (not registered).

``python -m benchmarks.profile_hotpath [--requests N] [--cprofile PATH]`` prints three views:

1. *steps*: each step the SDK adds, timed alone (``timeit``, best of 5, µs per call);
2. *ladder*: end-to-end client CPU per request of aiohttp called as the SDK calls it (a
   ``yarl.URL``, ``timeout=``, ``allow_redirects=False``, copied headers) and of the SDK,
   against bare aiohttp, interleaved like ``cpu_per_request``: what each layer costs;
3. with ``--cprofile``: the SDK's own functions under cProfile (cumulative; the profiler
   inflates functions that make many small calls, such as cattrs hooks).

Timed alone, a step costs far less than it adds end to end: at concurrency 50 the CPU a
request costs grows by about three times the CPU of any work added to it (measured with
busy loops and allocations alike), so the ladder, not the steps, is the figure that
counts. For a sampling profile without the profiler's overhead, run ``py-spy record
--function -p PID`` (``pip install py-spy``; not a dependency) against a process looping
on ``expansions.get`` or ``contents.iterate()``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import pstats
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

import aiohttp
import yarl

import tutorflow_async as tf
from benchmarks.cpu_per_request import API_KEY, BODY, HEADERS, JOB_ID, PATH, Clients, server_app
from benchmarks.support import ServerProcess, interleaved_rounds, run_concurrently
from edu_async_core.errors import RequestContext
from edu_async_core.reading import ModelReader, Response, ensure_json_object
from edu_async_core.transport import encode_query
from edu_async_core.validation import path_segment
from tutorflow_async.errors import FAMILY
from tutorflow_async.models import ExpansionJob, converter, normalize_job


def best_us(func: Callable[[], object], number: int = 20_000) -> float:
    """Best of 5 timings of ``func()``, in µs per call."""
    return min(timeit.repeat(func, number=number, repeat=5)) / number * 1e6


def steps() -> dict[str, float]:
    """Each step of the SDK's hot path for this request, timed alone (µs per call)."""
    base = "http://127.0.0.1:8080"
    body = json.dumps(BODY).encode()
    context = RequestContext("GET", PATH + "/" + JOB_ID, "tf_bench", None)
    document = json.loads(body)
    job = normalize_job(document)
    headers = {"User-Agent": "x", "Accept": "application/json", **HEADERS}
    logger = logging.getLogger("tutorflow_async")
    hook: Any = converter.get_structure_hook(ExpansionJob)
    read_fast, slow_hook = hook.fast, hook.slow
    reader = ModelReader(converter, ExpansionJob, FAMILY)
    response = Response(200, {}, body, context)

    def response_json() -> object:
        return Response(200, {}, body, context).json(FAMILY)

    out = {
        "path_segment(job_id)": best_us(lambda: path_segment(JOB_ID, "job_id")),
        "encode_query(None) + URL text": best_us(
            lambda: base + PATH + "/job_1" + (f"?{q}" if (q := encode_query(None)) else "")
        ),
        "yarl.URL(text, encoded=True)": best_us(
            lambda: yarl.URL(base + PATH + "/job_1", encoded=True)
        ),
        "dict(headers) copy": best_us(lambda: dict(headers)),
        "RequestContext(...)": best_us(
            lambda: RequestContext("GET", PATH + "/job_1", "tf_bench", None)
        ),
        "logger.isEnabledFor(DEBUG)": best_us(lambda: logger.isEnabledFor(logging.DEBUG)),
        "json.loads(body) [bare does it too]": best_us(lambda: json.loads(body)),
        "Response(...).json() (msgspec where installed)": best_us(response_json),
        "ensure_json_object": best_us(
            lambda: ensure_json_object(Response(200, {}, b"{}", context), "job", FAMILY)
        ),
        "normalize_job(document)": best_us(lambda: normalize_job(document)),
        "generated reader (read_job's fast path)": best_us(lambda: read_fast(job)),
        "cattrs hook alone (the fallback)": best_us(
            lambda: slow_hook(job, ExpansionJob), number=5_000
        ),
        "converter.structure(job, ExpansionJob)": best_us(
            lambda: converter.structure(job, ExpansionJob), number=5_000
        ),
        "ModelReader.read (read_job's model step)": best_us(lambda: reader.read(job, response)),
    }
    return out


class Ladder(Clients):
    """The benchmark's clients plus aiohttp called exactly the way the SDK calls it."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, None)
        self.yurl = yarl.URL(self.url, encoded=True)
        self.timeout = aiohttp.ClientTimeout(total=30)
        self.sdk_headers = {"User-Agent": "tutorflow-async", **HEADERS}

    async def call_sdk_shaped(self) -> Any:
        url = yarl.URL(self.url, encoded=True)
        async with self.bare.request(
            "GET",
            url,
            data=None,
            headers=dict(self.sdk_headers),
            allow_redirects=False,
            timeout=self.timeout,
        ) as resp:
            body = await resp.read()
        return json.loads(body)

    async def call_timeout_only(self) -> Any:
        async with self.bare.get(self.url, headers=HEADERS, timeout=self.timeout) as resp:
            body = await resp.read()
        return json.loads(body)

    async def call_transport_only(self) -> Any:
        """The SDK's request loop alone: ``Transport.request`` and its JSON, no model."""
        return (await self.ours.transport.request("GET", f"{PATH}/{JOB_ID}")).json(FAMILY)

    async def call_sdk_shaped_then_model(self) -> ExpansionJob:
        document = await self.call_sdk_shaped()
        return converter.structure(normalize_job(document), ExpansionJob)


async def ladder(requests: int, concurrency: int) -> dict[str, float]:
    """ms of client CPU per request for each rung, interleaved in alternating rounds."""
    with ServerProcess(server_app) as server:
        clients = Ladder(server.url)
        try:
            variants = {
                "bare aiohttp": clients.call_bare,
                "+ timeout= per request": clients.call_timeout_only,
                "aiohttp called as the SDK does": clients.call_sdk_shaped,
                "... + normalize_job + model": clients.call_sdk_shaped_then_model,
                "SDK transport.request (no model)": clients.call_transport_only,
                "tutorflow_async": clients.call_ours,
            }
            deadline = time.monotonic() + 60
            await interleaved_rounds(
                variants, count=300, rounds=1, concurrency=concurrency, deadline=deadline
            )
            tallies = await interleaved_rounds(
                variants, count=requests, rounds=10, concurrency=concurrency, deadline=deadline
            )
        finally:
            await clients.close()
    return {name: t.cpu_per_call * 1e3 for name, t in tallies.items()}


async def profile_sdk(requests: int, concurrency: int, path: str) -> pstats.Stats:
    with ServerProcess(server_app) as server:
        session = tf.ContentSession(API_KEY, base_url=server.url, rate_limit_per_minute=None)
        try:

            async def call() -> object:
                return await session.expansions.get(JOB_ID)

            await run_concurrently(call, 300, concurrency, time.monotonic() + 30)
            profiler = cProfile.Profile()
            profiler.enable()
            await run_concurrently(call, requests, concurrency, time.monotonic() + 60)
            profiler.disable()
        finally:
            await session.close()
    profiler.dump_stats(path)
    return pstats.Stats(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_hotpath")
    parser.add_argument("--requests", type=int, default=5000, help="per rung and concurrency")
    parser.add_argument("--cprofile", metavar="PATH", help="also profile the SDK into PATH")
    args = parser.parse_args(argv)
    requests = max(100, min(args.requests, 50_000))

    print("## steps the SDK adds (µs per call, timed alone)\n")
    for name, us in steps().items():
        print(f"{us:8.2f}  {name}")
    for concurrency in (1, 50):
        print(f"\n## ladder, concurrency {concurrency} (client CPU ms per request)\n")
        figures = asyncio.run(ladder(requests, concurrency))
        bare = figures["bare aiohttp"]
        for name, ms in figures.items():
            print(f"{ms:8.4f} ms  {ms / bare:5.2f}x  {(ms - bare) * 1e3:+7.1f} µs  {name}")
    if args.cprofile:
        stats = asyncio.run(profile_sdk(requests, 50, args.cprofile))
        print("\n## cProfile of the SDK, concurrency 50 (cumulative)\n")
        stats.sort_stats("cumulative").print_stats(r"edu_async_core|tutorflow_async|cattrs", 25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
