"""The OpenTelemetry hook (extra ``otel``: ``opentelemetry-api`` only at run time).

Traces: a span ``simapi.<operation>`` per logical call (retries and re-login inside it),
with a CLIENT child span per HTTP attempt following the HTTP client semantic
conventions — `http.request.method`, `url.full` (secret query values replaced by
``***``, user info dropped), `server.address`, `server.port`,
`http.response.status_code`, `http.request.resend_count` (from the second attempt on),
`error.type` — and our own `simapi.operation`, `simapi.retry.count`,
`simapi.retry.reason`, `simapi.rate_limit.wait` (seconds paced). A bulk run is one span
``simapi.bulk.<operation>`` (`api.bulk.run` or `api.bulk.stream`) with
`simapi.bulk.expected` (when known) and, at its end, `simapi.bulk.total`, `.succeeded`,
`.failed`, `.skipped` (and `.stopped`: why it stopped early, or ``cancelled``); the calls
inside it are not spans (their metrics still count) unless the run is given
``trace_targets=True``: then each target's call is a ``simapi.<operation>`` span (with its
attempts) under the run's.

Metrics: `http.client.request.duration` (histogram, s), `http.client.active_requests`
(in flight), `simapi.client.retries` (by `simapi.retry.reason`),
`simapi.client.rate_limited` (429 answers), `simapi.client.rate_limit.wait` (s),
`simapi.client.logins`, `simapi.bulk.targets` (by `simapi.bulk.outcome`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._exceptions import APIStatusError
from ._redact import redact_url
from ._version import __version__

__all__ = ["OtelHook", "configured"]

_IN_BULK: ContextVar[bool] = ContextVar("simapi_otel_in_bulk", default=False)
_CALL: ContextVar[_CallState | None] = ContextVar("simapi_otel_call", default=None)


def configured() -> bool:
    """True when the application set a tracer or a meter provider (not the API's proxies)."""
    tp = trace.get_tracer_provider()
    mp = metrics.get_meter_provider()
    return not (type(tp).__name__.startswith(("Proxy", "NoOp"))
                and type(mp).__name__.startswith(("_Proxy", "Proxy", "NoOp")))


def full_url(url: object) -> str:
    """`url.full`: secret query values as ``***``, no user:password@."""
    parts = urlsplit(redact_url(url))
    if "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    return urlunsplit(parts)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, APIStatusError):
        return str(exc.status)
    return type(exc).__name__


class _CallState:
    __slots__ = ("attempts", "operation", "retries", "session", "span", "token",
                 "waited")

    def __init__(self, operation: str, session: Any) -> None:
        self.operation = operation
        self.session = session
        self.span: Any = None
        self.token: Any = None
        self.attempts: Counter[str] = Counter()
        self.retries = 0
        self.waited = session.stats.rate_limit_wait


class OtelHook:
    """Spans and metrics through the OpenTelemetry API (providers default to the global)."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer = trace.get_tracer("simapi_async", __version__,
                                       tracer_provider=tracer_provider)
        meter = metrics.get_meter("simapi_async", __version__, meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "http.client.request.duration", unit="s",
            description="Duration of HTTP client requests (one per attempt).")
        self.active = meter.create_up_down_counter(
            "http.client.active_requests", unit="{request}",
            description="HTTP requests in flight.")
        self.retries = meter.create_counter(
            "simapi.client.retries", unit="{retry}", description="Retries, by reason.")
        self.rate_limited = meter.create_counter(
            "simapi.client.rate_limited", unit="{response}", description="429 answers.")
        self.rate_wait = meter.create_counter(
            "simapi.client.rate_limit.wait", unit="s",
            description="Time calls waited for the session's rate limiter.")
        self.logins = meter.create_counter(
            "simapi.client.logins", unit="{login}", description="Logins made.")
        self.bulk_targets = meter.create_counter(
            "simapi.bulk.targets", unit="{target}", description="Bulk targets, by outcome.")
        self._trace_config = self._make_trace_config()

    # -- logical calls ------------------------------------------------------------------

    def start_call(self, session: Any, operation: str) -> _CallState:
        state = _CallState(operation, session)
        if not _IN_BULK.get():
            state.span = self.tracer.start_span(
                f"simapi.{operation}", kind=SpanKind.INTERNAL,
                attributes={"simapi.operation": operation})
            state.token = otel_context.attach(trace.set_span_in_context(state.span))
        state_token = _CALL.set(state)
        state.token = (state.token, state_token)
        return state

    def end_call(self, state: _CallState, error: BaseException | None) -> None:
        otel_token, call_token = state.token
        _CALL.reset(call_token)
        stats = state.session.stats
        waited = stats.rate_limit_wait - state.waited
        attrs = {"simapi.operation": state.operation}
        if waited > 0:
            self.rate_wait.add(waited, attrs)
        span = state.span
        if span is None:
            return
        if otel_token is not None:
            otel_context.detach(otel_token)
        span.set_attribute("simapi.rate_limit.wait", waited)
        if state.retries:
            span.set_attribute("simapi.retry.count", state.retries)
        if error is not None:
            span.set_attribute("error.type", _reason(error) if isinstance(
                error, APIStatusError) else type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()

    def retried(self, exc: BaseException, delay: float) -> None:
        reason = _reason(exc)
        self.retries.add(1, {"simapi.retry.reason": reason})
        state = _CALL.get()
        if state is None:
            return
        state.retries += 1
        if state.span is not None:
            state.span.set_attribute("simapi.retry.reason", reason)
            state.span.add_event("simapi.retry", {"simapi.retry.reason": reason,
                                                  "simapi.retry.delay": delay})

    # -- HTTP attempts (aiohttp TraceConfig) ------------------------------------------------

    def trace_configs(self) -> Sequence[aiohttp.TraceConfig]:
        return (self._trace_config,)

    def _make_trace_config(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig(trace_config_ctx_factory=SimpleNamespace)
        config.on_request_start.append(self._on_start)
        config.on_request_end.append(self._on_end)
        config.on_request_exception.append(self._on_exception)
        return config

    async def _on_start(self, _: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        url = params.url
        state = _CALL.get()
        base = f"{params.method} {url.with_query(None)}"
        attempt = 0
        if state is not None:
            attempt = state.attempts[base]
            state.attempts[base] += 1
        ctx.attrs = {"http.request.method": params.method, "server.address": url.host or "",
                     "server.port": url.port or 0}
        if state is not None:
            ctx.attrs["simapi.operation"] = state.operation
        ctx.started = time.monotonic()
        self.active.add(1, {"http.request.method": params.method,
                            "server.address": url.host or ""})
        ctx.span = None
        if state is None or state.span is not None:  # not inside a bulk run
            attributes = {**ctx.attrs, "url.full": full_url(url)}
            if attempt:
                attributes["http.request.resend_count"] = attempt
            ctx.span = self.tracer.start_span(params.method, kind=SpanKind.CLIENT,
                                              attributes=attributes)

    def _finish(self, ctx: Any, params: Any, status: int | None,
                error: BaseException | None) -> None:
        self.active.add(-1, {"http.request.method": params.method,
                             "server.address": params.url.host or ""})
        attrs = dict(ctx.attrs)
        if status is not None:
            attrs["http.response.status_code"] = status
            if status >= 400:
                attrs["error.type"] = str(status)
            if status == 429:
                self.rate_limited.add(1, {"server.address": attrs["server.address"]})
            elif status < 300 and params.url.path.endswith("/login"):
                self.logins.add(1, {"server.address": attrs["server.address"]})
        if error is not None:
            attrs["error.type"] = type(error).__qualname__
        self.duration.record(time.monotonic() - ctx.started, attrs)
        span = ctx.span
        if span is not None:
            for key in ("http.response.status_code", "error.type"):
                if key in attrs:
                    span.set_attribute(key, attrs[key])
            if "error.type" in attrs:
                span.set_status(Status(StatusCode.ERROR))
            span.end()

    async def _on_end(self, _: Any, ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
        self._finish(ctx, params, params.response.status, None)

    async def _on_exception(self, _: Any, ctx: Any,
                            params: aiohttp.TraceRequestExceptionParams) -> None:
        self._finish(ctx, params, None, params.exception)

    # -- bulk runs ----------------------------------------------------------------------

    def start_bulk(self, operation: str, *, expected: int | None = None,
                   trace_targets: bool = False) -> Any:
        attributes: dict[str, Any] = {"simapi.operation": operation}
        if expected is not None:
            attributes["simapi.bulk.expected"] = expected
        span = self.tracer.start_span(f"simapi.bulk.{operation}", kind=SpanKind.INTERNAL,
                                      attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        # trace_targets: each target's calls are spans (children of this one) as outside
        # a run; else they are only counted (a 40,000-target run is one span, not 40,000).
        return span, token, _IN_BULK.set(not trace_targets), operation

    def end_bulk(self, state: Any, report: Any, error: BaseException | None) -> None:
        span, token, bulk_token, operation = state
        _IN_BULK.reset(bulk_token)
        otel_context.detach(token)
        if report is not None:
            counts = {"succeeded": report.succeeded, "failed": report.failed,
                      "skipped": report.skipped}
            for outcome, count in counts.items():
                if count:
                    self.bulk_targets.add(count, {"simapi.operation": operation,
                                                  "simapi.bulk.outcome": outcome})
                span.set_attribute(f"simapi.bulk.{outcome}", count)
            span.set_attribute("simapi.bulk.total", report.total)
            if getattr(report, "stopped", None):  # max_failures, max_duration
                span.set_attribute("simapi.bulk.stopped", str(report.stopped))
        if isinstance(error, asyncio.CancelledError):
            # Cancelled (Ctrl-C, a stream closed early): not an error of the run.
            span.set_attribute("simapi.bulk.stopped", "cancelled")
        elif error is not None:
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()
