"""``nexttech-async``: walk Next Tech contents and grades from the command line.

``contents`` and ``grades`` stream every item of a range as JSON lines (the item as the
API sent it), newest first, each exactly once. With ``--resume-file`` a walk that is
stopped (Ctrl-C, ``--limit``, a crash between saves) continues where it was on the next
run. ``emulator`` runs the local Next Tech emulator with sample data.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edu_async_core import defaults as core_defaults
from edu_async_core.cli_support import (
    CommandError,
    ExitCode,
    Output,
    ProgressDisplay,
    add_listen_address,
    add_output_options,
    configure_logging,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    read_secret,
    run,
    serve_until_stopped,
)

from .. import defaults
from ..listing import Listing
from ..session import NextTechSession
from ..testing import NextTechEmulator, NextTechEmulatorConfig, PageSchedule
from ..testing.samples import add_sample_contents, add_sample_grades
from ..walk import AsyncWalk

__all__ = ["build_parser", "main"]

#: Items between two saves of the resume file (and at every stop).
RESUME_SAVE_EVERY = 200


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _page_schedule(text: str) -> PageSchedule:
    # ArgumentTypeError keeps the parser's message (a ValueError would be reduced to
    # "invalid value"), so the usage error names the flag and says what is accepted.
    try:
        return PageSchedule.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _session(args: argparse.Namespace) -> NextTechSession:
    token = args.api_token or os.environ.get(defaults.NEXTTECH_ENV_API_TOKEN) or None
    secret = read_secret(args.secret_key_file, defaults.NEXTTECH_ENV_SECRET_KEY, "secret key")
    if token is None or secret is None:
        raise CommandError(
            f"no credentials: set ${defaults.NEXTTECH_ENV_API_TOKEN} (or --api-token) and "
            f"${defaults.NEXTTECH_ENV_SECRET_KEY} (or --secret-key-file)",
            ExitCode.AUTH,
        )
    return NextTechSession(token, secret, base_url=args.base_url)


#: The options that choose what a walk lists; a resume file remembers them.
_WALK_OPTIONS = (
    "after",
    "before",
    "remote_user_id",
    "project_metadata",
    "course_metadata",
    "course_uid",
    "shards",
    "unordered",
)


def _walk_options(args: argparse.Namespace) -> dict[str, Any]:
    """The walk-choosing options given on this command line (tuples as lists, for JSON)."""
    given: dict[str, Any] = {}
    for name in _WALK_OPTIONS:
        value = getattr(args, name, None)
        if value in (None, False) or (name == "shards" and value == 1):
            continue  # not given: the defaults
        if isinstance(value, list):  # repeated options; KEY=VALUE pairs are tuples
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        given[name] = value
    return given


def _save_token(path: str, args: argparse.Namespace, token: str) -> None:
    # Replace atomically: a kill mid-write must leave the previous token, not half of one.
    record = {"command": args.command, "options": _walk_options(args), "token": token}
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=".resume-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    os.replace(tmp, target)


def _forget_token(path: str) -> None:
    # A finished walk must not be "resumed" by the next run: that one starts afresh.
    Path(path).unlink(missing_ok=True)


def _load_token(args: argparse.Namespace) -> str | None:
    """The token to resume from, checked against this command line (before any request).

    Re-running the same command resumes, and so does naming only the resume file; a
    command that asks for another walk is refused rather than silently walking the old one.
    """
    given = _walk_options(args)
    if args.resume is not None:
        if given:
            raise CommandError(
                "--resume: the token carries the range and filters; pass no "
                + ", ".join("--" + name.replace("_", "-") for name in given)
            )
        return str(args.resume)
    if not args.resume_file or not Path(args.resume_file).is_file():
        return None
    try:
        record = json.loads(Path(args.resume_file).read_text(encoding="utf-8"))
        command, options, token = record["command"], record["options"], record["token"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CommandError(
            f"--resume-file: {args.resume_file} is not a resume file of this tool"
        ) from None
    if command != args.command or (given and given != options):
        raise CommandError(
            f"--resume-file: {args.resume_file} holds another walk ({command} {options}); "
            "run that command to finish it, or delete the file"
        )
    return str(token)


async def walk(args: argparse.Namespace, out: Output) -> int:
    token = _load_token(args)
    async with _session(args) as session:
        listing: Listing[Any] = (
            session.contents if args.command == "contents" else session.grades
        )
        items: AsyncWalk[Any]
        if token is not None:
            out.note("resuming the walk from its token")
            items = listing.iterate(resume=token)
        else:
            items = listing.iterate(
                after=args.after,
                before=args.before,
                remote_user_id=getattr(args, "remote_user_id", None),
                project_metadata=args.project_metadata,
                course_metadata=args.course_metadata,
                course_uid=args.course_uid,
                shards=args.shards,
                ordered=not args.unordered,
            )
        progress = ProgressDisplay(out.stderr, total=None, unit=" items", enabled=not out.quiet)
        count = 0
        finished = False
        try:
            async with items:
                async for item in items:
                    out.record(dict(item.raw))
                    count += 1
                    progress.update(count)
                    if args.resume_file and count % RESUME_SAVE_EVERY == 0:
                        _save_token(args.resume_file, args, items.resume_token)
                    if args.limit and count >= args.limit:
                        break
                else:
                    finished = True
        finally:
            progress.close()
            if args.resume_file and not finished and count:
                _save_token(args.resume_file, args, items.resume_token)
                out.note(f"stopped after {count} items; run again to resume from "
                         f"{args.resume_file}")
        if finished and args.resume_file:
            _forget_token(args.resume_file)
        if finished:
            out.note(f"walk complete: {count} items")
    return ExitCode.OK


async def emulator(args: argparse.Namespace, out: Output) -> int:
    """Run the emulator with sample data until stopped; print its URL and credentials.

    The credentials are the emulator's own, made up at start and gone when it stops, so
    printing them is what makes it usable from a shell or a harness.
    """
    if args.hidden_fraction > 0 and args.max_hidden_run == 0:
        # Checked here, before anything listens, in the flags' own names.
        raise CommandError(
            f"--hidden-fraction {args.hidden_fraction} needs --max-hidden-run N >= 1 "
            "(how many items in a row it may hide)"
        )
    config = NextTechEmulatorConfig(
        host=args.host,
        port=args.port,
        page_size=args.page_size,
        before_inclusive=args.before_inclusive,
        after_inclusive=args.after_inclusive,
        time_resolution=args.time_resolution,
        latency=args.latency,
        seed=args.seed,
        page_schedule=args.page_schedule,
        filter_after_limit=args.filter_after_limit,
        hidden_fraction=args.hidden_fraction,
        max_hidden_run=args.max_hidden_run,
    )
    smallest = config.page_schedule.smallest if config.page_schedule else config.page_size
    if config.filter_after_limit and config.hidden_fraction > 0 and (
        config.max_hidden_run >= smallest
    ):
        out.note(
            f"--max-hidden-run {config.max_hidden_run} is not below the smallest page size "
            f"({smallest}): a walk may meet an empty page before the end and stop there"
        )
    async with NextTechEmulator(config) as emu:
        add_sample_contents(emu, args.contents)
        add_sample_grades(emu, args.grades)
        env = {
            defaults.NEXTTECH_ENV_BASE_URL: emu.base_url,
            defaults.NEXTTECH_ENV_API_TOKEN: emu.api_token,
            defaults.NEXTTECH_ENV_SECRET_KEY: emu.secret_key,
        }
        await serve_until_stopped(
            out,
            name=f"Next Tech emulator with {args.contents} contents and {args.grades} grades",
            base_url=emu.base_url,
            env=env,
            env_file=args.env_file,
            duration=args.duration,
            requests=lambda: emu.counters.requests,
        )
    return ExitCode.OK


def _common() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    add_output_options(parent)
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nexttech-async``, with every command and option.

    The commands are ``contents`` and ``grades`` (stream a range as JSON lines, newest
    first, resumable with a resume file) and ``emulator``. Each parsed namespace carries
    its command's function as ``handler``; :func:`main` runs it.
    """
    parser = argparse.ArgumentParser(
        prog="nexttech-async",
        description="Walk Next Tech contents and grades. Exit codes: 0 ok, 1 error, "
        "2 usage, 3 auth, 130 interrupted.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in ("contents", "grades"):
        sub = commands.add_parser(
            name, parents=[_common()],
            help=f"stream every {name[:-1]} of a range as JSON lines, newest first",
        )
        connection = sub.add_argument_group("connection")
        connection.add_argument("--base-url", help=f"default ${defaults.NEXTTECH_ENV_BASE_URL}, "
                                f"else {defaults.NEXTTECH_BASE_URL}")
        connection.add_argument("--api-token",
                                help=f"API token (default ${defaults.NEXTTECH_ENV_API_TOKEN})")
        connection.add_argument("--secret-key-file", metavar="FILE", help="file holding the "
                                f"secret key (default ${defaults.NEXTTECH_ENV_SECRET_KEY})")
        filters = sub.add_argument_group("filters")
        filters.add_argument("--after", help="ISO 8601 time with a zone, e.g. 2026-01-01T00:00Z")
        filters.add_argument("--before", help="ISO 8601 time with a zone")
        if name == "contents":  # documented for contents only
            filters.add_argument("--remote-user-id")
        filters.add_argument("--project-metadata", type=_pair, action="append",
                             metavar="KEY=VALUE", help="repeatable; all must match")
        filters.add_argument("--course-metadata", type=_pair, action="append",
                             metavar="KEY=VALUE", help="repeatable; all must match")
        filters.add_argument("--course-uid", action="append", metavar="UID",
                             help="course API key (repeatable)")
        walking = sub.add_argument_group("walk")
        walking.add_argument("--shards", type=positive_int, default=1,
                             help="date windows walked at once (needs --after)")
        walking.add_argument("--unordered", action="store_true",
                             help="with --shards: print items as they arrive")
        walking.add_argument("--limit", type=positive_int, help="stop after N items")
        walking.add_argument("--resume", metavar="TOKEN", help="continue from a resume token")
        walking.add_argument("--resume-file", metavar="FILE",
                             help="keep the resume token here; a re-run continues from it")
        sub.set_defaults(handler=walk)

    emu = commands.add_parser(
        "emulator", parents=[_common()],
        help="run the local Next Tech emulator with sample data; prints URL and credentials",
    )
    add_listen_address(emu, default_port=core_defaults.CLI_EMULATOR_PORT)
    emu.add_argument("--contents", type=non_negative_int, default=200)
    emu.add_argument("--grades", type=non_negative_int, default=50)
    emu.add_argument("--page-size", type=positive_int, default=100)
    emu.add_argument("--page-schedule", type=_page_schedule, metavar="TEXT",
                     help="page size per list request, instead of --page-size: N, LOW..HIGH "
                     "(random, seeded), N1,N2,... (cycle) or FIRST>THEN@AFTER (FIRST for the "
                     "first AFTER requests)")
    emu.add_argument("--filter-after-limit", action="store_true",
                     help="cut each page to its size first, then drop hidden and filtered-out "
                     "items: pages may come back short or empty while more remain")
    emu.add_argument("--hidden-fraction", type=fraction, default=0.0, metavar="F",
                     help="chance that a sample item is hidden from every answer (needs "
                     "--max-hidden-run)")
    emu.add_argument("--max-hidden-run", type=non_negative_int, default=0, metavar="N",
                     help="at most N hidden items in a row; keep it below the smallest page "
                     "size, or a walk under --filter-after-limit may stop early")
    emu.add_argument("--before-inclusive", action="store_true")
    emu.add_argument("--after-inclusive", action="store_true")
    emu.add_argument("--time-resolution", choices=["millisecond", "second"],
                     default="millisecond")
    emu.add_argument("--latency", type=non_negative_float, default=0.0, help="seconds per answer")
    emu.add_argument("--seed", type=int, default=0)
    emu.add_argument("--env-file", metavar="FILE", help="also write the variables to FILE")
    emu.add_argument("--duration", type=positive_float, help="stop after N seconds")
    emu.set_defaults(handler=emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nexttech-async``; returns the exit status."""
    args = build_parser().parse_args(argv)
    out = Output(json_mode=args.json, quiet=args.quiet)
    configure_logging(args.verbose, out.stderr)
    return run(lambda: args.handler(args, out), out)
