"""The OpenTelemetry hook against the real emulators, read through the SDK's in-memory
exporters: spans and metrics for a retried create, a wait and a walk; no secret anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fast_settings import FAST
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import nexttech_async as nt
import tutorflow_async as tf
from edu_async_core.otel import OpenTelemetryHook
from nexttech_async.testing import NextTechEmulator
from tutorflow_async.testing import EmulatorConfig, Fault, TutorFlowEmulator

PAYLOAD = {"level": {"id": "m1", "lessons": [{"id": "l1", "type": "vocabulary"}]}}


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.hook = OpenTelemetryHook(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def finished(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name == name]

    def metric(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def everything(self) -> str:
        """Every span's name, attributes, events and status, and every metric, as text."""
        parts: list[str] = []
        for span in self.spans.get_finished_spans():
            parts += [span.name, repr(dict(span.attributes or {})), repr(span.status)]
            parts += [repr((e.name, dict(e.attributes or {}))) for e in span.events]
        parts.append(repr(self.reader.get_metrics_data()))
        return "\n".join(parts)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


async def test_a_retried_create_is_one_span_with_its_attempts_and_retries(
    telemetry: Telemetry,
) -> None:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=0.05)
    async with TutorFlowEmulator(config) as emu:
        issued = emu.create_api_key(name="otel", rate_limit_per_minute=10_000)
        emu.add_fault(Fault(kind="status", status=429, retry_after=0.05, method="POST"))
        emu.add_fault(Fault(kind="status", status=503, method="POST"))
        tracer = telemetry.tracer_provider.get_tracer("test")
        async with tf.ContentSession(issued.api_key, base_url=emu.base_url, config=FAST,
                                     rate_limit_per_minute=10_000,
                                     hooks=[telemetry.hook]) as s:
            with tracer.start_as_current_span("user work") as parent:
                job = await s.expansions.create(PAYLOAD, idempotency_key="lesson-1")
                # The call's span is current while it runs, and gone after.
                assert trace.get_current_span() is parent
            result = await s.wait_for_expansion(job.id, timeout=10, poll_interval=0.02,
                                                max_interval=0.05)
    assert result.job.status == "completed"
    (create,) = telemetry.finished("expansions.create")
    assert create.kind is trace.SpanKind.CLIENT
    assert create.parent is not None
    assert create.parent.span_id == parent.get_span_context().span_id
    attributes = dict(create.attributes or {})
    assert attributes["sdk.attempts"] == 3
    assert attributes["http.response.status_code"] == 200
    assert attributes["http.request.method"] == "POST"
    assert attributes["sdk.idempotency_key"] == "lesson-1"
    assert attributes["sdk.key_prefix"] == issued.api_key[:15] + "…"
    events = [(e.name, dict(e.attributes or {})) for e in create.events]
    assert [name for name, _ in events] == ["attempt", "retry", "attempt", "retry", "attempt"]
    retries = [attrs for name, attrs in events if name == "retry"]
    assert [r["sdk.reason"] for r in retries] == ["status", "status"]
    assert [r["http.response.status_code"] for r in retries] == [429, 503]
    assert create.status.status_code is trace.StatusCode.UNSET

    (wait,) = telemetry.finished("wait_for_expansion")
    assert dict(wait.attributes or {}) == {"sdk.job_id": job.id, "sdk.status": "completed"}
    assert telemetry.finished("expansions.get") and telemetry.finished("expansions.result")

    requests = {p.attributes["sdk.operation"]: p.value for p in telemetry.metric("sdk.requests")}
    assert requests["expansions.create"] == 3
    assert requests["expansions.result"] == 1
    retried = telemetry.metric("sdk.retries")
    assert sum(p.value for p in retried) == 2
    assert {p.attributes["sdk.reason"] for p in retried} == {"status"}
    (limited,) = telemetry.metric("sdk.rate_limited")
    assert limited.value == 1
    (polls,) = telemetry.metric("sdk.polls_per_job")
    assert polls.count == 1 and polls.sum == requests["expansions.get"]
    assert issued.api_key not in telemetry.everything()


async def test_a_failed_call_ends_its_span_with_error(telemetry: Telemetry) -> None:
    async with TutorFlowEmulator(EmulatorConfig()) as emu:
        issued = emu.create_api_key(name="otel", rate_limit_per_minute=10_000)
        async with tf.ContentSession(issued.api_key, base_url=emu.base_url, config=FAST,
                                     rate_limit_per_minute=10_000,
                                     hooks=[telemetry.hook]) as s:
            with pytest.raises(tf.NotFoundError):
                await s.expansions.get("job_missing")
    (get,) = telemetry.finished("expansions.get")
    assert get.status.status_code is trace.StatusCode.ERROR
    assert dict(get.attributes or {})["error.type"] == "NotFoundError"
    assert dict(get.attributes or {})["http.response.status_code"] == 404


async def test_a_rate_limit_wait_is_a_histogram_of_seconds(telemetry: Telemetry) -> None:
    async with TutorFlowEmulator(EmulatorConfig()) as emu:
        issued = emu.create_api_key(name="otel", rate_limit_per_minute=10_000)
        config = tf.TransportConfig(rate_limit_window=0.2, rate_limit_margin=0.0)
        async with tf.ContentSession(issued.api_key, base_url=emu.base_url, config=config,
                                     rate_limit_per_minute=1, hooks=[telemetry.hook]) as s:
            job = await s.expansions.create(PAYLOAD)
            await s.expansions.get(job.id)
    (waited,) = telemetry.metric("sdk.rate_limit.wait")
    assert waited.count == 1 and 0.05 < waited.sum < 1.0


async def test_a_walk_is_a_span_over_its_page_requests(telemetry: Telemetry) -> None:
    async with NextTechEmulator() as emu:
        emu.add_contents(1_700_000_000 + s for s in range(25))
        async with nt.NextTechSession(emu.api_token, emu.secret_key, base_url=emu.base_url,
                                      hooks=[telemetry.hook]) as s:
            got = [c.id async for c in s.contents.iterate()]
        secret = emu.secret_key
    assert len(got) == 25
    (walk,) = telemetry.finished("walk")
    assert dict(walk.attributes or {}) == {
        "sdk.kind": "contents", "sdk.shards": 1, "sdk.items": 25, "sdk.stopped_early": False,
    }
    pages = telemetry.finished("contents.list")
    requests = sum(p.value for p in telemetry.metric("sdk.requests"))
    assert pages and len(pages) == requests
    assert secret not in telemetry.everything()
