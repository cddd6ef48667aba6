"""`simapi emulator`: the standalone emulator behind the same command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import click

from tests.cli.conftest import Invoke


def test_emulator_help_lists_its_options(invoke: Invoke) -> None:
    """`simapi emulator --help` shows the emulator's own options."""
    result = invoke(["emulator", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--sims", "--latency-ms", "--error-rate", "--seed", "--fast"):
        assert option in result.stdout


def test_emulator_rejects_a_bad_option(invoke: Invoke) -> None:
    """An unknown emulator option is a usage error (exit 2)."""
    assert invoke(["emulator", "--no-such-option"]).exit_code == 2


def test_emulator_serves_until_sigterm(invoke: Invoke) -> None:
    """The command serves on the port it prints; the other commands work against it; SIGTERM
    stops it with exit 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simapi_async.cli", "emulator", "--port", "0", "--sims", "40",
         "--seed", "3", "--fast"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("base URL: http://127.0.0.1:")
        base_url = first.split(": ", 1)[1].strip()
        env = {"SIMAPI_BASE_URL": base_url, "SIMAPI_LOGIN": "demo",
               "SIMAPI_PASSWORD": "demo-password"}
        result = invoke(["sims", "list", "--json", "--limit", "100"], env=env)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["total"] == 40
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_emulator_help_explains_every_option_with_defaults(invoke: Invoke) -> None:
    """`simapi emulator` is a click command: each option has help text, defaults are shown,
    and `stats` is listed."""
    from simapi_async.cli._emulator import emulator

    assert all(p.help for p in emulator.params if isinstance(p, click.Option))
    text = invoke(["emulator", "--help"]).stdout
    assert "[default: 8080; 0<=x<=65535]" in text
    assert "--log" in text
    assert "stats" in text


def test_emulator_log_and_stats_while_it_runs(invoke: Invoke) -> None:
    """--log prints a line per request (never the password); `simapi emulator stats URL`
    reads the counters of the running emulator, as `emu.stats` would."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simapi_async.cli", "emulator", "--port", "0", "--sims", "20",
         "--log"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().split(": ", 1)[1].strip()
        env = {"SIMAPI_BASE_URL": base_url, "SIMAPI_LOGIN": "demo",
               "SIMAPI_PASSWORD": "demo-password"}
        assert invoke(["sims", "list", "--limit", "5"], env=env).exit_code == 0
        data = json.loads(invoke(["emulator", "stats", base_url, "--json"]).stdout)
        assert (data["logins"], data["requests"], data["status_counts"]) == (
            1, {"login": 1, "list_sims": 1}, {"200": 2})
        plain = invoke(["emulator", "stats", base_url])
        assert "total requests: 2" in plain.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "POST /api/v2/login 200" in err
    assert "GET /api/v2/sim/list 200" in err
    assert "demo-password" not in err
    assert "_emulator/stats" not in err or "GET /_emulator/stats 200" in err


def test_emulator_stats_of_nothing_is_a_clear_error(invoke: Invoke) -> None:
    """`stats` for an address where nothing listens says it cannot read it (exit 2)."""
    result = invoke(["emulator", "stats", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot read http://127.0.0.1:9/_emulator/stats" in result.output


def test_emulator_refuses_log_with_fast(invoke: Invoke) -> None:
    """`simapi emulator --log --fast` is a usage error (exit 2) before anything serves."""
    result = invoke(["emulator", "--port", "0", "--log", "--fast"])
    assert result.exit_code == 2
    assert "--log needs the access log" in result.output
