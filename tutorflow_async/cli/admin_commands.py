"""``keys`` and ``webhooks``: the commands that act as an organization admin.

New secrets (a created or rotated key, a webhook's signing secret) are written to the
file named by ``--secret-file`` (owner-only permissions) and never printed: the output
shows the key prefix and where the secret went.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator

from edu_async_core.cli_support import (
    CommandError,
    ExitCode,
    Output,
    read_secret,
    write_secret_file,
)
from edu_async_core.errors import InvalidArgumentError
from edu_async_core.validation import path_segment, require_str

from .. import defaults
from ..admin import AdminSession
from . import output_records


@contextlib.asynccontextmanager
async def admin_session(args: argparse.Namespace) -> AsyncIterator[AdminSession]:
    """An admin session from a JWT (file or env), else from email + password (login)."""
    jwt = read_secret(args.jwt_file, defaults.TUTORFLOW_ENV_ADMIN_JWT, "admin JWT")
    if jwt is not None:
        async with AdminSession(
            jwt, organization_id=args.organization_id, base_url=args.base_url
        ) as session:
            yield session
        return
    email = args.email or os.environ.get(defaults.TUTORFLOW_ENV_ADMIN_EMAIL) or None
    password = read_secret(
        args.password_file, defaults.TUTORFLOW_ENV_ADMIN_PASSWORD, "admin password"
    )
    if email is None or password is None:
        raise CommandError(
            "no admin credentials: set $TUTORFLOW_ADMIN_JWT (or --jwt-file), or "
            "--email/$TUTORFLOW_ADMIN_EMAIL with --password-file/$TUTORFLOW_ADMIN_PASSWORD",
            ExitCode.AUTH,
        )
    async with AdminSession.login(
        email, password, organization_id=args.organization_id, base_url=args.base_url
    ) as session:
        yield session


def _check_arguments(args: argparse.Namespace) -> None:
    """What can be checked without the server, checked before the login request."""
    for name, label in (("key_id", "KEY_ID"), ("webhook_id", "WEBHOOK_ID")):
        if getattr(args, name, None) is not None:
            path_segment(getattr(args, name), label)
    if getattr(args, "name", None) is not None:
        require_str(args.name, "NAME")
    url = getattr(args, "url", None)
    if url is not None and not str(url).startswith(("https://", "http://")):
        raise InvalidArgumentError("URL", "must be an absolute http(s) URL")


def _secret_file(args: argparse.Namespace) -> str:
    # Checked before any request: a secret shown once must have somewhere to go.
    path: str | None = args.secret_file
    if not path:
        raise CommandError("--secret-file is required: the new secret is written there only")
    return path


async def keys(args: argparse.Namespace, out: Output) -> int:
    action = args.keys_action
    _check_arguments(args)
    secret_path = _secret_file(args) if action in ("create", "rotate") else None
    async with admin_session(args) as admin:
        if action == "list":
            for key in await admin.api_keys.list():
                record = output_records.key_record(key)
                out.record(record, output_records.key_text(record))
            return ExitCode.OK
        if action == "revoke":
            await admin.api_keys.revoke(args.key_id)
            out.record({"id": args.key_id, "status": "revoked"}, f"{args.key_id}  revoked")
            return ExitCode.OK
        if action == "create":
            created = await admin.api_keys.create(args.name, rate_limit_per_minute=args.rate_limit)
        else:
            created = await admin.api_keys.rotate(args.key_id)
    assert secret_path is not None
    write_secret_file(secret_path, created.api_key)
    record = {**output_records.key_record(created), "secret_file": secret_path}
    out.record(record, output_records.key_text(record) + f"  secret written to {secret_path}")
    return ExitCode.OK


async def webhooks(args: argparse.Namespace, out: Output) -> int:
    action = args.webhooks_action
    _check_arguments(args)
    secret_path = _secret_file(args) if action == "create" else None
    async with admin_session(args) as admin:
        if action == "list":
            for hook in await admin.webhooks.list():
                record = output_records.webhook_record(hook)
                out.record(record, output_records.webhook_text(record))
            return ExitCode.OK
        if action == "delete":
            await admin.webhooks.delete(args.webhook_id)
            out.record({"id": args.webhook_id, "status": "deleted"}, f"{args.webhook_id}  deleted")
            return ExitCode.OK
        events = args.events or None
        created = await (
            admin.webhooks.create(args.url, events=events)
            if events
            else admin.webhooks.create(args.url)
        )
    assert secret_path is not None
    write_secret_file(secret_path, created.secret)
    record = {**output_records.webhook_record(created), "secret_file": secret_path}
    note = f"  signing secret written to {secret_path}"
    out.record(record, output_records.webhook_text(record) + note)
    return ExitCode.OK
