"""The webhook receiver: verify, parse, de-duplicate and dispatch TutorFlow deliveries.

TutorFlow posts ``content.completed`` and ``content.failed`` events to the URLs registered
with ``AdminSession.webhooks.create``. :class:`WebhookReceiver` checks each delivery's
signature (:func:`~tutorflow_async.webhooks.signature.verify_signature`), reads it
(:func:`~tutorflow_async.webhooks.delivery.parse_delivery`), drops duplicates and hands
each new event to a callback, an async iterator and per-job futures (which
``ContentSession`` uses to end ``wait_for_expansion`` early).
:meth:`WebhookReceiver.receive` is the framework-free core;
:meth:`~WebhookReceiver.handler`, :meth:`~WebhookReceiver.app` and
:meth:`~WebhookReceiver.serve` are thin aiohttp shells around it. This is the only
module of the package that imports aiohttp.

Everything the receiver holds is bounded: the body (``max_body_bytes``) and the time it
may take to arrive (``read_timeout``, 408 past it), the ``on_event`` callbacks running at
once (``max_pending_callbacks``, 503 with ``Retry-After`` past it), the duplicate-detection
memory (``dedupe_size``), the recent terminal events (``recent_size``) and the
``events()`` queue (``queue_size``). A subscription lives until its event resolves it,
it is cancelled, or :meth:`~WebhookReceiver.unsubscribe` removes it.

Why this module is longer than the others (about 600 lines): nearly all of it is the one
class :class:`WebhookReceiver`, whose framework-free core, consumers (subscriptions,
queue, callbacks), aiohttp shells and lifecycle share the same state (the dedupe memory,
the subscribers, the running callback tasks, the closed flag). Splitting that class into
mixins over several modules would scatter the state and its invariants; the pure parts
(signatures, payload parsing) already live in their own modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import attrs
from aiohttp import web

from edu_async_core.redaction import Secret

from .. import defaults
from ..errors import InvalidArgumentError
from .delivery import DeliveryKey, WebhookDelivery, WebhookPayloadError, parse_delivery
from .signature import _body_bytes, verify_signature

__all__ = [
    "EventCallback",
    "WebhookCounters",
    "WebhookReceiver",
    "WebhookVerdict",
]

logger: Final = logging.getLogger("tutorflow_async")

#: The ``on_event`` callback of a :class:`WebhookReceiver`: called with each new verified
#: delivery (never a duplicate), plain or ``async``. Its exceptions are logged, never
#: sent back to TutorFlow, which has already been answered.
EventCallback = Callable[["WebhookDelivery"], Awaitable[None] | None]


@attrs.define
class WebhookCounters:
    """What a receiver has seen. ``received`` = ``accepted`` + ``duplicates`` +
    ``rejected_signature`` (401 missing or bad, 400 more than one signature header) +
    ``rejected_body`` (413 too large, 400 unreadable) + ``rejected_timeout`` (408) +
    ``rejected_busy`` (503, callbacks at their limit). Deliveries refused because the
    receiver is closed (503) are not counted."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected_signature: int = 0
    rejected_body: int = 0
    #: Bodies that did not arrive within ``read_timeout`` (answered 408).
    rejected_timeout: int = 0
    #: New events refused with 503 + ``Retry-After`` because ``max_pending_callbacks``
    #: callbacks were running; none of them was remembered, so their retries count again.
    rejected_busy: int = 0
    #: ``on_event`` calls that raised (logged, never answered to the sender).
    callback_errors: int = 0
    #: Events dropped from the ``events()`` queue because nobody was reading it.
    queue_overflows: int = 0


@attrs.frozen
class WebhookVerdict:
    """How a receiver answered one delivery: HTTP status, JSON body, and the event."""

    status: int
    body: Mapping[str, Any]
    #: The parsed event when the delivery was verified and readable (also for duplicates
    #: and for a 503 answered because the callbacks were busy).
    delivery: WebhookDelivery | None = None
    #: Extra response headers (``Retry-After`` on a busy 503).
    headers: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def duplicate(self) -> bool:
        """Whether the delivery was one already received (answered 200, dispatched nowhere)."""
        return bool(self.body.get("duplicate"))


