"""OpenTelemetry: spans per call and attempt, metrics, bulk spans, no cost when off (issue 17)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import simapi_async as sa
from simapi_async import _instrumentation
from simapi_async._otel import OtelHook
from simapi_async.testing import Emulator


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = list(metric.data.data_points)
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """The OpenTelemetry hook on in-memory exporters, for this test only."""
    t = Telemetry()
    _instrumentation.set_hooks([OtelHook(t.tracer_provider, t.meter_provider)])
    yield t
    _instrumentation.set_hooks([])
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


async def test_a_call_is_a_span_with_a_child_per_attempt(telemetry: Telemetry) -> None:
    """`simapi.get_sim` holds the login and two GET attempts (a 503 then 200); the retry
    has resend_count, status codes and error.type; no password or token anywhere."""
    async with Emulator(sims=5, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        await api.authenticate()
        emu.fail_next(1, status=503, retry_after=None)
        await api.sims.get(emu.fleet.numbers[0])
        token = api._tokens.current()[0]  # type: ignore[index]
        base_url = emu.base_url
    spans = telemetry.spans.get_finished_spans()
    call = next(s for s in spans if s.name == "simapi.get_sim")
    children = [s for s in spans if s.parent is not None
                and s.parent.span_id == call.context.span_id]
    assert [c.name for c in children] == ["GET", "GET"]
    first, second = (c.attributes or {} for c in children)
    assert first["http.response.status_code"] == 503
    assert first["error.type"] == "503"
    assert "http.request.resend_count" not in first
    assert second["http.response.status_code"] == 200
    assert second["http.request.resend_count"] == 1
    assert str(second["url.full"]).startswith(base_url + "/api/v2/sim/")
    assert second["http.request.method"] == "GET"
    call_attrs = call.attributes or {}
    assert (call_attrs["simapi.operation"], call_attrs["simapi.retry.count"],
            call_attrs["simapi.retry.reason"]) == ("get_sim", 1, "503")
    login = next(s for s in spans if str((s.attributes or {}).get("url.full", "")).find(
        "login") >= 0)
    assert "%2A%2A%2A" in str((login.attributes or {})["url.full"])
    for span in spans:
        text = repr(dict(span.attributes or {})) + repr([e.attributes for e in span.events])
        assert emu.password not in text
        assert token not in text


async def test_metrics_duration_retries_429_logins(telemetry: Telemetry) -> None:
    """The duration histogram counts every attempt; retries by reason, 429s and logins are
    counted; requests in flight return to 0."""
    async with Emulator(sims=5, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        await api.authenticate()
        emu.fail_next(1, status=503, retry_after=None)
        await api.packets.list()
        emu.fail_next(1, status=429, retry_after=0.0)
        await api.packets.list()
    m = telemetry.metrics()
    assert sum(p.count for p in m["http.client.request.duration"]) == 5  # login, 2 x (1+1)
    assert {p.attributes["simapi.retry.reason"]: p.value
            for p in m["simapi.client.retries"]} == {"503": 1, "429": 1}
    assert sum(p.value for p in m["simapi.client.rate_limited"]) == 1
    assert sum(p.value for p in m["simapi.client.logins"]) == 1
    assert sum(p.value for p in m["http.client.active_requests"]) == 0


async def test_a_bulk_run_is_one_span_with_counts(telemetry: Telemetry) -> None:
    """A bulk run makes one `simapi.bulk.block` span with its counts, not a span per
    target; targets by outcome are counted."""
    async with Emulator(sims=30, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        report = await api.bulk.block([*emu.fleet.numbers[:10], "79999999999"])
    assert (report.succeeded, report.failed) == (10, 1)
    spans = telemetry.spans.get_finished_spans()
    assert [s.name for s in spans if s.name.startswith("simapi.")] == ["simapi.bulk.block"]
    attrs = spans[-1].attributes or {}
    assert (attrs["simapi.bulk.total"], attrs["simapi.bulk.succeeded"],
            attrs["simapi.bulk.failed"]) == (11, 10, 1)
    outcomes = {p.attributes["simapi.bulk.outcome"]: p.value
                for p in telemetry.metrics()["simapi.bulk.targets"]}
    assert outcomes == {"succeeded": 10, "failed": 1}


def test_no_hook_without_a_configured_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed but not configured (the API's proxy providers), or SIMAPI_OTEL=off: the
    hook list stays empty, so the request path does nothing extra."""
    from opentelemetry import metrics, trace

    assert not _instrumentation.ACTIVE
    assert type(trace.get_tracer_provider()).__name__.startswith("Proxy")
    assert type(metrics.get_meter_provider()).__name__.startswith(("_Proxy", "Proxy"))
    assert _instrumentation.discover(force=True) == []
    monkeypatch.setenv("SIMAPI_OTEL", "off")
    monkeypatch.setattr("simapi_async._otel.configured", lambda: True)
    assert _instrumentation.discover(force=True) == []
    monkeypatch.delenv("SIMAPI_OTEL")
    assert len(_instrumentation.discover(force=True)) == 1
    _instrumentation.set_hooks([])


