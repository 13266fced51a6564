"""What a call tells the outside: its hook events (``CallTrace``) and its log records.

Kept apart from ``transport`` so the request loop reads as the loop it is; nothing here
does I/O or decides anything.
"""

from __future__ import annotations

import logging

import attrs

from .errors import RequestContext, SDKError
from .hooks import CallEnded, Hooks, RequestSent, ResponseReceived, RetryScheduled
from .retry import Failure


@attrs.define(slots=True)
class CallTrace:
    """One call watched by hooks: what its events need to know across attempts."""

    call_id: int
    operation: str
    hooks: Hooks
    attempts: int = 0
    status: int | None = None
    started: float | None = None
    sent_at: float = 0.0

    def sent(self, method: str, context: RequestContext, attempt: int, now: float) -> None:
        self.attempts = attempt
        self.sent_at = now
        if self.started is None:
            self.started = now
        self.hooks.emit(
            RequestSent(
                self.call_id, self.operation, method, context.path, attempt, context.key_prefix
            )
        )

    def answered(
        self, method: str, context: RequestContext, attempt: int, status: int, now: float
    ) -> None:
        self.status = status
        self.hooks.emit(
            ResponseReceived(
                self.call_id,
                self.operation,
                method,
                context.path,
                attempt,
                status,
                now - self.sent_at,
                context.key_prefix,
            )
        )

    def retrying(
        self,
        method: str,
        context: RequestContext,
        attempt: int,
        delay: float,
        failure: Failure,
        error: SDKError,
    ) -> None:
        self.hooks.emit(
            RetryScheduled(
                self.call_id,
                self.operation,
                method,
                context.path,
                attempt,
                delay,
                failure.value,
                error.status,
                error,
                context.key_prefix,
            )
        )

    def ended(
        self, method: str, context: RequestContext, now: float, error: BaseException | None
    ) -> None:
        self.hooks.emit(
            CallEnded(
                self.call_id,
                self.operation,
                method,
                context.path,
                self.attempts,
                self.status,
                0.0 if self.started is None else now - self.started,
                error,
                context.key_prefix,
            )
        )


def log_fields(context: RequestContext, **fields: object) -> dict[str, object]:
    """A log record's ``extra=``: the call's identity and the step's figures."""
    return {
        "method": context.method,
        "path": context.path,
        "key_prefix": context.key_prefix,
        "idempotency_key": context.idempotency_key,
        **fields,
    }


def _describe(failure: Failure, error: SDKError) -> str:
    return f"status {error.status}" if failure is Failure.STATUS else failure.value


def log_retry(
    logger: logging.Logger,
    method: str,
    context: RequestContext,
    attempt: int,
    failure: Failure,
    error: SDKError,
    delay: float,
) -> None:
    """An INFO record for a retry about to happen, with its fields in ``extra=``."""
    logger.info(
        "retrying %s %s in %.3fs after attempt %d (%s)",
        method,
        context.path,
        delay,
        attempt,
        _describe(failure, error),
        extra=log_fields(
            context, attempt=attempt, status=error.status, reason=failure.value, delay=delay
        ),
    )


def log_give_up(
    logger: logging.Logger,
    method: str,
    context: RequestContext,
    attempt: int,
    failure: Failure,
    error: SDKError,
    why: str,
) -> None:
    """An INFO record for a call ending with an error it could have retried, and why."""
    logger.info(
        "giving up %s %s after %d attempts (%s; last: %s)",
        method,
        context.path,
        attempt,
        why,
        _describe(failure, error),
        extra=log_fields(
            context, attempt=attempt, status=error.status, reason=failure.value, give_up=why
        ),
    )