def _secrets(value: object) -> tuple[Secret, ...]:
    items: Sequence[object]
    if isinstance(value, str | Secret):
        items = [value]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise InvalidArgumentError("secret", "must be a str, a Secret, or a list of them")
    secrets: list[Secret] = []
    for item in items:
        if not isinstance(item, str | Secret):
            raise InvalidArgumentError("secret", "must be a str, a Secret, or a list of them")
        secrets.append(Secret(item))
    if not secrets or not all(s.reveal() for s in secrets):
        raise InvalidArgumentError("secret", "must not be empty")
    return tuple(secrets)


def _non_negative_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(name, f"must be an int >= 0, got {value!r}")
    return value


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(name, f"must be an int >= 1, got {value!r}")
    return value


def _positive_seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidArgumentError(name, f"must be a number of seconds > 0, got {value!r}")
    if value == float("inf"):
        raise InvalidArgumentError(name, "must be finite")
    return float(value)


def _header_values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value of header ``name``, compared case-insensitively.

    Iterating ``items()`` sees each occurrence both in a multidict (aiohttp's
    ``CIMultiDictProxy`` keeps repeated headers) and in a plain dict whose keys differ
    only in case.
    """
    lowered = name.lower()
    return [item for key, item in headers.items() if key.lower() == lowered]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # aiohttp's headers are case-insensitive; a plain dict from another framework may not be.
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None


class WebhookReceiver:
    """Receives TutorFlow deliveries: verify, parse, de-duplicate, dispatch, answer fast.

    ``secret`` is the webhook's signing secret (``created.secret``); a list of secrets is
    accepted so that a new webhook can overlap an old one during a switch (TutorFlow has
    no secret rotation: you create a new webhook, then delete the old). Each accepted
    event goes to:

    - ``on_event(delivery)``, sync or async, run in its own task so a slow callback never
      delays the sender's 2xx (errors are logged and counted in ``callback_errors``). At
      most ``max_pending_callbacks`` run at once: a new event arriving when they all are
      busy is answered 503 with ``Retry-After: 1`` (``defaults.WEBHOOK_BUSY_RETRY_AFTER``) and
      is neither dispatched nor remembered, so the sender's retry is processed as new;
    - the queue behind ``async for delivery in receiver`` (or ``receiver.events()``),
      bounded by ``queue_size``: when nobody reads it the oldest events are dropped;
    - the futures of :meth:`subscribe`, for terminal events.

    Repeated deliveries (same job id, event and status; the last ``dedupe_size`` kept) are
    answered 200 ``{"duplicate": true}`` and dispatched nowhere. The aiohttp shells also
    answer 408 when the body takes longer than ``read_timeout`` seconds to arrive. A
    delivery with more than one signature header is refused with 400 (see
    :meth:`receive`). Call :meth:`aclose` (or
    use ``async with receiver:``) when done: it ends iterators, cancels pending
    subscriptions and finishes callbacks. Use it from one event loop.

    The secret exists only once the webhook is created, and creating it needs the
    receiver's URL: serve first, create the webhook, then :meth:`set_secret` (deliveries
    signed with an unknown secret get 401 meanwhile, and the sender retries them).
    """

    def __init__(
        self,
        secret: str | Secret | Sequence[str | Secret],
        *,
        on_event: EventCallback | None = None,
        dedupe_size: int = defaults.WEBHOOK_DEDUPE_SIZE,
        recent_size: int = defaults.WEBHOOK_RECENT_EVENTS,
        queue_size: int = defaults.WEBHOOK_QUEUE_SIZE,
        max_body_bytes: int = defaults.WEBHOOK_MAX_BODY_BYTES,
        callback_grace: float = defaults.WEBHOOK_CALLBACK_GRACE,
        read_timeout: float = defaults.WEBHOOK_READ_TIMEOUT,
        max_pending_callbacks: int = defaults.WEBHOOK_MAX_PENDING_CALLBACKS,
    ) -> None:
        self._secrets = _secrets(secret)
        if on_event is not None and not callable(on_event):
            raise InvalidArgumentError("on_event", "must be callable")
        self._on_event = on_event
        self._dedupe_size = _non_negative_int(dedupe_size, "dedupe_size")
        self._recent_size = _non_negative_int(recent_size, "recent_size")
        self._queue_size = _non_negative_int(queue_size, "queue_size")
        self._max_body_bytes = _non_negative_int(max_body_bytes, "max_body_bytes")
        if self._max_body_bytes == 0:  # aiohttp reads 0 as "no limit": refuse it
            raise InvalidArgumentError("max_body_bytes", "must be >= 1")
        if not isinstance(callback_grace, int | float) or callback_grace < 0:
            raise InvalidArgumentError("callback_grace", "must be a number >= 0")
        self._callback_grace = float(callback_grace)
        self._read_timeout = _positive_seconds(read_timeout, "read_timeout")
        self._max_pending_callbacks = _positive_int(max_pending_callbacks, "max_pending_callbacks")
        # Set at the first busy 503 of an episode (one WARNING per episode, not per 503);
        # cleared once the running callbacks fall to half the limit.
        self._busy = False
        self.counters = WebhookCounters()
        # Ordered so the least recently seen key or job is the one dropped when full.
        self._seen: OrderedDict[DeliveryKey, None] = OrderedDict()
        self._recent: OrderedDict[str, WebhookDelivery] = OrderedDict()
        self._subscribers: dict[str, set[asyncio.Future[WebhookDelivery]]] = {}
        # Unbounded underneath; _enqueue enforces queue_size by dropping the oldest, so
        # the end-of-stream marker (None) can always be added without waiting.
        self._queue: asyncio.Queue[WebhookDelivery | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Callable[[WebhookDelivery], None]] = []
        self._closed = False

    def set_secret(self, secret: str | Secret | Sequence[str | Secret]) -> None:
        """Replace the signing secret(s), e.g. once a webhook created for this receiver's
        URL reveals its secret, or to switch webhooks without restarting the receiver."""
        self._secrets = _secrets(secret)

    # -- the framework-free core ------------------------------------------------------

    def receive(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookVerdict:
        """Judge one delivery from its raw body and headers, and dispatch it if new.

        Order: closed (503), size (413), more than one signature header (400), signature
        (401), JSON and job id (400), duplicate (200, ``{"duplicate": true}``), callbacks
        busy (503 with ``Retry-After``), accepted (200). Call it from the event loop
        (callbacks are scheduled as tasks on it); it never blocks, so the answer goes out
        at once.

        More than one ``X-Content-Integration-Signature`` header is refused as ambiguous,
        before any HMAC is computed and even when one of them is valid: TutorFlow sends
        exactly one, so a second one was added on the way (a proxy, a replay that appends
        its own guess) and no single value can be said to sign the body. Accepting "any
        valid one" would let an attacker add guesses next to a genuine header; using the
        first or the last would depend on the order an intermediary wrote them. The
        answer is 400, not 401: the request is malformed rather than unauthenticated, and
        the operator reading the counters and logs then looks at what rewrites headers,
        not at the secret. It is counted in ``rejected_signature``.

        A busy 503 (``max_pending_callbacks`` callbacks running) comes after the
        duplicate check, so a repeat of an already accepted event still gets its 200, and
        before the key is remembered, so the refused event's retry is processed.
        """
        event_header = _header(headers, defaults.WEBHOOK_EVENT_HEADER)
        if self._closed:
            return self._verdict(503, "receiver closed", event_header)
        body = _body_bytes(raw_body)
        if len(body) > self._max_body_bytes:
            return self._too_large(event_header)
        self.counters.received += 1
        signatures = _header_values(headers, defaults.WEBHOOK_SIGNATURE_HEADER)
        if len(signatures) > 1:
            self.counters.rejected_signature += 1
            return self._verdict(400, "more than one signature header", event_header)
        signature = signatures[0] if signatures else None
        if signature is None or not signature.strip():
            self.counters.rejected_signature += 1
            return self._verdict(401, "missing signature", event_header)
        if not any(
            verify_signature(body, signature, s, max_body_bytes=self._max_body_bytes)
            for s in self._secrets
        ):
            self.counters.rejected_signature += 1
            return self._verdict(401, "invalid signature", event_header)
        try:
            delivery = parse_delivery(body, event_header=event_header)
        except WebhookPayloadError as exc:
            self.counters.rejected_body += 1
            return self._verdict(400, str(exc), event_header)
        if self._is_duplicate(delivery.key):
            self.counters.duplicates += 1
            self._log(delivery.event, delivery.job_id, "duplicate")
            return WebhookVerdict(200, {"received": True, "duplicate": True}, delivery)
        if self._on_event is not None and len(self._tasks) >= self._max_pending_callbacks:
            return self._too_busy(delivery)
        self._remember(delivery.key)
        self.counters.accepted += 1
        self._log(delivery.event, delivery.job_id, "accepted")
        self._dispatch(delivery)
        return WebhookVerdict(200, {"received": True, "duplicate": False}, delivery)

    def _too_large(self, event_header: str | None) -> WebhookVerdict:
        self.counters.received += 1
        self.counters.rejected_body += 1
        return self._verdict(413, "body too large", event_header)

    def _timed_out(self, remote: str | None, event_header: str | None) -> WebhookVerdict:
        self.counters.received += 1
        self.counters.rejected_timeout += 1
        # The remote address only: the body (partial, unverified) and the headers stay out.
        logger.warning(
            "webhook delivery from %s: body not received within %.3g s, answered 408",
            remote or "an unknown address",
            self._read_timeout,
        )
        return self._verdict(408, "body not received in time", event_header)

    def _too_busy(self, delivery: WebhookDelivery) -> WebhookVerdict:
        self.counters.rejected_busy += 1
        if not self._busy:
            self._busy = True
            logger.warning(
                "webhook on_event callbacks at their limit (%d running): answering 503 "
                "with Retry-After until they catch up",
                self._max_pending_callbacks,
            )
        self._log(delivery.event, delivery.job_id, "rejected 503: callbacks busy")
        return WebhookVerdict(
            503,
            {"error": "busy, retry later"},
            delivery,
            headers={"Retry-After": str(defaults.WEBHOOK_BUSY_RETRY_AFTER)},
        )

    def _verdict(self, status: int, error: str, event_header: str | None) -> WebhookVerdict:
        # The error text is ours (never the secret, the signature or the body).
        self._log(event_header, None, f"rejected {status}: {error}")
        return WebhookVerdict(status, {"error": error})

    @staticmethod
    def _log(event: str | None, job_id: str | None, verdict: str) -> None:
        # %r: event and job id may come from an unverified sender; repr keeps one line.
        logger.debug("webhook event=%r job=%r verdict=%s", event, job_id, verdict)

    def _is_duplicate(self, key: DeliveryKey) -> bool:
        """Whether ``key`` was accepted recently (refreshes it in the LRU order if so)."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        return False

    def _remember(self, key: DeliveryKey) -> None:
        """Remember an accepted ``key``; at most ``dedupe_size`` are kept (LRU)."""
        if self._dedupe_size == 0:
            return
        self._seen[key] = None
        if len(self._seen) > self._dedupe_size:
            self._seen.popitem(last=False)

    def add_listener(self, listener: Callable[[WebhookDelivery], None]) -> None:
        """Call ``listener(delivery)`` for every accepted delivery, before the consumers.

        For code that forwards events elsewhere (a
        :class:`~tutorflow_async.webhooks.FleetWebhookEvents` shares them with the other
        processes of a fleet). A listener is called on the event loop while the sender
        waits for its answer: it must return at once (start a task for slow work). Its
        exceptions are logged and counted in ``callback_errors``.
        """
        if not callable(listener):
            raise InvalidArgumentError("listener", "must be callable")
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[WebhookDelivery], None]) -> bool:
        """Stop calling ``listener``; returns whether it was listening."""
        try:
            self._listeners.remove(listener)
        except ValueError:
            return False
        return True

    def _dispatch(self, delivery: WebhookDelivery) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(delivery)
            except Exception:
                self.counters.callback_errors += 1
                logger.exception("webhook listener failed for job %r", delivery.job_id)
        if delivery.is_terminal:
            if self._recent_size:
                self._recent[delivery.job_id] = delivery
                self._recent.move_to_end(delivery.job_id)
                if len(self._recent) > self._recent_size:
                    self._recent.popitem(last=False)
            for future in self._subscribers.pop(delivery.job_id, set()):
                if not future.done():
                    future.set_result(delivery)
        self._enqueue(delivery)
        if self._on_event is not None:
            task = asyncio.create_task(
                self._run_callback(self._on_event, delivery),
                name=f"tutorflow-webhook-{delivery.job_id}",
            )
            self._tasks.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._busy and len(self._tasks) <= self._max_pending_callbacks // 2:
            self._busy = False

    def _enqueue(self, delivery: WebhookDelivery) -> None:
        if self._queue_size == 0:
            return
        while self._queue.qsize() >= self._queue_size:
            self._queue.get_nowait()
            self.counters.queue_overflows += 1
        self._queue.put_nowait(delivery)

    async def _run_callback(self, callback: EventCallback, delivery: WebhookDelivery) -> None:
        try:
            result = callback(delivery)
            if inspect.isawaitable(result):
                await result
        except Exception:
            # The sender already has its 2xx; a failing callback is the receiver's problem.
            self.counters.callback_errors += 1
            logger.exception("webhook on_event failed for job %r", delivery.job_id)

    # -- consumers --------------------------------------------------------------------

    def subscribe(self, job_id: str) -> asyncio.Future[WebhookDelivery]:
        """A future resolved with the first terminal event of ``job_id``.

        Resolved at once if that event already arrived (one of the last ``recent_size``
        jobs). The receiver holds a pending future until the event resolves it, so a
        subscriber that stops waiting for another reason (its job was polled to the end,
        its wait timed out) must let go of it: cancel the future, or call
        :meth:`unsubscribe`. A cancelled future leaves the receiver when the loop runs its
        done callbacks (the next iteration), and the job's entry goes with its last
        subscriber. :meth:`aclose` cancels all pending ones.
        """
        if not isinstance(job_id, str) or not job_id:
            raise InvalidArgumentError("job_id", "must be a non-empty string")
        future: asyncio.Future[WebhookDelivery] = asyncio.get_running_loop().create_future()
        recent = self._recent.get(job_id)
        if recent is not None:
            future.set_result(recent)
        elif self._closed:
            future.cancel()
        else:
            self._subscribers.setdefault(job_id, set()).add(future)
            future.add_done_callback(functools.partial(self._forget, job_id))
        return future

    def unsubscribe(self, job_id: str, future: asyncio.Future[WebhookDelivery]) -> bool:
        """Stop ``future`` (from ``subscribe(job_id)``) waiting: remove it and cancel it.

        Returns whether it was still subscribed (``False`` once resolved, cancelled or
        removed, and for a future this receiver never handed out). Removal is immediate;
        the future is cancelled so that nothing awaiting it hangs.
        """
        waiting = self._subscribers.get(job_id)
        if waiting is None or future not in waiting:
            return False
        self._forget(job_id, future)
        future.cancel()
        return True

    def _forget(self, job_id: str, future: asyncio.Future[WebhookDelivery]) -> None:
        # Keeps a cancelled wait from holding memory until its job's event (maybe never).
        waiting = self._subscribers.get(job_id)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self._subscribers[job_id]

    @property
    def subscriptions(self) -> int:
        """Subscribed futures still pending (a cancelled one stops counting at once)."""
        return sum(1 for futures in self._subscribers.values() for f in futures if not f.done())

    @property
    def pending_callbacks(self) -> int:
        """``on_event`` callbacks running now (at most ``max_pending_callbacks``)."""
        return len(self._tasks)

    async def events(self) -> AsyncIterator[WebhookDelivery]:
        """Accepted events, oldest first, until the receiver is closed.

        Several iterators share one queue: each event goes to one of them.
        """
        while True:
            item = await self._queue.get()
            if item is None:
                self._queue.put_nowait(None)  # let the other iterators end as well
                return
            yield item

    def __aiter__(self) -> AsyncIterator[WebhookDelivery]:
        return self.events()

    # -- aiohttp shells ---------------------------------------------------------------

    async def handler(self, request: web.Request) -> web.Response:
        """aiohttp handler: reads the raw body and answers with :meth:`receive`'s verdict.

        A declared ``Content-Length`` over ``max_body_bytes`` is refused (413) before
        reading. The whole body must then arrive within ``read_timeout`` seconds of the
        handler starting (once the headers are in): past it the answer is 408 with
        ``Connection: close``, logged at WARNING with the remote address.
        """
        event_header = request.headers.get(defaults.WEBHOOK_EVENT_HEADER)
        if not self._closed:
            declared = request.content_length
            if declared is not None and declared > self._max_body_bytes:
                # Refused from the header alone: the body is never read.
                return self._respond(self._too_large(event_header))
        try:
            # Bounded in size by the app's client_max_size (app() sets it to
            # max_body_bytes) and in time by read_timeout.
            async with asyncio.timeout(self._read_timeout):
                raw_body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._respond(self._too_large(event_header))
        except TimeoutError:
            return self._respond(self._timed_out(request.remote, event_header))
        return self._respond(self.receive(raw_body, request.headers))

    @staticmethod
    def _respond(verdict: WebhookVerdict) -> web.Response:
        response = web.json_response(
            dict(verdict.body), status=verdict.status, headers=dict(verdict.headers)
        )
        if verdict.status == 408:
            # The rest of the body may still be on its way: do not keep the connection.
            response.force_close()
        return response

    def app(self, path: str = defaults.WEBHOOK_PATH) -> web.Application:
        """An aiohttp app serving :meth:`handler` on ``POST path``."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidArgumentError("path", "must start with '/'")
        # A body larger than the limit stops being read at the limit, not at its end.
        application = web.Application(client_max_size=self._max_body_bytes)
        application.router.add_post(path, self.handler)
        return application

    @contextlib.asynccontextmanager
    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        path: str = defaults.WEBHOOK_PATH,
    ) -> AsyncIterator[str]:
        """Serve :meth:`app` on ``host:port`` (0: any free port) and yield its URL.

        On exit the site stops and running callbacks are given ``callback_grace`` seconds
        to finish; the receiver itself stays open (``aclose()`` ends it).
        """
        runner = web.AppRunner(
            self.app(path),
            access_log=None,
            shutdown_timeout=defaults.WEBHOOK_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_host, bound_port = runner.addresses[0][:2]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            url = f"http://{shown}:{bound_port}{path}"
            logger.debug("webhook receiver listening on %s", url)
            yield url
        finally:
            await runner.cleanup()
            await self._finish_callbacks()

    # -- lifecycle --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called: new deliveries are then answered 503."""
        return self._closed

    async def _finish_callbacks(self) -> None:
        while self._tasks:
            tasks = set(self._tasks)
            _, pending = await asyncio.wait(tasks, timeout=self._callback_grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop accepting (later deliveries get 503, so the sender retries elsewhere or
        later), end iterators after the queued events, cancel pending subscriptions, and
        let running callbacks finish (``callback_grace`` seconds, then cancelled)."""
        if self._closed:
            return
        self._closed = True
        waiting = [f for futures in self._subscribers.values() for f in futures]
        self._subscribers.clear()
        for future in waiting:
            future.cancel()
        self._queue.put_nowait(None)
        await self._finish_callbacks()

    async def __aenter__(self) -> WebhookReceiver:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        secrets = ", ".join(s.prefix for s in self._secrets)
        return f"WebhookReceiver(secrets=[{secrets}], counters={self.counters!r})"