async def test_a_bulk_stream_is_one_span_with_counts(telemetry: Telemetry) -> None:
    """`api.bulk.stream` is one `simapi.bulk.unblock` span too, with the expected and
    final counts; the consumer's code between two results is not inside it."""
    from opentelemetry import trace

    async with Emulator(sims=30, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        targets = [*emu.fleet.numbers[:8], "79999999999", "bad"]
        seen = []
        async for result in api.bulk.stream("unblock", targets):
            seen.append(result.ok)
            assert not trace.get_current_span().get_span_context().is_valid
    assert (seen.count(True), seen.count(False)) == (8, 2)
    spans = telemetry.spans.get_finished_spans()
    assert [s.name for s in spans if s.name.startswith("simapi.")] == ["simapi.bulk.unblock"]
    attrs = spans[-1].attributes or {}
    assert (attrs["simapi.operation"], attrs["simapi.bulk.expected"], attrs["simapi.bulk.total"],
            attrs["simapi.bulk.succeeded"], attrs["simapi.bulk.failed"],
            attrs["simapi.bulk.skipped"]) == ("unblock", 10, 10, 8, 2, 0)
    assert spans[-1].status.is_ok


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_canary_run_is_one_span_counting_both_parts(
        telemetry: Telemetry, streamed: bool) -> None:
    """A run with `canary=` (two runs inside) is still one span, whose counts are the
    whole run's: the canary's and the rest's."""
    async with Emulator(sims=30, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        targets = emu.fleet.numbers[:12]
        if streamed:
            results = [r async for r in api.bulk.stream("block", targets, canary=4)]
            assert len(results) == 12
        else:
            report = await api.bulk.run("block", targets, canary=4)
            assert report.succeeded == 12
    spans = [s for s in telemetry.spans.get_finished_spans()
             if s.name.startswith("simapi.bulk.")]
    assert [s.name for s in spans] == ["simapi.bulk.block"]
    attrs = spans[0].attributes or {}
    assert (attrs["simapi.bulk.expected"], attrs["simapi.bulk.total"],
            attrs["simapi.bulk.succeeded"]) == (12, 12, 12)


async def test_a_bulk_stream_closed_early_ends_its_span(telemetry: Telemetry) -> None:
    """Leaving a stream early cancels the run and ends its span as stopped ("cancelled",
    not an error), with the counts of what finished."""
    async with Emulator(sims=30, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        stream = api.bulk.stream("block", emu.fleet.numbers, concurrency=1)
        async for _ in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
    (span,) = [s for s in telemetry.spans.get_finished_spans()
               if s.name == "simapi.bulk.block"]
    attrs = span.attributes or {}
    assert attrs["simapi.bulk.stopped"] == "cancelled"
    assert "error.type" not in attrs
    assert 1 <= int(attrs["simapi.bulk.total"]) < 30  # type: ignore[arg-type]


async def test_a_bulk_run_can_trace_each_target(telemetry: Telemetry) -> None:
    """`trace_targets=True` makes each target's call a `simapi.block` span (with its
    attempt) under the run's span; a failed target's span is an error."""
    async with Emulator(sims=30, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        targets = [sa.Target(s.number, iccid=s.iccid)
                   for s in list(emu.fleet.sims.values())[:5]]
        await api.authenticate()  # the login is not inside the first target's span
        emu.fail_next(1, status=422)
        report = await api.bulk.block(targets, concurrency=1, trace_targets=True)
    assert (report.succeeded, report.failed) == (4, 1)
    spans = telemetry.spans.get_finished_spans()
    (run,) = [s for s in spans if s.name == "simapi.bulk.block"]
    calls = [s for s in spans if s.name == "simapi.block"]
    assert len(calls) == 5
    assert all(c.parent is not None and c.parent.span_id == run.context.span_id
               for c in calls)
    assert sum(not c.status.is_ok for c in calls) == 1
    attempts = [s for s in spans if s.parent is not None
                and s.parent.span_id in {c.context.span_id for c in calls}]
    assert len(attempts) == 5


async def test_trace_targets_must_be_a_bool() -> None:
    """`trace_targets="yes"` is refused before anything runs."""
    async with Emulator(sims=3, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        with pytest.raises(sa.InvalidInputError, match="trace_targets"):
            await api.bulk.block(emu.fleet.numbers, trace_targets="yes")
        assert emu.stats.total_requests == 0


async def test_rate_limiter_wait_is_a_metric_and_a_span_attribute(telemetry: Telemetry) -> None:
    """Calls paced by the session's rate limit add their wait to
    `simapi.client.rate_limit.wait` and to their span's `simapi.rate_limit.wait`."""
    async with Emulator(sims=5, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password, rate_limit=40) as api:
        for _ in range(6):
            await api.packets.list()
        waited = api.stats.rate_limit_wait
    assert waited > 0
    points = telemetry.metrics()["simapi.client.rate_limit.wait"]
    assert sum(p.value for p in points) == pytest.approx(waited)
    spans = [s for s in telemetry.spans.get_finished_spans() if s.name == "simapi.list_packets"]
    assert len(spans) == 6
    assert sum(float((s.attributes or {})["simapi.rate_limit.wait"])  # type: ignore[arg-type]
               for s in spans) == pytest.approx(waited)


def test_no_hook_when_opentelemetry_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without opentelemetry-api (the `otel` extra) discovery finds nothing and raises
    nothing, even with SIMAPI_OTEL unset."""
    import sys

    monkeypatch.setitem(sys.modules, "simapi_async._otel", None)  # import -> ImportError
    monkeypatch.delenv("SIMAPI_OTEL", raising=False)
    assert _instrumentation.discover(force=True) == []
    _instrumentation.set_hooks([])
