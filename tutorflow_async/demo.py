"""The demo: expand the sample lessons on a local emulator, no credentials needed.

Run it with ``./dev demo`` (or ``python -m tutorflow_async.demo``). It starts the
TutorFlow emulator on 127.0.0.1, logs in as its admin, creates a Content API key,
expands every source JSON in ``examples/sources`` concurrently under the key's rate
limit, waits for the jobs, and prints a summary. Nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import tutorflow_async as tf
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

SOURCES = Path(__file__).resolve().parent.parent / "examples" / "sources"
POLL_EVERY = 0.25


def load_sources(folder: Path) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` file of ``folder`` by name; a few built-in ones if there are none."""
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if files:
        return {f.name: json.loads(f.read_text(encoding="utf-8")) for f in files}
    return {
        f"builtin-{i}.json": {"level": {"id": f"l{i}", "lessons": [{"id": "v", "type": "review"}]}}
        for i in range(12)
    }


async def wait_all(session: tf.ContentSession, jobs: dict[str, str]) -> dict[str, tf.ExpansionJob]:
    """Poll each unfinished job until all are terminal (the shared poller comes later)."""
    done: dict[str, tf.ExpansionJob] = {}
    while len(done) < len(jobs):
        pending = [name for name in jobs if name not in done]
        states = await asyncio.gather(*(session.expansions.get(jobs[n]) for n in pending))
        for name, job in zip(pending, states, strict=True):
            if job.is_terminal:
                done[name] = job
        if len(done) < len(jobs):
            await asyncio.sleep(POLL_EVERY)
    return done


async def run(sources_dir: Path, failure_rate: float) -> int:
    config = EmulatorConfig(
        queued_seconds=0.2, processing_seconds=0.8, failure_rate=failure_rate, seed=7
    )
    started = time.monotonic()
    async with TutorFlowEmulator(config) as emu:
        print(f"TutorFlow emulator on {emu.base_url}")
        async with tf.AdminSession.login(
            emu.admin_email, emu.admin_password, base_url=emu.base_url
        ) as admin:
            created = await admin.api_keys.create("demo", rate_limit_per_minute=600)
        print(f"created Content API key {created.api_key} (only the prefix is ever shown)")

        sources = load_sources(sources_dir)
        async with tf.ContentSession(
            created.api_key, base_url=emu.base_url, rate_limit_per_minute=600
        ) as content:
            jobs = await asyncio.gather(
                *(
                    content.expansions.create(
                        payload, requested_outputs=["interactive_module", "expanded_quiz"]
                    )
                    for payload in sources.values()
                )
            )
            print(f"started {len(jobs)} expansion jobs")
            finished = await wait_all(
                content, dict(zip(sources, (j.id for j in jobs), strict=True))
            )
            results = {n: await content.expansions.result(j.id) for n, j in finished.items()}

        print()
        print(f"{'source':<14} {'job':<28} {'status':<10} first output")
        for name, result in results.items():
            first = result.outputs[0] if result.outputs else None
            url = first.manifest.public_url if first and first.manifest else None
            detail = url or (result.job.error.message if result.job.error else "") or ""
            print(f"{name:<14} {result.job.id:<28} {result.job.status:<10} {detail}")
        counts = Counter(r.job.status for r in results.values())
        print()
        print(
            f"{len(results)} jobs: "
            + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
            + f"; {emu.counters.requests} requests, {emu.counters.rate_limited} rate-limited;"
            f" {time.monotonic() - started:.1f}s"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tutorflow_async.demo", description=__doc__)
    parser.add_argument(
        "--sources",
        type=Path,
        default=SOURCES,
        help="folder of source-JSON files (default: examples/sources)",
    )
    parser.add_argument(
        "--failure-rate",
        type=float,
        default=0.1,
        help="share of jobs the emulator fails (default 0.1)",
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(args.sources, args.failure_rate))


if __name__ == "__main__":
    sys.exit(main())
