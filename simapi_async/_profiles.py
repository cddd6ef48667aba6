"""Named connection profiles in ``config.toml``: where, as whom, and how to get the secret.

The file is ``simapi/config.toml`` in the user's config directory (platformdirs'
`user_config_dir`, so ``~/.config/simapi/config.toml`` on Linux, moved by
``XDG_CONFIG_HOME``)::

    [profiles.prod]
    base_url = "https://portal.example"
    login = "fleet-bot"
    password_command = "pass show simapi/prod"   # prints the password on stdout

    [profiles.staging]
    base_url = "https://staging.portal.example"
    token_command = "vault kv get -field=token secret/simapi"

    [profiles.laptop]
    base_url = "https://portal.example"
    login = "me"
    keyring = true        # the password is in the OS keyring (extra `keyring`)

    [profiles.fleet]
    base_url = "https://portal.example"
    login = "fleet-bot"
    password_command = "pass show simapi/prod"
    redis_url = "redis://redis.internal:6379/0"   # the shared quota and token (extra `fleet`)

A command is split with `shlex.split` and run without a shell; one that needs a shell
(a pipe, ``&&``, ``$VAR``, redirection) is run with ``/bin/sh -c``. A `password` (or
`token`) written in the file itself is accepted only when nobody but the owner can read
the file (mode 600), as ssh does for its keys; so is a `redis_url` with a password in it.
The environment (`SIMAPI_BASE_URL`, `SIMAPI_LOGIN`, `SIMAPI_PASSWORD`, `SIMAPI_TOKEN`,
`SIMAPI_REDIS_URL`) overrides what a profile says.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any, Final

import attrs

from ._exceptions import InvalidInputError

__all__ = ["DEFAULT_PROFILE", "Profile", "config_path", "has_password", "load_profile",
           "write_profile"]

DEFAULT_PROFILE: Final = "default"
KEYRING_SERVICE: Final = "simapi"
_KEYS: Final = frozenset({"base_url", "login", "password", "password_command", "token",
                          "token_command", "keyring", "redis_url"})
_SHELL_CHARS: Final = frozenset("|&;<>()$`*?[]{}~\n")
_COMMAND_TIMEOUT: Final = 60.0


def config_path() -> Path:
    """``<user config dir>/simapi/config.toml`` (`SIMAPI_CONFIG` overrides it)."""
    explicit = os.environ.get("SIMAPI_CONFIG")
    if explicit:
        return Path(explicit)
    try:
        from platformdirs import user_config_dir
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "simapi" / "config.toml"
    return Path(user_config_dir("simapi", appauthor=False, roaming=True)) / "config.toml"


@attrs.frozen(slots=True)
class Profile:
    """One ``[profiles.NAME]`` table; secrets are fetched by `credentials()`, not kept."""

    name: str
    base_url: str | None = None
    login: str | None = None
    password_command: str | None = None
    token_command: str | None = None
    keyring: bool = False
    password: str | None = attrs.field(default=None, repr=False)
    token: str | None = attrs.field(default=None, repr=False)
    #: May hold the Redis password: not in the repr (errors show it through `redact_dsn`).
    redis_url: str | None = attrs.field(default=None, repr=False)

    def credentials(self) -> dict[str, str]:
        """``{"login", "password"}`` or ``{"token"}`` from the environment, a command, the
        keyring or the file, in that order; empty when the profile names none."""
        env = os.environ
        login = env.get("SIMAPI_LOGIN") or self.login
        if env.get("SIMAPI_PASSWORD") and login:
            return {"login": login, "password": env["SIMAPI_PASSWORD"]}
        if env.get("SIMAPI_TOKEN") and not env.get("SIMAPI_LOGIN"):
            return {"token": env["SIMAPI_TOKEN"]}
        if login and self.password_command:
            return {"login": login, "password": run_secret_command(
                self.password_command, f"profiles.{self.name}.password_command")}
        if login and self.keyring:
            return {"login": login, "password": self._from_keyring(login)}
        if login and self.password:
            return {"login": login, "password": self.password}
        if self.token_command:
            return {"token": run_secret_command(self.token_command,
                                                f"profiles.{self.name}.token_command")}
        if self.token:
            return {"token": self.token}
        return {"login": login} if login else {}

    def _from_keyring(self, login: str) -> str:
        field = f"profiles.{self.name}.keyring"
        try:
            import keyring
        except ImportError:
            raise InvalidInputError(field, True, "needs the keyring package: pip install "
                                    "'simapi_async[keyring]'") from None
        secret = keyring.get_password(keyring_service(self.name), login)
        if not secret:
            raise InvalidInputError(field, True, f"no password for {login!r} in the OS keyring "
                                    f"(store one with `simapi configure --profile {self.name} "
                                    "--keyring`)")
        return str(secret)


def keyring_service(profile: str) -> str:
    """The keyring service a profile's password is stored under: ``simapi/NAME``."""
    return f"{KEYRING_SERVICE}/{profile}"


