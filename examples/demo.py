"""The demo: both SDKs on their local emulators, no credentials, nothing leaves 127.0.0.1.

Run it with ``./dev demo`` (or ``python examples/demo.py`` with the package installed).
It lives beside the SDKs, not in them: it is the one place that uses both, and it does so
as a user would, through their public names. It starts the TutorFlow emulator, logs in as
its admin, creates a Content API key and a webhook that points at a local receiver, then
expands every source JSON in ``examples/sources`` through ``expand_many`` (webhooks end
the waits; polling is only the fallback), prints a summary table, and finally walks the
Next Tech emulator's contents with a metadata filter, resuming the walk halfway from its
token as another process would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

import nexttech_async as nt
import tutorflow_async as tf
from edu_async_core.cli_support import ProgressDisplay
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from nexttech_async.testing.samples import add_sample_contents
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator
from tutorflow_async.webhooks import WebhookReceiver

SOURCES = Path(__file__).resolve().parent / "sources"


def load_sources(folder: Path) -> list[tf.ExpansionRequest]:
    """Every ``*.json`` of ``folder`` as an input labelled with its file name."""
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if files:
        return [
            tf.ExpansionRequest(
                json.loads(f.read_text(encoding="utf-8")),
                requested_outputs=["interactive_module", "expanded_quiz"],
                label=f.name,
            )
            for f in files
        ]
    return [
        tf.ExpansionRequest(
            {"level": {"id": f"l{i}", "lessons": [{"id": "v"}]}}, label=f"builtin-{i}.json"
        )
        for i in range(12)
    ]


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """``header`` and ``rows`` as lines, each column as wide as its longest cell."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        " ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


async def expand_demo(sources_dir: Path, failure_rate: float) -> Counter[str]:
    config = EmulatorConfig(
        queued_seconds=0.2, processing_seconds=0.8, failure_rate=failure_rate, seed=7
    )
    async with TutorFlowEmulator(config) as emu:
        print(f"TutorFlow emulator on {emu.base_url}")
        requests = load_sources(sources_dir)
        async with (
            tf.AdminSession.login(
                emu.admin_email, emu.admin_password, base_url=emu.base_url
            ) as admin,
            WebhookReceiver("whsec_placeholder") as receiver,
            receiver.serve() as hook_url,
        ):
            created = await admin.api_keys.create("demo", rate_limit_per_minute=600)
            hook = await admin.webhooks.create(hook_url)
            receiver.set_secret(hook.secret)
            print(f"created Content API key {created.api_key} (only the prefix is ever shown)")
            print(f"webhook receiver on {hook_url}, signing secret {hook.secret}")
            progress = ProgressDisplay(sys.stdout, total=len(requests))

            def show(p: tf.BulkProgress) -> None:
                progress.update(
                    p.done,
                    (
                        ("created", p.created),
                        ("running", p.running),
                        ("completed", p.completed),
                        ("failed", p.failed + p.errors),
                    ),
                )

            outcomes: list[tf.ExpansionOutcome] = []
            async with tf.ContentSession(
                created.api_key, base_url=emu.base_url, rate_limit_per_minute=600, webhooks=receiver
            ) as s:
                s.attach_webhooks(receiver, fallback_interval=5.0)
                async for outcome in s.expand_many(
                    requests,
                    concurrency=16,
                    on_progress=show,
                    timeout=60.0,
                    poll_interval=0.25,
                    max_interval=1.0,
                ):
                    outcomes.append(outcome)
                progress.close()
                polls = s.poller.stats

        print()
        rows: list[tuple[str, ...]] = []
        for o in sorted(outcomes, key=lambda o: o.index):
            detail = ""
            if o.result is not None and o.result.outputs and o.result.outputs[0].manifest:
                detail = o.result.outputs[0].manifest.public_url or ""
            elif isinstance(o.error, tf.ExpansionFailed) and o.error.error is not None:
                detail = o.error.error.message or ""
            elif o.error is not None:
                detail = str(o.error)
            rows.append((str(o.label or o.index), o.job_id or "-", str(o.status), detail))
        for line in table(("source", "job", "status", "first output"), rows):
            print(line)
        counts = Counter(str(o.status) for o in outcomes)
        print()
        print(
            f"{len(outcomes)} jobs: "
            + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
            + f"; {emu.counters.requests} requests, {emu.counters.rate_limited} rate-limited;"
            f" {receiver.counters.accepted} webhook events, {polls.polls} status polls"
        )
        return counts


async def walk_demo() -> int:
    async with NextTechEmulator(NextTechEmulatorConfig(page_size=20)) as emu:
        add_sample_contents(emu, 240)  # in bursts: four contents share each second
        print(f"\nNext Tech emulator on {emu.base_url}")
        async with nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url) as s:
            walk = s.contents.iterate(project_metadata={"level": "intermediate"})
            first = [await anext(walk) for _ in range(40)]
            token = walk.resume_token
        # Another process would pick the walk up from the token alone.
        async with nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url) as s:
            rest = [c async for c in s.contents.iterate(resume=token)]
        contents = first + rest
        ids = [c.id for c in contents]
        assert len(ids) == len(set(ids)) == 80, "the walk must yield each content once"
        print(
            f"walked {len(contents)} 'intermediate' contents newest first "
            f"({contents[0].created_at:%H:%M:%S} .. {contents[-1].created_at:%H:%M:%S}), "
            f"resumed after 40 from a {len(token)}-byte token, "
            f"{emu.counters.requests} requests"
        )
        return len(contents)


async def run(sources_dir: Path, failure_rate: float) -> int:
    started = time.monotonic()
    counts = await expand_demo(sources_dir, failure_rate)
    await walk_demo()
    print(f"\ndemo finished in {time.monotonic() - started:.1f}s")
    return 0 if counts.get("error", 0) == 0 and counts.get("invalid", 0) == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="examples/demo.py", description=__doc__)
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
