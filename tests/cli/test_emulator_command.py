"""`simapi emulator`: the standalone emulator behind the same command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

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
