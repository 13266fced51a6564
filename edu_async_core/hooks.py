"""Event hooks: what a session did, told as it happens, to whoever listens.

A hook is a plain callable that takes one event. Attach it to a session (``hooks=`` when
the session is made, or ``session.hooks.add(...)`` later) to count, trace or log what the
SDK does: each attempt sent and answered, each retry and why, each wait for the key's
rate limit, each poll of a job, and the start and end of the longer operations (a wait,
a bulk run, a walk). Events are frozen attrs classes; match on their type::

    def count_retries(event: Event) -> None:
        if isinstance(event, RetryScheduled):
            retries[event.reason] += 1

    session.hooks.add(count_retries)

Hooks run synchronously, in the task that made the event, so they must be quick (count,
record, hand off); an exception a hook raises is logged at WARNING and never reaches the
call. With no hook attached nothing is built: the transport asks one attribute per step.
Events carry key prefixes, never secrets.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final, TypeAlias

import attrs

from .errors import InvalidArgumentError

__all__ = [
    "CallEnded",
    "CallStarted",
    "Event",
    "Hook",
    "Hooks",
    "Operation",
    "OperationEnded",
    "OperationStarted",
    "PollDecision",
    "RateLimitWait",
    "RequestSent",
    "ResponseReceived",
    "RetryScheduled",
    "as_hooks",
    "next_id",
]

_log: Final = logging.getLogger("edu_async_core.hooks")
_ids = itertools.count(1)


def next_id() -> int:
    """A process-unique number tying an operation's or a call's events together."""
    return next(_ids)


@attrs.frozen(slots=True)
class CallStarted:
    """A logical request (an SDK call, with all its attempts) begins."""

    call_id: int
    operation: str  #: e.g. ``"expansions.create"``; ``"GET /path"`` when the SDK named none
    method: str
    path: str
    key_prefix: str | None
    idempotency_key: str | None


@attrs.frozen(slots=True)
class RequestSent:
    """One attempt of a call is about to go on the wire (its rate-limit slot is held)."""

    call_id: int
    operation: str
    method: str
    path: str
    attempt: int  #: 1 for the first attempt
    key_prefix: str | None


@attrs.frozen(slots=True)
class ResponseReceived:
    """An attempt was answered with an HTTP status (whatever the status)."""

    call_id: int
    operation: str
    method: str
    path: str
    attempt: int
    status: int
    elapsed: float  #: seconds from sending this attempt to its whole body
    key_prefix: str | None


@attrs.frozen(slots=True)
class RetryScheduled:
    """An attempt failed in a way that is safe to repeat; the next one follows ``delay``."""

    call_id: int
    operation: str
    method: str
    path: str
    attempt: int  #: the attempt that failed
    delay: float  #: seconds until the next attempt
    reason: str  #: ``"status"``, ``"timeout"``, ``"connection"``, ``"not_sent"``, ``"malformed"``
    status: int | None  #: the HTTP status, when the failure was one
    error: BaseException  #: the typed SDK error the attempt ended with
    key_prefix: str | None


@attrs.frozen(slots=True)
class RateLimitWait:
    """An attempt waited for the key's rate limit (a full window, or a 429's pause)."""

    call_id: int
    operation: str
    seconds: float
    key_prefix: str | None


@attrs.frozen(slots=True)
class CallEnded:
    """A call is over: ``error`` is None when it returned a 2xx answer."""

    call_id: int
    operation: str
    method: str
    path: str
    attempts: int
    status: int | None  #: the last status seen, if any attempt was answered
    elapsed: float  #: seconds from the call's first attempt to its end
    error: BaseException | None
    key_prefix: str | None


@attrs.frozen(slots=True)
class PollDecision:
    """A poll of a job was answered and the waiter decided what comes next."""

    job_id: str
    status: str  #: the status the job reported, as the server spelled it
    polls: int  #: polls of this job so far, this one included
    done: bool  #: True when this poll ends the wait (a result is fetched, or it failed)
    next_poll_in: float | None  #: seconds to the next poll; None when done


@attrs.frozen(slots=True)
class OperationStarted:
    """A longer operation began: ``"wait_for_expansion"``, ``"expand_many"``, ``"walk"``."""

    operation_id: int
    name: str
    attributes: Mapping[str, str | int | float | bool]


@attrs.frozen(slots=True)
class OperationEnded:
    """A longer operation ended; ``error`` is None when it ended normally."""

    operation_id: int
    name: str
    elapsed: float
    error: BaseException | None
    attributes: Mapping[str, str | int | float | bool]  #: figures known at the end


#: Any of the events above: what a :data:`Hook` is called with.
Event: TypeAlias = (
    CallStarted
    | RequestSent
    | ResponseReceived
    | RetryScheduled
    | RateLimitWait
    | CallEnded
    | PollDecision
    | OperationStarted
    | OperationEnded
)
#: A hook: a plain callable taking one :data:`Event`; what it returns is ignored.
Hook: TypeAlias = Callable[[Event], None]


class Hooks:
    """The hooks attached to one session (its transport and its waits share them).

    ``active`` is False until a hook is added; the SDK builds no event while it is.
    """

    __slots__ = ("_hooks", "active")

    def __init__(self, hooks: Iterable[Hook] = ()) -> None:
        self._hooks: tuple[Hook, ...] = ()
        self.active = False
        for hook in hooks:
            self.add(hook)

    def __repr__(self) -> str:
        return f"Hooks({len(self._hooks)} attached)"

    def __len__(self) -> int:
        return len(self._hooks)

    def add(self, hook: Hook) -> Callable[[], None]:
        """Attach ``hook``; returns a function that detaches it again.

        Raises:
            InvalidArgumentError: if ``hook`` is not callable.
        """
        if not callable(hook):
            raise InvalidArgumentError("hook", f"must be callable, got {type(hook).__name__}")
        self._hooks = (*self._hooks, hook)
        self.active = True

        def remove() -> None:
            self.remove(hook)

        return remove

    def remove(self, hook: Hook) -> None:
        """Detach ``hook`` (nothing happens if it is not attached)."""
        hooks = list(self._hooks)
        if hook in hooks:
            hooks.remove(hook)
        self._hooks = tuple(hooks)
        self.active = bool(hooks)

    def emit(self, event: Event) -> None:
        """Hand ``event`` to every hook, in the order they were added."""
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                # A broken hook must not break the call it watches.
                _log.warning(
                    "a hook raised on %s; the call goes on",
                    type(event).__name__,
                    exc_info=True,
                    extra={"hook": getattr(hook, "__qualname__", repr(hook))},
                )

    def start(
        self, name: str, clock: Callable[[], float], **attributes: str | int | float | bool
    ) -> Operation:
        """Begin a longer operation: emits :class:`OperationStarted` now, and
        :class:`OperationEnded` when the returned handle's ``end()`` is first called."""
        operation = Operation(self, next_id(), name, clock, dict(attributes))
        self.emit(OperationStarted(operation.operation_id, name, operation.attributes))
        return operation

    @contextlib.contextmanager
    def operation(
        self, name: str, clock: Callable[[], float], **attributes: str | int | float | bool
    ) -> Iterator[dict[str, str | int | float | bool]]:
        """Frame a block as one operation (see :meth:`start`).

        Yields a dict the block may fill with figures for the end event (counts,
        outcome); it is not read when no hook is attached.
        """
        figures: dict[str, str | int | float | bool] = {}
        if not self.active:
            yield figures
            return
        operation = self.start(name, clock, **attributes)
        try:
            yield figures
        except BaseException as exc:
            operation.end(exc, **figures)
            raise
        operation.end(None, **figures)


