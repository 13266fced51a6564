"""``expand``, ``wait`` and ``result``: the commands that use a Content API key."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
from pathlib import Path
from typing import Any

from edu_async_core.cli_support import CommandError, ExitCode, Output, ProgressDisplay, read_secret
from edu_async_core.cli_support import is_auth_error as _is_auth_error
from edu_async_core.errors import SDKError
from edu_async_core.validation import path_segment

from .. import defaults
from ..bulk import BulkProgress, ExpansionOutcome, ExpansionRequest, OutcomeStatus
from ..content import ContentSession
from ..errors import ExpansionFailed, ExpansionTimeoutError
from ..journal import Journal
from ..models import ExpansionResult, OutputType
from . import output_records


def content_session(args: argparse.Namespace, rate_limit: int | None = None) -> ContentSession:
    key = read_secret(args.api_key_file, defaults.TUTORFLOW_ENV_API_KEY, "Content API key")
    if key is None:
        raise CommandError(
            f"no Content API key: set ${defaults.TUTORFLOW_ENV_API_KEY} or pass --api-key-file",
            ExitCode.AUTH,
        )
    return ContentSession(
        key,
        base_url=args.base_url,
        rate_limit_per_minute=rate_limit or args.rate_limit,
    )


#: Arrays and objects inside each other a source file may have. Python's JSON encoder
#: recurses once per level, and a payload much deeper than this would fail deep in the
#: run (or crash it) rather than come back as that input's ``invalid`` outcome.
MAX_SOURCE_DEPTH = 500
_TOO_DEEP = (
    f"nested more than {MAX_SOURCE_DEPTH} levels deep (arrays and objects inside each other)"
)


def source_files(paths: list[str]) -> list[Path]:
    """The JSON files named, folders expanded to their ``*.json`` (sorted, recursive).

    A ``*.json`` symbolic link in a folder that loops or points nowhere is kept: it is
    reported as an invalid input rather than left out without a word.
    """
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*.json") if p.is_file() or _broken_link(p))
            )
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"no such file or folder: {name}")
    if not files:
        raise CommandError("no source-JSON files found in " + ", ".join(paths))
    return files


def _broken_link(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def _broken_link_problem(path: Path) -> str:
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        if exc.errno == errno.ENOENT:
            return f"a symbolic link to a missing file: {os.readlink(path)}"
        return f"a symbolic link that cannot be followed: {exc.strerror}"
    return "a symbolic link that cannot be followed"


def _too_deep(value: object, limit: int) -> bool:
    """Whether arrays and objects sit more than ``limit`` levels inside each other
    (without recursion: the point is to refuse what would exhaust the stack)."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = (
        [(value, 1)] if isinstance(value, dict | list) else []
    )
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _load(path: Path) -> dict[str, Any] | str:
    """The file's JSON object, or why it is not one."""
    if _broken_link(path):
        return _broken_link_problem(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"not readable as JSON: {exc}"
    except RecursionError:  # the decoder recurses once per level, too
        return _TOO_DEEP
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    if _too_deep(value, MAX_SOURCE_DEPTH):
        return _TOO_DEEP
    return value


def _requested_outputs(text: str | None) -> list[str] | None:
    # Checked here, once: an unknown output would otherwise make every input "invalid".
    if text is None:
        return None
    outputs = [part.strip() for part in text.split(",") if part.strip()]
    if not outputs:
        raise CommandError("--requested-outputs: name at least one output")
    known = [o.value for o in OutputType]
    unknown = [o for o in outputs if o not in known]
    if unknown:
        raise CommandError(
            f"--requested-outputs: unknown {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return outputs


def _exit_status(outcomes: list[tuple[OutcomeStatus, BaseException | None]]) -> ExitCode:
    if any(error is not None and _is_auth_error(error) for _, error in outcomes):
        return ExitCode.AUTH
    if any(status != OutcomeStatus.COMPLETED for status, _ in outcomes):
        return ExitCode.PARTIAL
    return ExitCode.OK


async def expand(args: argparse.Namespace, out: Output) -> int:
    outputs = _requested_outputs(args.requested_outputs)
    files = source_files(args.paths)
    # Opened here, first: a bad --journal exits 2 before any file is read or reported.
    journal = Journal(args.journal) if args.journal is not None else None
    try:
        return await _expand(args, out, outputs, files, journal)
    finally:
        if journal is not None:
            journal.close()


async def _expand(
    args: argparse.Namespace,
    out: Output,
    outputs: list[str] | None,
    files: list[Path],
    journal: Journal | None,
) -> int:
    loaded = [(path, _load(path)) for path in files]
    requests: list[ExpansionRequest] = []
    positions: list[int] = []  # position in `files` of each request
    ended: list[tuple[OutcomeStatus, BaseException | None]] = []
    for index, (path, value) in enumerate(loaded):
        if isinstance(value, str):
            # A file that is not a JSON object is an input too: reported once, never lost.
            out.record(
                {"index": index, "label": str(path), "status": "invalid", "job_id": None,
                 "error": {"type": "InvalidInput", "message": value}},
                f"{'invalid':<9} {path}  -  {value}",
            )
            ended.append((OutcomeStatus.INVALID, None))
            continue
        requests.append(
            ExpansionRequest(
                value,
                requested_outputs=outputs,
                source_type=args.source_type,
                label=str(path),
            )
        )
        positions.append(index)
    progress = ProgressDisplay(out.stderr, total=len(files), enabled=not out.quiet)
    invalid = len(ended)

    def show(p: BulkProgress) -> None:
        progress.update(
            p.done + invalid,
            (
                ("created", p.created),
                ("running", p.running),
                ("completed", p.completed),
                ("failed", p.failed + p.errors + invalid),
            ),
        )

    if requests:
        async with content_session(args) as session:
            async for outcome in session.expand_many(
                requests,
                concurrency=args.concurrency,
                journal=journal,
                timeout=args.timeout,
                poll_interval=args.poll_interval,
                max_interval=args.max_interval,
                on_progress=show,
            ):
                _report_outcome(out, outcome, positions)
                ended.append((outcome.status, outcome.error))
    progress.close()
    counts: dict[str, int] = {}
    for status, _ in ended:
        counts[str(status)] = counts.get(str(status), 0) + 1
    out.note(
        f"{len(ended)} inputs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    )
    return _exit_status(ended)


def _report_outcome(out: Output, outcome: ExpansionOutcome, positions: list[int]) -> None:
    # Indexes are the file's place on the command line, not its place among valid files.
    record = output_records.outcome_record(outcome)
    record["index"] = positions[outcome.index]
    out.record(record, output_records.outcome_text(outcome))


async def wait(args: argparse.Namespace, out: Output) -> int:
    job_ids = list(dict.fromkeys(args.job_ids))
    for job_id in job_ids:  # a malformed id is the caller's mistake: exit 2, nothing sent
        path_segment(job_id, "JOB_ID")
    ended: list[tuple[OutcomeStatus, BaseException | None]] = []
    async with content_session(args) as session:

        async def one(job_id: str) -> tuple[str, ExpansionResult | None, SDKError | None]:
            try:
                found = await session.wait_for_expansion(
                    job_id,
                    timeout=args.timeout,
                    poll_interval=args.poll_interval,
                    max_interval=args.max_interval,
                )
            except SDKError as exc:
                return job_id, None, exc
            return job_id, found, None

        tasks = [asyncio.ensure_future(one(job_id)) for job_id in job_ids]
        try:
            for finished in asyncio.as_completed(tasks):
                job_id, found, error = await finished
                status = _wait_status(error)
                outputs = found.outputs if found is not None else ()
                record = output_records.wait_record(job_id, str(status), outputs, error)
                ended.append((status, error))
                out.record(record, output_records.wait_text(record, error))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return _exit_status(ended)


def _wait_status(error: SDKError | None) -> OutcomeStatus:
    if error is None:
        return OutcomeStatus.COMPLETED
    if isinstance(error, ExpansionFailed):
        return OutcomeStatus.FAILED
    if isinstance(error, ExpansionTimeoutError):
        return OutcomeStatus.TIMEOUT
    return OutcomeStatus.ERROR


async def result(args: argparse.Namespace, out: Output) -> int:
    async with content_session(args) as session:
        found = await session.expansions.result(args.job_id)
    if args.raw:
        out.record(dict(found.raw))
        return ExitCode.OK
    outputs = output_records.output_records(found.outputs)
    record = {"job_id": found.job.id, "status": found.job.status, "outputs": outputs}
    lines = [f"{found.job.id}  {found.job.status}"]
    lines += [
        f"  {o['output_type']:<20} {o.get('status') or '':<10} {o.get('public_url', '')}".rstrip()
        for o in outputs
    ]
    out.record(record, "\n".join(lines))
    return ExitCode.OK
