"""Where the command connects and as whom: environment, options, stdin; clear errors."""

from __future__ import annotations

import json

import pytest

from simapi_async.testing import Emulator
from tests.cli.conftest import EmulatorThread, Invoke, env_for


def test_missing_base_url_exits_2_naming_the_setting(invoke: Invoke) -> None:
    """Without SIMAPI_BASE_URL or --base-url the command says which setting is missing."""
    result = invoke(["packets"], env={"SIMAPI_LOGIN": "demo", "SIMAPI_PASSWORD": "x"})
    assert result.exit_code == 2
    assert "SIMAPI_BASE_URL" in result.stderr
    assert "--base-url" in result.stderr


def test_missing_credentials_exit_2(invoke: Invoke, emu: Emulator) -> None:
    """An address without any credentials is a configuration error (exit 2)."""
    result = invoke(["packets"], env={"SIMAPI_BASE_URL": emu.base_url})
    assert result.exit_code == 2
    assert "SIMAPI_LOGIN" in result.stderr
    assert "SIMAPI_TOKEN" in result.stderr
    assert emu.stats.total_requests == 0


def test_login_without_password_points_at_password_stdin(invoke: Invoke, emu: Emulator) -> None:
    """--login alone asks for SIMAPI_PASSWORD or --password-stdin (never a password option)."""
    result = invoke(["packets", "--base-url", emu.base_url, "--login", "demo"])
    assert result.exit_code == 2
    assert "--password-stdin" in result.stderr


def test_password_stdin_logs_in_and_is_never_echoed(invoke: Invoke, emu: Emulator) -> None:
    """--password-stdin reads the first line of stdin; the password appears nowhere."""
    result = invoke(["packets", "--json", "--base-url", emu.base_url, "--login", emu.login,
                     "--password-stdin"], input=emu.password + "\n")
    assert result.exit_code == 0, result.output
    assert [p["id"] for p in json.loads(result.stdout)] == [p.id for p in emu.fleet.packets]
    assert emu.password not in result.output
    assert emu.stats.logins == 1


def test_password_stdin_empty_is_a_configuration_error(invoke: Invoke, emu: Emulator) -> None:
    """An empty stdin for --password-stdin exits 2 before any request."""
    result = invoke(["packets", "--base-url", emu.base_url, "--login", "demo",
                     "--password-stdin"], input="")
    assert result.exit_code == 2
    assert "stdin is empty" in result.stderr
    assert emu.stats.total_requests == 0


def test_wrong_password_exits_1_without_showing_it(invoke: Invoke, emu: Emulator) -> None:
    """A refused login is an API failure (exit 1) whose message hides the password."""
    secret = "not-the-password-42"
    result = invoke(["packets"], env={**env_for(emu), "SIMAPI_PASSWORD": secret})
    assert result.exit_code == 1
    assert "AuthenticationError" in result.stderr
    assert secret not in result.output


def test_token_from_environment_needs_no_login(invoke: Invoke, served: EmulatorThread) -> None:
    """SIMAPI_TOKEN alone is enough: no login call is made and the token is not printed."""
    token = served.call(served.emu.issue_token)
    result = invoke(["sims", "get", served.emu.fleet.numbers[0], "--json"],
                    env={"SIMAPI_BASE_URL": served.emu.base_url, "SIMAPI_TOKEN": token})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["number"] == served.emu.fleet.numbers[0]
    assert served.emu.stats.logins == 0
    assert token not in result.output


def test_plain_http_to_a_remote_host_is_refused(invoke: Invoke) -> None:
    """http:// to a host other than loopback exits 2 and names --allow-insecure-http."""
    result = invoke(["packets"], env={"SIMAPI_BASE_URL": "http://portal.example",
                                      "SIMAPI_LOGIN": "u", "SIMAPI_PASSWORD": "p"})
    assert result.exit_code == 2
    assert "--allow-insecure-http" in result.stderr


@pytest.mark.parametrize("command", [["sims", "list"], ["bulk", "block", "-", "--json"],
                                     ["cdr", "export", "--from", "2025-01-01", "--out", "-"]])
def test_every_connecting_command_reports_missing_settings(invoke: Invoke,
                                                          command: list[str]) -> None:
    """sims, bulk and cdr all stop with exit 2 when the API address is missing."""
    result = invoke(command, input="79181111111\n")
    assert result.exit_code == 2
    assert "SIMAPI_BASE_URL" in result.stderr


def test_bulk_from_stdin_refuses_password_stdin(invoke: Invoke, emu: Emulator) -> None:
    """FILE - and --password-stdin cannot share stdin: exit 2 before any request."""
    result = invoke(["bulk", "block", "-", "--base-url", emu.base_url, "--login", "demo",
                     "--password-stdin"], input="secret\n79181111111\n")
    assert result.exit_code == 2
    assert "stdin" in result.stderr
    assert emu.stats.total_requests == 0


def test_version_and_help(invoke: Invoke) -> None:
    """--version prints the package version; --help lists every command."""
    from simapi_async import __version__, _rows

    version = invoke(["--version"]).stdout
    assert __version__ in version
    assert ("compiled models" in version) is _rows.COMPILED  # which fast paths it runs
    help_text = invoke(["--help"]).stdout
    for name in ("demo", "emulator", "sims", "packets", "bulk", "cdr"):
        assert name in help_text


def test_a_bad_redis_url_exits_2_without_its_password(invoke: Invoke, env: dict[str, str]) -> None:
    """--redis (like SIMAPI_REDIS_URL) that is not a Redis URL exits 2, password hidden."""
    result = invoke(["packets", "--redis", "http://:hunter2@cache:6379/0"], env=env)
    assert result.exit_code == 2
    assert "redis_url" in result.stderr
    assert "hunter2" not in result.output
    result = invoke(["packets"], env={**env, "SIMAPI_REDIS_URL": "redis://:hunter2@h:x/0"})
    assert result.exit_code == 2
    assert "hunter2" not in result.output
