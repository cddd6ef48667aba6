"""benchmarks._loop and the benchmark server: a loop that busy-polls only while told to."""

from __future__ import annotations

import asyncio
import json
import selectors
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import _loop
from benchmarks._loop import SpinSelector
from benchmarks._runner import ROOT, Server


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def polls(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """Every timeout the selector hands to the platform's own `select`."""
    seen: list[float | None] = []
    inner = selectors.DefaultSelector.select

    def select(self: selectors.BaseSelector, timeout: float | None = None) -> object:
        seen.append(timeout)
        return inner(self, timeout)  # type: ignore[arg-type]

    monkeypatch.setattr(selectors.DefaultSelector, "select", select)
    return seen


def test_not_spinning_waits_like_the_default_selector(
        pair: tuple[socket.socket, socket.socket], polls: list[float | None]) -> None:
    a, b = pair
    with SpinSelector() as sel:
        sel.register(a, selectors.EVENT_READ)
        assert sel.select(0.001) == []
        b.send(b"x")
        assert [key.fileobj for key, _ in sel.select(5)] == [a]
    assert polls == [0.001, 5]


def test_spinning_polls_without_blocking_until_the_timeout(
        pair: tuple[socket.socket, socket.socket], polls: list[float | None]) -> None:
    """While spinning, a wait is zero-timeout polls until its clock reaches the timeout,
    never returning before (a fake clock: one millisecond per reading)."""
    a, _ = pair
    readings = iter(range(100))
    with SpinSelector() as sel:
        sel.clock = lambda: next(readings) / 1000  # type: ignore[method-assign]
        sel.spinning = True
        sel.register(a, selectors.EVENT_READ)
        assert sel.select(0.005) == []
        assert next(readings) == 6  # read at 0 (start), then after each poll up to 5 ms
    assert polls == [0] * 5


def test_spinning_returns_an_event_that_is_already_there(
        pair: tuple[socket.socket, socket.socket], polls: list[float | None]) -> None:
    a, b = pair
    b.send(b"x")
    with SpinSelector() as sel:
        sel.spinning = True
        sel.register(a, selectors.EVENT_READ)
        assert [key.fileobj for key, _ in sel.select(None)] == [a]  # no timeout: no hang
    assert polls == [0]


def test_spinning_with_a_zero_timeout_is_one_poll(polls: list[float | None]) -> None:
    with SpinSelector() as sel:
        sel.spinning = True
        assert sel.select(0) == []
        assert sel.select(-1) == []
    assert polls == [0, -1]


def test_a_spinning_loop_serves_io_and_timers() -> None:
    """A spinning loop runs its timers (in order) and serves a socket. (How late timers
    fire is measured by the benchmarks, not asserted here.)"""
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        _loop.selector_of(loop).spinning = True
        reader, writer = await asyncio.open_connection(*server_addr)
        fired: list[float] = []
        done = loop.create_future()
        for order in (3, 1, 2):  # due now (in the timer heap, not the ready queue)
            loop.call_at(loop.time() - order, fired.append, float(order))
        loop.call_at(loop.time(), done.set_result, None)
        await done
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()
        await writer.wait_closed()
        return fired

    with socket.create_server(("127.0.0.1", 0)) as listener:
        server_addr = listener.getsockname()[:2]

        async def echo_once() -> None:
            loop = asyncio.get_running_loop()
            conn, _ = await loop.sock_accept(listener)
            with conn:
                conn.setblocking(False)
                await loop.sock_sendall(conn, await loop.sock_recv(conn, 100))

        async def both() -> list[float]:
            listener.setblocking(False)
            serving = asyncio.create_task(echo_once())
            fired = await main()
            await serving
            return fired

        with asyncio.Runner(loop_factory=_loop.spin_loop) as runner:
            fired = runner.run(both())
    assert fired == [3.0, 2.0, 1.0]  # by due time


def test_selector_of_refuses_an_ordinary_loop() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(TypeError, match="spin_loop"):
            _loop.selector_of(loop)
    finally:
        loop.close()


def test_the_server_spins_only_while_latency_is_on() -> None:
    with Server(20, server_args=("--timers", "spin")) as server:
        assert server.timers == "spin"
        assert server.command("stats")["spinning"] is False  # scenario 1: a sleeping loop
        server.command("latency 0.01")
        assert server.command("stats")["spinning"] is True
        server.command("latency 0")
        assert server.command("stats")["spinning"] is False


def test_the_server_with_asyncio_timers_never_spins() -> None:
    with Server(20, latency_ms=10, server_args=("--timers", "asyncio")) as server:
        assert server.timers == "asyncio"
        assert server.command("stats")["spinning"] is False


def test_the_server_takes_commands_from_a_file(tmp_path: Path) -> None:
    """stdin may be a regular file (epoll refuses those): its lines are commands, and its
    end means quit."""
    script = tmp_path / "commands"
    script.write_text("latency 0.01\nstats\n")
    with script.open() as commands:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks._server", "--sims", "20", "--timers", "spin"],
            cwd=ROOT,
            stdin=commands, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert answers[0]["sims"] == 20
    assert answers[1] == {"ok": True}
    assert answers[2]["spinning"] is True
    assert answers[3] == {"ok": True}  # the end of the file: quit
