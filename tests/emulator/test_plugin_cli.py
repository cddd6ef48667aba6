"""The pytest fixtures, the command line, and the public names of simapi_async.testing."""

from __future__ import annotations

import signal
import subprocess
import sys
import types

import aiohttp
import pytest

import simapi_async.testing as testing
from simapi_async.testing import Emulator, EmulatorFactory, Faults, Shapes
from simapi_async.testing._cli import build_parser, emulator_from_args

#: The emulator `test_simapi_emulator_factory` leaves running, for the test after it.
_LEFT_RUNNING: list[str] = []


async def test_simapi_emulator_fixture(simapi_emulator: Emulator) -> None:
    """The fixture is a started emulator with 200 SIMs (seed 1) that answers a login."""
    assert len(simapi_emulator.fleet.sims) == 200
    async with aiohttp.ClientSession(simapi_emulator.base_url + "/") as http, \
            http.post("api/v2/login", params={"login": simapi_emulator.login,
                                              "password": simapi_emulator.password}) as r:
        assert r.status == 200


async def test_simapi_emulator_factory(simapi_emulator_factory: EmulatorFactory) -> None:
    """The factory passes Emulator kwargs and returns started emulators (stopped at teardown)."""
    emu = await simapi_emulator_factory(sims=7, seed=2, shapes=Shapes(lists="bare"))
    assert len(emu.fleet.sims) == 7
    assert emu.shapes.lists == "bare"
    assert emu.base_url.startswith("http://127.0.0.1:")
    _LEFT_RUNNING.append(emu.base_url)


async def test_simapi_emulator_factory_stopped_what_was_left_running() -> None:
    """The emulator the previous test got from the factory was stopped by the fixture's
    teardown: its port refuses connections."""
    if not _LEFT_RUNNING:
        pytest.skip("runs after test_simapi_emulator_factory (in file order)")
    base_url = _LEFT_RUNNING.pop()
    # A bound on a hang (a socket left listening accepts but never answers), not a timing.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        with pytest.raises(aiohttp.ClientConnectorError):
            await http.post(base_url + "/api/v2/login")


def test_cli_arguments_map_to_emulator() -> None:
    """--latency-ms, --error-rate (split over 500/503/502), --fast etc. configure the emulator."""
    args = build_parser().parse_args(
        ["--port", "0", "--sims", "30", "--latency-ms", "20", "--error-rate", "0.03",
         "--seed", "5", "--fast", "--rate-limit", "50", "--token-ttl", "600"])
    emu = emulator_from_args(args)
    assert (emu.sims_count, emu.seed, emu.fast, emu.port, emu.token_ttl) == (30, 5, True, 0, 600)
    assert emu.faults == Faults(latency=0.02, error_rate_500=0.01, error_rate_503=0.01,
                                error_rate_502_html=0.01, rate_limit=50)
    assert emu.shapes == Shapes()


def test_cli_429_rate_and_cdr_pages() -> None:
    """--rate-429 and --cdr-page-size reach Faults.error_rate_429 and Shapes.cdr_page_size."""
    emu = emulator_from_args(build_parser().parse_args(
        ["--port", "0", "--rate-429", "0.02", "--cdr-page-size", "500"]))
    assert emu.faults == Faults(error_rate_429=0.02)
    assert emu.shapes == Shapes(cdr_page_size=500)


def test_cli_serves_until_ctrl_c() -> None:
    """`python -m simapi_async.testing` prints URL, login, password and stops on Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simapi_async.testing", "--port", "0", "--sims", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("base URL: http://127.0.0.1:")
        assert lines[1].split() == ["login:", "demo"]
        assert lines[2].split() == ["password:", "demo-password"]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_public_names() -> None:
    """`__all__` is sorted and names exactly the public attributes of simapi_async.testing."""
    assert testing.__all__ == sorted(testing.__all__)
    public = {n for n, v in vars(testing).items()
              if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    assert public == set(testing.__all__)


def test_standalone_emulator_log_and_stats_while_it_runs() -> None:
    """`python -m simapi_async.testing --log` prints a line per request on stderr (never
    the password) and, while it runs, answers its stats at the URL it prints."""
    import json
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "simapi_async.testing", "--port", "0", "--sims", "10",
         "--log"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = dict(proc.stdout.readline().split(": ", 1) for _ in range(4))
        base_url, stats_url = lines["base URL"].strip(), lines["stats"].strip()
        assert stats_url == base_url + "/_emulator/stats"
        login = urllib.request.Request(  # noqa: S310 - loopback
            base_url + "/api/v2/login?login=demo&password=demo-password", method="POST")
        with urllib.request.urlopen(login, timeout=30) as answer:  # noqa: S310
            assert answer.status == 200
        with urllib.request.urlopen(stats_url, timeout=30) as answer:  # noqa: S310
            stats = json.loads(answer.read())
        assert (stats["logins"], stats["requests"], stats["status_counts"]) == (
            1, {"login": 1}, {"200": 1})
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "POST /api/v2/login 200" in err
    assert "demo-password" not in err


def test_standalone_emulator_refuses_log_with_fast() -> None:
    """`--log --fast` is a usage error: --fast turns the access log off."""
    proc = subprocess.run(
        [sys.executable, "-m", "simapi_async.testing", "--port", "0", "--log", "--fast"],
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "--log needs the access log" in proc.stderr
