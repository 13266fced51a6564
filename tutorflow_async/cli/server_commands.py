"""``webhooks listen`` and ``emulator``: the commands that run a local server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from edu_async_core.cli_support import (
    CommandError,
    ExitCode,
    Output,
    read_secret,
    serve_until_stopped,
    wait_for_stop,
)

from .. import defaults
from ..testing import EmulatorConfig, TutorFlowEmulator
from ..webhooks import WebhookReceiver
from . import output_records


async def listen(args: argparse.Namespace, out: Output) -> int:
    """Serve the receiver; print each verified, de-duplicated event until stopped."""
    secret = read_secret(
        args.secret_file, defaults.TUTORFLOW_ENV_WEBHOOK_SECRET, "webhook signing secret"
    )
    if secret is None:
        raise CommandError(
            "no signing secret: pass --secret-file or set $TUTORFLOW_WEBHOOK_SECRET"
        )
    async with (
        WebhookReceiver(secret) as receiver,
        receiver.serve(args.host, args.port, path=args.path) as url,
    ):
        out.note(f"listening on {url}")
        seen = 0

        async def consume() -> None:
            nonlocal seen
            async for delivery in receiver:
                record = output_records.delivery_record(delivery)
                out.record(record, output_records.delivery_text(record))
                seen += 1
                if args.max_events and seen >= args.max_events:
                    return

        printer = asyncio.ensure_future(consume())
        stopper = asyncio.ensure_future(wait_for_stop(args.duration))
        try:
            await asyncio.wait({printer, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (printer, stopper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        counters = receiver.counters
        out.note(
            f"{counters.accepted} events accepted, {counters.duplicates} duplicates dropped, "
            f"{counters.rejected_signature} bad signatures, {counters.rejected_body} bad bodies"
        )
    return ExitCode.OK


async def emulator(args: argparse.Namespace, out: Output) -> int:
    """Run the TutorFlow emulator until stopped; print its URL and ready credentials.

    These are the emulator's own throwaway credentials (it lives on this machine and
    forgets them when it stops), so printing them is the point: a harness reads them.
    """
    config = EmulatorConfig(
        host=args.host,
        port=args.port,
        queued_seconds=args.queued_seconds,
        processing_seconds=args.processing_seconds,
        failure_rate=args.failure_rate,
        seed=args.seed,
        webhook_allow_any_host=args.webhook_allow_any_host,
    )
    async with TutorFlowEmulator(config) as emu:
        key = emu.create_api_key(name="cli", rate_limit_per_minute=args.rate_limit)
        env = {
            defaults.TUTORFLOW_ENV_BASE_URL: emu.base_url,
            defaults.TUTORFLOW_ENV_API_KEY: key.api_key,
            defaults.TUTORFLOW_ENV_ORGANIZATION_ID: emu.organization_id,
            defaults.TUTORFLOW_ENV_ADMIN_EMAIL: emu.admin_email,
            defaults.TUTORFLOW_ENV_ADMIN_PASSWORD: emu.admin_password,
        }
        await serve_until_stopped(
            out,
            name="TutorFlow emulator",
            base_url=emu.base_url,
            env=env,
            env_file=args.env_file,
            duration=args.duration,
            requests=lambda: emu.counters.requests,
        )
    return ExitCode.OK