class Operation:
    """A started operation (see :meth:`Hooks.start`); ``end()`` reports it once."""

    __slots__ = ("_clock", "_ended", "_hooks", "_started", "attributes", "name", "operation_id")

    def __init__(
        self,
        hooks: Hooks,
        operation_id: int,
        name: str,
        clock: Callable[[], float],
        attributes: dict[str, str | int | float | bool],
    ) -> None:
        self._hooks = hooks
        self.operation_id = operation_id
        self.name = name
        self._clock = clock
        self._started = clock()
        self._ended = False
        self.attributes = attributes

    def end(self, error: BaseException | None = None, **figures: str | int | float | bool) -> None:
        """Emit :class:`OperationEnded` with ``figures`` beside the start's attributes
        (later calls do nothing)."""
        if self._ended:
            return
        self._ended = True
        self._hooks.emit(
            OperationEnded(
                self.operation_id,
                self.name,
                self._clock() - self._started,
                error,
                {**self.attributes, **figures},
            )
        )


def as_hooks(value: Hooks | Iterable[Hook] | Hook | None, argument: str = "hooks") -> Hooks:
    """A session's ``hooks=`` argument as a :class:`Hooks` (a given one is shared, not copied).

    Raises:
        InvalidArgumentError: naming ``argument``, for anything but a Hooks, callables or
            None.
    """
    if value is None:
        return Hooks()
    if isinstance(value, Hooks):
        return value
    if callable(value):
        return Hooks([value])
    try:
        hooks = list(value)
    except TypeError:
        raise InvalidArgumentError(
            argument,
            f"expected a Hooks, a callable or an iterable of callables, got {type(value).__name__}",
        ) from None
    for hook in hooks:
        if not callable(hook):
            raise InvalidArgumentError(
                argument, f"every hook must be callable, got {type(hook).__name__}"
            )
    return Hooks(hooks)