def command_argv(command: str) -> list[str]:
    """`command` as an argv: `shlex.split` when it needs no shell, else ``sh -c``."""
    if any(ch in _SHELL_CHARS for ch in command):
        return ["/bin/sh", "-c", command]
    return shlex.split(command)


def run_secret_command(command: str, field: str) -> str:
    """The first line `command` prints; its output never appears in an error."""
    try:
        argv = command_argv(command)
    except ValueError as exc:
        raise InvalidInputError(field, command, f"cannot be split: {exc}") from None
    if not argv:
        raise InvalidInputError(field, command, "is empty")
    try:
        done = subprocess.run(argv, capture_output=True, text=True,  # noqa: S603
                              timeout=_COMMAND_TIMEOUT, check=False)
    except FileNotFoundError:
        raise InvalidInputError(field, command, f"{argv[0]!r} is not found") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidInputError(field, command, f"could not run: {type(exc).__name__}") from None
    if done.returncode != 0:
        raise InvalidInputError(field, command, f"exited with status {done.returncode}")
    secret = done.stdout.split("\n", 1)[0].rstrip("\r")
    if not secret:
        raise InvalidInputError(field, command, "printed nothing")
    return secret


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidInputError("config", str(path), exc.strerror or str(exc)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError("config", str(path), f"is not valid TOML: {exc}") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise InvalidInputError("config", str(path), "[profiles] must be a table")
    if any(isinstance(p, dict) and ("password" in p or "token" in p
                                    or has_password(p.get("redis_url")))
           for p in profiles.values()):
        _refuse_if_readable(path)
    return profiles


def has_password(url: object) -> bool:
    """Whether a `redis_url` carries a password (``redis://:secret@host``, a user and a
    password, or ``?password=``); any string that cannot be read counts as one."""
    if not isinstance(url, str):
        return False
    from urllib.parse import parse_qs, urlsplit

    try:
        parts = urlsplit(url)
        return bool(parts.password) or "password" in parse_qs(parts.query)
    except ValueError:
        return True


def _refuse_if_readable(path: Path) -> None:
    """A file holding a secret must be readable by its owner only (as ssh insists)."""
    if os.name != "posix":  # pragma: no cover - Windows has ACLs, not mode bits
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InvalidInputError(
            "config", str(path),
            f"holds a password or token (or a redis_url with a password) and is readable by "
            f"others (mode {mode:03o}): "
            f"run `chmod 600 {path}`, or use password_command / keyring instead",
        )


def load_profile(name: str | None = None, *, path: Path | None = None,
                 required: bool = True) -> Profile | None:
    """The profile `name` (default: `SIMAPI_PROFILE`, else ``default``) from the file.

    A missing profile raises `InvalidInputError` when `required` (a name was asked for),
    else gives None.
    """
    path = path or config_path()
    name = name or os.environ.get("SIMAPI_PROFILE") or None
    asked = name is not None
    name = name or DEFAULT_PROFILE
    profiles = _read(path)
    table = profiles.get(name)
    if table is None:
        if required and asked:
            known = ", ".join(sorted(profiles)) or "none"
            raise InvalidInputError("profile", name, f"is not in {path} (profiles: {known})")
        return None
    if not isinstance(table, dict):
        raise InvalidInputError("profile", name, f"[profiles.{name}] must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise InvalidInputError(f"profiles.{name}", unknown[0],
                                f"is not a profile key ({', '.join(sorted(_KEYS))})")
    for key, value in table.items():
        if key != "keyring" and not isinstance(value, str):
            raise InvalidInputError(f"profiles.{name}.{key}", None, "must be a string")
    if not isinstance(table.get("keyring", False), bool):
        raise InvalidInputError(f"profiles.{name}.keyring", None, "must be true or false")
    if "redis_url" in table:
        from .fleet._redis import check_redis_url

        table = {**table, "redis_url": check_redis_url(table["redis_url"],
                                                       f"profiles.{name}.redis_url")}
    return Profile(name=name, **table)


def _toml_string(value: str) -> str:
    # JSON string escapes are TOML basic-string escapes (\" \\ \n \uXXXX ...).
    import json
    return json.dumps(value, ensure_ascii=False)


def write_profile(name: str, values: dict[str, Any], *, path: Path | None = None) -> Path:
    """Set profile `name` to `values` (other profiles kept; comments are not), mode 600."""
    path = path or config_path()
    profiles = _read(path)
    profiles[name] = {k: v for k, v in values.items() if v is not None}
    lines = ["# simapi profiles (written by `simapi configure`)", ""]
    for profile, table in profiles.items():
        key = profile if profile.replace("-", "").replace("_", "").isalnum() else \
            _toml_string(profile)
        lines.append(f"[profiles.{key}]")
        for k, v in table.items():
            shown = ("true" if v else "false") if isinstance(v, bool) else _toml_string(str(v))
            lines.append(f"{k} = {shown}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    os.chmod(path, 0o600)
    return path
