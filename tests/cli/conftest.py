"""CLI test fixtures: a real emulator on loopback, served from a background thread.

click's runner invokes a command synchronously and the command calls `asyncio.run`, so the
emulator cannot share the test's event loop: it gets a thread and a loop of its own. Its
state is read by the test only while no command runs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from simapi_async.cli import cli
from simapi_async.testing import Emulator

T = TypeVar("T")
_BOUND = 60.0  # a bound on waiting for the emulator thread, never an assertion


class EmulatorThread:
    """An `Emulator` started in its own thread and event loop."""

    def __init__(self, middlewares: Sequence[Any] = (), **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.emu = Emulator(**kwargs)
        self.emu.app.middlewares.extend(middlewares)

    def __enter__(self) -> Emulator:
        self._thread.start()
        self._wait(self.emu.start())
        return self.emu

    def __exit__(self, *exc: object) -> None:
        self._wait(self.emu.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_BOUND)
        self.loop.close()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in the emulator's loop (for changes while it serves)."""
        async def go() -> T:
            return fn(*args)

        return self._wait(go())

    def _wait(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(_BOUND)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SIMAPI_* setting or user profile leaks in from the outside; temp files (auto
    journals) go to the test's own directory."""
    for name in ("SIMAPI_BASE_URL", "SIMAPI_LOGIN", "SIMAPI_PASSWORD", "SIMAPI_TOKEN",
                 "SIMAPI_LOG", "COLUMNS", "SIMAPI_PROFILE", "SIMAPI_CONFIG", "SIMAPI_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user profile
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))


@pytest.fixture
def served() -> Iterator[EmulatorThread]:
    """A running emulator thread: 300 SIMs, seed 7 (`served.emu`, `served.call`)."""
    thread = EmulatorThread(sims=300, seed=7)
    with thread:
        yield thread


@pytest.fixture
def emu(served: EmulatorThread) -> Emulator:
    return served.emu


def env_for(emu: Emulator) -> dict[str, str]:
    return {"SIMAPI_BASE_URL": emu.base_url, "SIMAPI_LOGIN": emu.login,
            "SIMAPI_PASSWORD": emu.password}


@pytest.fixture
def env(emu: Emulator) -> dict[str, str]:
    """The settings that point the command at the emulator."""
    return env_for(emu)


Invoke = Callable[..., Result]


@pytest.fixture
def invoke() -> Invoke:
    """Run `simapi ARGS` in-process: `invoke(args, env=..., input=...)` → click's Result."""
    def run(args: Sequence[str], *, env: dict[str, str] | None = None,
            input: str | bytes | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, input=input,
                                  catch_exceptions=False)

    return run


def middleware(hook: Callable[[web.Request], web.StreamResponse | None]) -> Any:
    """An aiohttp middleware that calls `hook(request)` before the emulator answers; a
    response the hook returns is the answer instead."""
    @web.middleware
    async def mw(request: web.Request, handler: Any) -> web.StreamResponse:
        answer = hook(request)
        if answer is not None:
            return answer
        response: web.StreamResponse = await handler(request)
        return response

    return mw
