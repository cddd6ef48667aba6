"""Profiles of the config file: `simapi configure`, --profile / SIMAPI_PROFILE,
`AsyncSession.from_profile`, secret commands, and the file-mode check (issue 17)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import simapi_async as sa
from simapi_async._profiles import command_argv, config_path, load_profile
from simapi_async.testing import Emulator
from tests.cli.conftest import Invoke


def _secret_script(tmp_path: Path, secret: str) -> str:
    script = tmp_path / "print-secret.py"
    script.write_text(f"print({secret!r})\n", encoding="utf-8")
    return f"{sys.executable} {script}"


def _write(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_config_path_follows_xdg_config_home(tmp_path: Path) -> None:
    """The file is simapi/config.toml under XDG_CONFIG_HOME (platformdirs' user config)."""
    assert config_path() == tmp_path / "config" / "simapi" / "config.toml"


def test_configure_then_profile_option(invoke: Invoke, emu: Emulator, tmp_path: Path) -> None:
    """`simapi configure --profile emu` writes a mode-600 file with no password; `--profile
    emu` then connects with the password its password_command prints."""
    command = _secret_script(tmp_path, emu.password)
    made = invoke(["configure", "--profile", "emu", "--base-url", emu.base_url,
                   "--login", emu.login, "--password-command", command])
    assert made.exit_code == 0, made.output
    path = config_path()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert emu.password not in path.read_text(encoding="utf-8")
    result = invoke(["sims", "get", emu.fleet.numbers[0], "--json", "--profile", "emu"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["number"] == emu.fleet.numbers[0]
    assert emu.password not in result.output


def test_simapi_profile_env_and_env_overrides(invoke: Invoke, emu: Emulator,
                                             tmp_path: Path) -> None:
    """SIMAPI_PROFILE picks the profile; SIMAPI_PASSWORD still overrides its command."""
    _write(f'[profiles.emu]\nbase_url = "{emu.base_url}"\nlogin = "{emu.login}"\n'
           'password_command = "false"\n')
    failing = invoke(["packets", "--json"], env={"SIMAPI_PROFILE": "emu"})
    assert failing.exit_code == 2
    assert "password_command" in failing.output
    assert "exited with status 1" in failing.output
    ok = invoke(["packets", "--json"],
                env={"SIMAPI_PROFILE": "emu", "SIMAPI_PASSWORD": emu.password})
    assert ok.exit_code == 0, ok.output


def test_unknown_profile_is_a_config_error(invoke: Invoke) -> None:
    """--profile NAME that the file lacks: exit 2, naming the profiles it has."""
    _write('[profiles.prod]\nbase_url = "https://portal.example"\ntoken_command = "x"\n')
    result = invoke(["packets", "--profile", "nope"])
    assert result.exit_code == 2
    assert "profiles: prod" in result.output


@pytest.mark.parametrize("secret", ['password = "hunter2-secret"',
                                    'redis_url = "redis://:hunter2-redis@cache:6379/0"'])
def test_a_password_in_a_readable_file_is_refused(emu: Emulator, secret: str) -> None:
    """As ssh does: a file holding a password (the API's, or one in a redis_url) must be
    mode 600; the password is not shown."""
    path = _write(f'[profiles.x]\nbase_url = "{emu.base_url}"\nlogin = "a"\n{secret}\n')
    path.chmod(0o644)
    with pytest.raises(sa.InvalidInputError, match="readable by others") as caught:
        load_profile("x")
    assert "hunter2" not in str(caught.value)
    path.chmod(0o600)
    profile = load_profile("x")
    assert profile is not None
    assert "hunter2" not in repr(profile)


async def test_from_profile_with_a_token_command(emu: Emulator, tmp_path: Path) -> None:
    """`AsyncSession.from_profile(name)` takes base_url and a token from token_command."""
    token = emu.issue_token()
    _write(f'[profiles.t]\nbase_url = "{emu.base_url}"\n'
           f'token_command = "{_secret_script(tmp_path, token)}"\n')
    async with sa.AsyncSession.from_profile("t") as api:
        sim = await api.sims.get(emu.fleet.numbers[1])
        assert token not in repr(api)
    assert sim.number == emu.fleet.numbers[1]
    assert emu.stats.logins == 0


async def test_from_profile_reads_simapi_profile(emu: Emulator, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a name, from_profile uses SIMAPI_PROFILE; keyword arguments win."""
    _write(f'[profiles.p]\nbase_url = "{emu.base_url}"\nlogin = "{emu.login}"\n'
           f'password_command = "{_secret_script(tmp_path, emu.password)}"\n')
    monkeypatch.setenv("SIMAPI_PROFILE", "p")
    async with sa.AsyncSession.from_profile(timeout=5.0) as api:
        await api.packets.list()
    assert emu.stats.logins == 1


def test_commands_run_without_a_shell_when_they_can() -> None:
    """`pass show simapi/prod` is split with shlex; a pipe needs (and gets) sh -c."""
    assert command_argv("pass show 'simapi/prod'") == ["pass", "show", "simapi/prod"]
    assert command_argv("op read x | head -1") == ["/bin/sh", "-c", "op read x | head -1"]


def test_the_profile_option_is_on_every_connecting_command(invoke: Invoke) -> None:
    """--profile is in the help of sims, packets, cdr export and bulk."""
    for args in (["sims", "list"], ["sims", "get"], ["sims", "block"], ["packets"],
                 ["cdr", "export"], ["bulk"]):
        assert "--profile" in invoke([*args, "--help"]).stdout, args
    assert os.environ.get("SIMAPI_PROFILE") is None


def test_a_profile_redis_url_shares_the_quota_and_the_environment_wins(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`redis_url` in a profile: from_profile shares the quota and token through it;
    SIMAPI_REDIS_URL overrides it, a keyword argument overrides both."""
    pytest.importorskip("redis")
    _write('[profiles.f]\nbase_url = "https://portal.example"\ntoken_command = "x"\n'
           'redis_url = "redis://profile-host:6379/0"\n')
    monkeypatch.setenv("SIMAPI_TOKEN", "t")
    api = sa.AsyncSession.from_profile("f")
    assert "profile-host" in repr(api._pacer._shared)
    monkeypatch.setenv("SIMAPI_REDIS_URL", "redis://env-host:6379/0")
    assert "env-host" in repr(sa.AsyncSession.from_profile("f")._pacer._shared)
    given = sa.AsyncSession.from_profile("f", redis_url="redis://arg-host:6379/0")
    assert "arg-host" in repr(given._pacer._shared)
    monkeypatch.delenv("SIMAPI_REDIS_URL")
    plain = load_profile("f")
    assert plain is not None
    assert plain.redis_url == "redis://profile-host:6379/0"


def test_a_redis_url_without_a_password_may_sit_in_a_readable_file() -> None:
    _write('[profiles.r]\nbase_url = "https://portal.example"\ntoken_command = "x"\n'
           'redis_url = "redis://cache:6379/0"\n').chmod(0o644)
    assert load_profile("r") is not None


def test_a_bad_profile_redis_url_is_refused_naming_it(invoke: Invoke) -> None:
    """Checked when the profile is read, before any request; the password hidden."""
    _write('[profiles.b]\nbase_url = "https://portal.example"\ntoken_command = "x"\n'
           'redis_url = "http://:hunter2-redis@cache:6379/0"\n')
    with pytest.raises(sa.InvalidInputError) as caught:
        load_profile("b")
    assert caught.value.field == "profiles.b.redis_url"
    result = invoke(["packets", "--profile", "b"])
    assert result.exit_code == 2
    assert "profiles.b.redis_url" in result.output
    assert "hunter2" not in result.output


def test_configure_redis_is_written_kept_and_removed(invoke: Invoke) -> None:
    """`simapi configure --redis URL` writes it (checked first); a rewrite without
    --redis keeps it; `--redis ''` removes it."""
    base = ["configure", "--profile", "f", "--base-url", "https://portal.example",
            "--token-command", "x"]
    bad = invoke([*base, "--redis", "redis://:hunter2@cache:x/0"])
    assert bad.exit_code == 2
    assert "--redis" in bad.output
    assert "hunter2" not in bad.output
    secret = invoke([*base, "--redis", "redis://:hunter2@cache:6379/0"])
    assert secret.exit_code == 0
    assert "visible to every user" in secret.stderr  # argv is world-readable
    assert "hunter2" not in secret.output
    assert invoke([*base, "--redis", "redis://cache:6379/0"]).exit_code == 0
    assert getattr(load_profile("f"), "redis_url", None) == "redis://cache:6379/0"
    assert invoke(base).exit_code == 0
    assert getattr(load_profile("f"), "redis_url", None) == "redis://cache:6379/0"
    assert invoke([*base, "--redis", ""]).exit_code == 0
    assert getattr(load_profile("f"), "redis_url", "kept") is None
    assert "redis_url" not in config_path().read_text(encoding="utf-8")
