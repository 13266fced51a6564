"""``tutorflow-async``: the TutorFlow SDK from the command line.

Run ``tutorflow-async --help`` (or ``python -m tutorflow_async.cli --help``). Credentials
come from the environment or from files, never from option values, and no secret is
ever printed; see the README's "Command line" section for the exit codes.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence

from edu_async_core import defaults as core_defaults
from edu_async_core.cli_support import (
    Output,
    add_listen_address,
    add_output_options,
    configure_logging,
    fraction,
    non_negative_float,
    run,
)
from edu_async_core.cli_support import positive_float as _positive_float
from edu_async_core.cli_support import positive_int as _positive_int

from .. import defaults
from ..models import OutputType, SourceType, WebhookEvent
from . import admin_commands, content_commands, server_commands

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace, Output], Awaitable[int]]


def _common(content: bool = False, admin: bool = False) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    add_output_options(parent)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--base-url",
        help=f"API base URL (default ${defaults.TUTORFLOW_ENV_BASE_URL}, "
        f"else {defaults.TUTORFLOW_BASE_URL})",
    )
    if content:
        group.add_argument(
            "--api-key-file",
            metavar="FILE",
            help=f"file holding the Content API key (default ${defaults.TUTORFLOW_ENV_API_KEY})",
        )
        group.add_argument(
            "--rate-limit",
            type=_positive_int,
            default=core_defaults.RATE_LIMIT_PER_MINUTE,
            metavar="N",
            help="the key's requests per minute (default %(default)s)",
        )
    if admin:
        group.add_argument("--jwt-file", metavar="FILE", help="file holding an admin JWT "
                           f"(default ${defaults.TUTORFLOW_ENV_ADMIN_JWT})")
        group.add_argument("--email", help=f"admin email (default "
                           f"${defaults.TUTORFLOW_ENV_ADMIN_EMAIL})")
        group.add_argument("--password-file", metavar="FILE", help="file holding the admin "
                           f"password (default ${defaults.TUTORFLOW_ENV_ADMIN_PASSWORD})")
        group.add_argument("--organization-id", help="organization (default "
                           f"${defaults.TUTORFLOW_ENV_ORGANIZATION_ID}, else from the login)")
    return parent


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=_positive_float, default=defaults.WAIT_TIMEOUT,
                        help="seconds to wait for each job (default %(default)s)")
    parser.add_argument("--poll-interval", type=_positive_float, default=defaults.POLL_INTERVAL,
                        help="first interval between polls (default %(default)s)")
    parser.add_argument("--max-interval", type=_positive_float,
                        default=defaults.POLL_MAX_INTERVAL,
                        help="largest interval between polls (default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tutorflow-async``, with every command and option.

    The commands are ``expand``, ``wait`` and ``result`` (Content API key), ``keys`` and
    ``webhooks`` (admin; ``webhooks listen`` receives deliveries) and ``emulator``. Each
    parsed namespace carries its command's function as ``handler``; :func:`main` runs it.
    """
    parser = argparse.ArgumentParser(
        prog="tutorflow-async",
        description="The TutorFlow Content Integration API from the command line. "
        "Exit codes: 0 ok, 1 error, 2 usage, 3 auth, 4 partial failure, 130 interrupted.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    content = _common(content=True)
    admin = _common(admin=True)
    outputs = ", ".join(o.value for o in OutputType)

    expand = commands.add_parser(
        "expand", parents=[content], help="expand source-JSON files (a bulk run, resumable)",
        description="Create an expansion job per source-JSON file and wait for them all. "
        "Re-running with the same --journal resumes without creating any job twice.",
    )
    expand.add_argument("paths", nargs="+", metavar="FILE|DIR",
                        help="source-JSON files, or folders searched for *.json")
    expand.add_argument("--concurrency", type=_positive_int, default=16,
                        help="inputs in progress at once (default %(default)s)")
    expand.add_argument("--journal", metavar="FILE",
                        help="journal file: makes the run resumable after a crash")
    expand.add_argument("--requested-outputs", metavar="A,B",
                        help=f"outputs to ask for, comma-separated ({outputs})")
    expand.add_argument("--source-type", default=SourceType.SOURCE_JSON.value,
                        help="source type (default %(default)s)")
    _wait_options(expand)
    expand.set_defaults(handler=content_commands.expand)

    wait = commands.add_parser("wait", parents=[content], help="wait for jobs to finish")
    wait.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    _wait_options(wait)
    wait.set_defaults(handler=content_commands.wait)

    result = commands.add_parser("result", parents=[content], help="show a job's result")
    result.add_argument("job_id", metavar="JOB_ID")
    result.add_argument("--raw", action="store_true", help="the answer as sent, as JSON")
    result.set_defaults(handler=content_commands.result)

    keys = commands.add_parser("keys", help="manage Content API keys (admin)")
    key_actions = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    created = key_actions.add_parser("create", parents=[admin], help="create a key")
    created.add_argument("name")
    created.add_argument("--rate-limit", type=_positive_int,
                         default=core_defaults.RATE_LIMIT_PER_MINUTE, help="requests per minute")
    created.add_argument("--secret-file", metavar="FILE", required=True,
                         help="where to write the new key (owner-only file)")
    key_actions.add_parser("list", parents=[admin], help="list keys (prefixes only)")
    rotated = key_actions.add_parser("rotate", parents=[admin], help="rotate a key")
    rotated.add_argument("key_id", metavar="KEY_ID")
    rotated.add_argument("--secret-file", metavar="FILE", required=True,
                         help="where to write the new key (owner-only file)")
    revoked = key_actions.add_parser("revoke", parents=[admin], help="revoke a key")
    revoked.add_argument("key_id", metavar="KEY_ID")
    keys.set_defaults(handler=admin_commands.keys)

    hooks = commands.add_parser("webhooks", help="manage webhooks (admin), or receive them")
    hook_actions = hooks.add_subparsers(dest="webhooks_action", required=True,
                                        metavar="ACTION")
    hook_create = hook_actions.add_parser("create", parents=[admin], help="subscribe a URL")
    hook_create.add_argument("url")
    hook_create.add_argument("--event", dest="events", action="append",
                             choices=[e.value for e in WebhookEvent],
                             help="event to subscribe (repeatable; default all)")
    hook_create.add_argument("--secret-file", metavar="FILE", required=True,
                             help="where to write the signing secret (owner-only file)")
    hook_actions.add_parser("list", parents=[admin], help="list webhooks")
    hook_delete = hook_actions.add_parser("delete", parents=[admin], help="delete a webhook")
    hook_delete.add_argument("webhook_id", metavar="WEBHOOK_ID")
    hooks.set_defaults(handler=admin_commands.webhooks)

    listen = hook_actions.add_parser(
        "listen", parents=[_common()],
        help="receive webhooks: verify, de-duplicate and print each event",
    )
    add_listen_address(listen, default_port=8080)
    listen.add_argument("--path", default=defaults.WEBHOOK_PATH)
    listen.add_argument("--secret-file", metavar="FILE",
                        help=f"signing secret (default ${defaults.TUTORFLOW_ENV_WEBHOOK_SECRET})")
    listen.add_argument("--max-events", type=_positive_int, help="stop after N events")
    listen.add_argument("--duration", type=_positive_float, help="stop after N seconds")
    listen.set_defaults(handler=server_commands.listen)

    emulator = commands.add_parser(
        "emulator", parents=[_common()],
        help="run the local TutorFlow emulator; prints its URL and a ready key",
    )
    add_listen_address(emulator, default_port=core_defaults.CLI_EMULATOR_PORT)
    emulator.add_argument("--queued-seconds", type=non_negative_float, default=0.5)
    emulator.add_argument("--processing-seconds", type=non_negative_float, default=2.0)
    emulator.add_argument("--failure-rate", type=fraction, default=0.0,
                          help="share of jobs that fail, 0..1 (default %(default)s)")
    emulator.add_argument("--rate-limit", type=_positive_int,
                          default=defaults.CLI_EMULATOR_KEY_RATE,
                          help="requests per minute of the ready key (default %(default)s)")
    emulator.add_argument("--seed", type=int, default=0)
    emulator.add_argument("--webhook-allow-any-host", action="store_true",
                          help="deliver webhooks to any host, not only loopback ones")
    emulator.add_argument("--env-file", metavar="FILE",
                          help="also write the variables to FILE (owner-only)")
    emulator.add_argument("--duration", type=_positive_float, help="stop after N seconds")
    emulator.set_defaults(handler=server_commands.emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tutorflow-async``; returns the exit status."""
    args = build_parser().parse_args(argv)
    out = Output(json_mode=args.json, quiet=args.quiet)
    configure_logging(args.verbose, out.stderr)
    handler: Command = args.handler
    return run(lambda: handler(args, out), out)
