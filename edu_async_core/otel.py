"""OpenTelemetry for both SDKs: a hook that turns a session's events into spans and metrics.

Needs the ``[otel]`` extra (``opentelemetry-api``); nothing imports this module unless you
do::

    from edu_async_core.otel import OpenTelemetryHook

    session.hooks.add(OpenTelemetryHook())       # the global tracer and meter providers

**Spans.** One span per SDK call, named by the call (``expansions.create``,
``contents.list``, ...), made current while the call runs, so spans of an instrumented
aiohttp nest under it. Each attempt is a span event (``attempt``, with its status), each
retry another (``retry``, with the reason and delay); a call that fails carries the error
type and ends with status ERROR. ``wait_for_expansion``, ``expand_many`` and walks get a
span of their own from start to end, with their figures (status, counts, items) as
attributes. Those are not made current: a walk or a bulk run hands control back to your
code between items, and your spans must not become its children.

**Metrics.** ``sdk.requests`` (attempts sent, by operation), ``sdk.retries`` (by
reason), ``sdk.rate_limited`` (429 answers), ``sdk.rate_limit.wait`` (seconds waited for
the key's limiter, a histogram) and ``sdk.polls_per_job`` (a histogram, recorded when a
poll ends a wait).

Attributes hold methods, paths, statuses, key prefixes and idempotency keys; never a
secret (they are not in the events to begin with).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .hooks import (
    CallEnded,
    CallStarted,
    Event,
    OperationEnded,
    OperationStarted,
    PollDecision,
    RateLimitWait,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
)

__all__ = ["OpenTelemetryHook"]

_SCOPE = "edu_async_core"


class OpenTelemetryHook:
    """A hook (``session.hooks.add(OpenTelemetryHook())``) reporting to OpenTelemetry.

    ``tracer_provider`` and ``meter_provider`` default to the global ones. One instance
    may serve many sessions.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
        self._requests = meter.create_counter(
            "sdk.requests", unit="{request}", description="Attempts sent to the API"
        )
        self._retries = meter.create_counter(
            "sdk.retries", unit="{retry}", description="Attempts retried, by reason"
        )
        self._rate_limited = meter.create_counter(
            "sdk.rate_limited", unit="{response}", description="429 answers"
        )
        self._wait = meter.create_histogram(
            "sdk.rate_limit.wait", unit="s", description="Seconds waited for the key's limiter"
        )
        self._polls = meter.create_histogram(
            "sdk.polls_per_job", unit="{poll}", description="Polls a wait took to end"
        )
        self._calls: dict[int, tuple[Span, object]] = {}
        self._operations: dict[int, Span] = {}

    def __repr__(self) -> str:
        return f"OpenTelemetryHook({len(self._calls)} calls open)"

    def __call__(self, event: Event) -> None:
        """Hand one event over (the session calls this; see ``edu_async_core.hooks``)."""
        if isinstance(event, CallStarted):
            self._call_started(event)
        elif isinstance(event, RequestSent):
            self._requests.add(1, {"sdk.operation": event.operation})
        elif isinstance(event, ResponseReceived):
            self._answered(event)
        elif isinstance(event, RetryScheduled):
            self._retried(event)
        elif isinstance(event, RateLimitWait):
            self._wait.record(event.seconds, {"sdk.operation": event.operation})
        elif isinstance(event, CallEnded):
            self._call_ended(event)
        elif isinstance(event, PollDecision):
            if event.done:
                self._polls.record(event.polls)
        elif isinstance(event, OperationStarted):
            attributes: dict[str, Any] = {f"sdk.{k}": v for k, v in event.attributes.items()}
            self._operations[event.operation_id] = self._tracer.start_span(
                event.name, kind=SpanKind.INTERNAL, attributes=attributes
            )
        elif isinstance(event, OperationEnded):
            span = self._operations.pop(event.operation_id, None)
            if span is not None:
                for key, value in event.attributes.items():
                    span.set_attribute(f"sdk.{key}", value)
                _end(span, event.error)

    def _call_started(self, event: CallStarted) -> None:
        attributes: dict[str, Any] = {
            "sdk.operation": event.operation,
            "http.request.method": event.method,
            "url.path": event.path,
        }
        if event.key_prefix is not None:
            attributes["sdk.key_prefix"] = event.key_prefix
        if event.idempotency_key is not None:
            attributes["sdk.idempotency_key"] = event.idempotency_key
        span = self._tracer.start_span(event.operation, kind=SpanKind.CLIENT, attributes=attributes)
        # Current for the call's duration: CallStarted and CallEnded come from one coroutine.
        token = otel_context.attach(trace.set_span_in_context(span))
        self._calls[event.call_id] = (span, token)

    def _answered(self, event: ResponseReceived) -> None:
        if event.status == 429:
            self._rate_limited.add(1, {"sdk.operation": event.operation})
        call = self._calls.get(event.call_id)
        if call is not None:
            call[0].add_event(
                "attempt",
                {"sdk.attempt": event.attempt, "http.response.status_code": event.status,
                 "sdk.elapsed": event.elapsed},
            )

    def _retried(self, event: RetryScheduled) -> None:
        self._retries.add(1, {"sdk.operation": event.operation, "sdk.reason": event.reason})
        call = self._calls.get(event.call_id)
        if call is not None:
            attributes: dict[str, Any] = {
                "sdk.attempt": event.attempt,
                "sdk.reason": event.reason,
                "sdk.delay": event.delay,
                "error.type": type(event.error).__name__,
            }
            if event.status is not None:
                attributes["http.response.status_code"] = event.status
            call[0].add_event("retry", attributes)

    def _call_ended(self, event: CallEnded) -> None:
        call = self._calls.pop(event.call_id, None)
        if call is None:
            return
        span, token = call
        otel_context.detach(token)  # type: ignore[arg-type]
        span.set_attribute("sdk.attempts", event.attempts)
        if event.status is not None:
            span.set_attribute("http.response.status_code", event.status)
        _end(span, event.error)


def _end(span: Span, error: BaseException | None) -> None:
    if error is not None:
        span.set_attribute("error.type", type(error).__name__)
        # The type and the SDK's own message (which never holds a secret), no traceback.
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:300]))
    span.end()
