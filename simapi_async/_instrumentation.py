"""Instrumentation hooks on the request path (stamina-style): found at first use, free
when absent.

`ACTIVE` is the list of hooks; the request path tests it (one truthiness check) and
does nothing else when it is empty. It is filled once, when the first session opens its
connection pool (`discover()`): with the OpenTelemetry hook (`_otel.OtelHook`) when
``opentelemetry-api`` is installed (extra ``otel``) AND a tracer or meter provider has
been set, unless ``SIMAPI_OTEL=off``. Configure OpenTelemetry before the first call, or
call `discover(force=True)` after. `set_hooks([...])` installs hooks explicitly (tests,
or a custom integration).

A hook receives the moments the session decides something:

- `start_call(session, operation) -> state` / `end_call(state, error)`: one logical
  call (`simapi.<operation>`), retries and re-logins included;
- `trace_configs()`: aiohttp `TraceConfig`s for the HTTP attempts (added to the pool
  the session creates; a caller's own `session=` is not changed);
- `retried(exc, delay)`: a retry was decided, after `exc`, sleeping `delay` seconds;
- `start_bulk(operation, expected=..., trace_targets=...) -> state` /
  `end_bulk(state, report, error)`: one bulk run (`api.bulk.run` or `api.bulk.stream`);
  `report` is the run's `BulkReport` so far, also when it failed or was cancelled;
  `trace_targets` (the run's option, off by default) asks for the calls inside it too.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ACTIVE", "Hook", "discover", "instrumented_bulk", "instrumented_call",
           "instrumented_stream", "set_hooks"]

T = TypeVar("T")
R = TypeVar("R")
_END = object()


class Hook(Protocol):
    """What an instrumentation receives; every method must be cheap and never raise."""

    def start_call(self, session: Any, operation: str) -> Any: ...
    def end_call(self, state: Any, error: BaseException | None) -> None: ...
    def trace_configs(self) -> Sequence[aiohttp.TraceConfig]: ...
    def retried(self, exc: BaseException, delay: float) -> None: ...
    def start_bulk(self, operation: str, *, expected: int | None,
                   trace_targets: bool) -> Any: ...
    def end_bulk(self, state: Any, report: Any, error: BaseException | None) -> None: ...


#: The installed hooks; empty means the request path does no instrumentation at all.
ACTIVE: list[Hook] = []
_discovered = False
#: True inside an instrumented call (its retries and login go through the same path).
IN_CALL: ContextVar[bool] = ContextVar("simapi_in_call", default=False)


def set_hooks(hooks: Sequence[Hook]) -> None:
    """Install exactly `hooks` (an empty list turns instrumentation off)."""
    global _discovered
    ACTIVE[:] = list(hooks)
    _discovered = True


def discover(*, force: bool = False) -> list[Hook]:
    """Find the hooks once (OpenTelemetry when installed and configured); see module doc."""
    global _discovered
    if _discovered and not force:
        return ACTIVE
    _discovered = True
    found: list[Hook] = []
    if os.environ.get("SIMAPI_OTEL", "").lower() not in ("0", "off", "false", "no"):
        try:
            from ._otel import OtelHook, configured
        except ImportError:  # opentelemetry-api is not installed: nothing to do, ever
            pass
        else:
            if configured():
                found.append(OtelHook())
    ACTIVE[:] = found
    return ACTIVE


async def instrumented_call(session: Any, operation: str,
                            call: Callable[[], Awaitable[T]]) -> T:
    """Run `call()` (one logical call of `operation`) between the hooks' start and end."""
    hooks = list(ACTIVE)
    states = [h.start_call(session, operation) for h in hooks]
    token = IN_CALL.set(True)
    try:
        result = await call()
    except BaseException as exc:
        for hook, state in zip(hooks, states, strict=True):
            hook.end_call(state, exc)
        raise
    finally:
        IN_CALL.reset(token)
    for hook, state in zip(hooks, states, strict=True):
        hook.end_call(state, None)
    return result


async def instrumented_bulk(operation: str, run: Callable[[], Awaitable[T]], *, report: Any,
                            expected: int | None = None, trace_targets: bool = False) -> T:
    """Run a bulk run between the hooks' `start_bulk` and `end_bulk` (with `report`, the
    run's report, filled as it goes: its counts so far when the run fails or is cancelled)."""
    hooks = list(ACTIVE)
    states = [h.start_bulk(operation, expected=expected, trace_targets=trace_targets)
              for h in hooks]
    try:
        result = await run()
    except BaseException as exc:
        for hook, state in zip(hooks, states, strict=True):
            hook.end_bulk(state, report, exc)
        raise
    for hook, state in zip(hooks, states, strict=True):
        hook.end_bulk(state, report, None)
    return result


async def instrumented_stream(operation: str,
                              run: Callable[[Callable[[R], Awaitable[None]]], Awaitable[Any]],
                              *, report: Any, expected: int | None = None,
                              trace_targets: bool = False) -> AsyncIterator[R]:
    """`api.bulk.stream` under the hooks: the run (`run(on_result)`) goes on in a task of
    its own, inside `instrumented_bulk`, so its span is the current one for its workers
    only (never for the code consuming the stream, between two results); each result
    is handed over through a one-slot queue. Closing the stream early cancels the run."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)

    async def drive() -> None:
        try:
            await instrumented_bulk(operation, lambda: run(queue.put), report=report,
                                    expected=expected, trace_targets=trace_targets)
        except asyncio.CancelledError:
            raise  # the consumer has gone: nobody waits for the end
        except BaseException:
            await queue.put(_END)
            raise
        await queue.put(_END)

    task = asyncio.create_task(drive())
    try:
        while True:
            item = await queue.get()
            if item is _END:
                break
            yield item
        await task  # the run's own error (a failing iterable, a journal error)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
