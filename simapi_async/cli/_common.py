"""What every `simapi` command shares: exit codes, errors, the connection settings, output.

Settings come from options (`--base-url`, `--login`, `--password-stdin`), the
environment (`SIMAPI_BASE_URL`, `SIMAPI_LOGIN`, `SIMAPI_PASSWORD`, `SIMAPI_TOKEN`), or a
profile of the config file (`--profile` / `SIMAPI_PROFILE`, else ``default`` when the
file has it), in that order of precedence. A
password is never an option value (it would show in the process list) and no setting's
value is ever printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Collection, Coroutine, Sequence
from typing import Any, Final, NoReturn, TypeVar

import click
import yarl
from rich.console import Console

from .._exceptions import APIConnectionError, APIStatusError, InvalidInputError, SimApiError
from .._profiles import has_password, load_profile
from .._session import AsyncSession

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "CommandFailed",
    "ConfigError",
    "connect",
    "connection_options",
    "dump_json",
    "make_console",
    "explain",
    "fields_option",
    "pick_fields",
    "run_async",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1  # the API refused something, or some targets failed
EXIT_USAGE: Final = 2  # bad options, input or configuration (click's own code for usage)
EXIT_INTERRUPTED: Final = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED: Final = 143  # SIGTERM (128 + SIGTERM)

F = TypeVar("F", bound=Callable[..., Any])


class ConfigError(click.ClickException):
    """A missing or unusable setting, option or input file: exit status 2."""

    exit_code = EXIT_USAGE


class CommandFailed(click.ClickException):
    """The API (or the network) refused the command: exit status 1."""

    exit_code = EXIT_FAILED


# -- connection settings --------------------------------------------------------------------

_SETTINGS_KEY: Final = "simapi_connection"
_BASE_URL_KEY: Final = "simapi_base_url"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_SETTINGS_KEY, {})[param.name] = value
    return value


def connection_options(f: F) -> F:
    """The options that say where and as whom to connect (kept out of the command's args)."""
    options = [
        click.option("--profile", metavar="NAME", expose_value=False, callback=_store,
                     help="A profile of the config file (`simapi configure`) "
                          "[env SIMAPI_PROFILE; default: 'default' when it exists]."),
        click.option("--base-url", metavar="URL", expose_value=False, callback=_store,
                     help="The API's address [env SIMAPI_BASE_URL]."),
        click.option("--login", metavar="LOGIN", expose_value=False, callback=_store,
                     help="Login [env SIMAPI_LOGIN]; the password comes from SIMAPI_PASSWORD "
                          "or --password-stdin (or use SIMAPI_TOKEN)."),
        click.option("--password-stdin", is_flag=True, expose_value=False, callback=_store,
                     help="Read the password from the first line of stdin "
                          "(prompted for, hidden, on a terminal)."),
        click.option("--allow-insecure-http", is_flag=True, expose_value=False, callback=_store,
                     help="Allow plain http:// to a host other than loopback."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0,
                     show_default=True, expose_value=False, callback=_store,
                     help="Seconds per request."),
        click.option("--max-retries", type=click.IntRange(0, 100), default=3,
                     show_default=True, expose_value=False, callback=_store,
                     help="Retries after a failed attempt (429, 5xx, network)."),
        click.option("--redis", metavar="URL", expose_value=False, callback=_store,
                     help="Share the quota and the login with every process of this "
                          "account through Redis, e.g. rediss://host:6379/0 [env "
                          "SIMAPI_REDIS_URL (better for a URL with a password: a command "
                          "line is visible to every user); a profile's redis_url; extra "
                          "'fleet']."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def password_from_stdin() -> str:
    """The password: typed (hidden) on a terminal, else the first line of stdin."""
    stream = sys.stdin  # not click.get_text_stream: deprecated since Click 8.5
    if stream.isatty():
        value: str = click.prompt("Password", hide_input=True, err=True)
        return value
    line = stream.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise ConfigError("--password-stdin: stdin is empty (give the password on its first line)")
    return password


def warn_password_on_command_line(option: str) -> None:
    """The URL of `option` has a password, which every user of the machine can read in
    the process list while the command runs: say so, once, and what to use instead."""
    click.echo(f"warning: the password in {option}'s URL is visible to every user of this "
               "machine (ps) while the command runs; set SIMAPI_REDIS_URL, or a profile's "
               "redis_url (simapi configure), instead", err=True)


def connect(ctx: click.Context, **session_kwargs: Any) -> AsyncSession:
    """A session from the options and the environment; `ConfigError` says what is missing.

    Nothing is sent yet (login is lazy); `session_kwargs` go to `AsyncSession`.
    """
    given: dict[str, Any] = ctx.meta.get(_SETTINGS_KEY, {})
    env = os.environ
    try:
        profile = load_profile(given.get("profile") or env.get("SIMAPI_PROFILE") or None)
    except InvalidInputError as exc:
        raise ConfigError(str(exc)) from None
    base_url = (given.get("base_url") or env.get("SIMAPI_BASE_URL")
                or (profile.base_url if profile is not None else None))
    if not base_url:
        raise ConfigError("no API address: set SIMAPI_BASE_URL, pass --base-url URL, or "
                          "use a profile (simapi configure)")
    login = (given.get("login") or env.get("SIMAPI_LOGIN")
             or (profile.login if profile is not None else None) or None)
    password = password_from_stdin() if given.get("password_stdin") else (
        env.get("SIMAPI_PASSWORD") or None
    )
    token = env.get("SIMAPI_TOKEN") or None
    if (profile is not None and not password and not (token and not given.get("login"))
            and given.get("login") in (None, profile.login)):
        try:
            found = profile.credentials()  # runs its password_command / token_command
        except InvalidInputError as exc:
            raise ConfigError(str(exc)) from None
        if "password" in found:
            login, password = found["login"], found["password"]
        elif "token" in found and not given.get("login"):
            token, login = found["token"], None
    credentials: dict[str, Any] = {}
    if login and password:
        credentials = {"login": login, "password": password}
    elif token and not given.get("login") and not given.get("password_stdin"):
        credentials = {"token": token}
    elif login:
        raise ConfigError(
            "a login but no password: set SIMAPI_PASSWORD or pass --password-stdin"
        )
    elif password:
        raise ConfigError("a password but no login: set SIMAPI_LOGIN or pass --login")
    else:
        raise ConfigError(
            "no credentials: set SIMAPI_LOGIN and SIMAPI_PASSWORD (or pass --login with "
            "--password-stdin), or set SIMAPI_TOKEN"
        )
    ctx.meta[_BASE_URL_KEY] = base_url
    redis_url = (given.get("redis") or env.get("SIMAPI_REDIS_URL")
                 or (profile.redis_url if profile is not None else None) or None)
    if given.get("redis") and has_password(given["redis"]):
        warn_password_on_command_line("--redis")
    if redis_url is not None:
        session_kwargs.setdefault("redis_url", redis_url)
    try:
        return AsyncSession(
            base_url,
            timeout=given.get("timeout", 30.0),
            max_retries=given.get("max_retries", 3),
            allow_insecure_http=bool(given.get("allow_insecure_http")),
            **credentials,
            **session_kwargs,
        )
    except ImportError as exc:  # --redis without the `fleet` extra
        raise ConfigError(f"--redis: {exc}") from None
    except InvalidInputError as exc:
        hint = " (or pass --allow-insecure-http)" if "allow_insecure_http" in str(exc) else ""
        raise ConfigError(f"{exc}{hint}") from None


# -- running ----------------------------------------------------------------------------------


def run_async(main: Callable[[], Coroutine[Any, Any, int]]) -> NoReturn:
    """Run a command's coroutine; SDK errors become messages and exit statuses.

    Bad input (`InvalidInputError`) exits 2, any other `SimApiError` 1, Ctrl-C 130.
    SIGTERM cancels the command like Ctrl-C does, so its clean-up runs (a `cdr export`
    removes its partial file), and exits 143. (`bulk` handles both signals itself.)
    """
    try:
        code = asyncio.run(_terminable(main))
    except InvalidInputError as exc:
        raise ConfigError(explain(exc)) from None
    except SimApiError as exc:
        raise CommandFailed(explain(exc)) from None
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = EXIT_INTERRUPTED
    except asyncio.CancelledError:
        click.echo("terminated", err=True)
        code = EXIT_TERMINATED
    sys.exit(code)


_INDEX: Final = re.compile(r"\[\d*\]$")


def _option_name(field: str) -> str | None:
    """The current command's option (or argument) for an SDK parameter name: ``date_from``
    → ``--from``, ``numbers[0]`` → ``--number``, ``number`` → ``NUMBER``."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    base = _INDEX.sub("", field)
    for param in ctx.command.params:
        names = {param.name, *(o.lstrip("-").replace("-", "_") for o in param.opts)}
        if base in names:
            if isinstance(param, click.Argument):
                return param.human_readable_name
            return max(param.opts, key=len)
    return None


def explain(exc: SimApiError) -> str:
    """A message for the terminal: option names instead of Python names, and what to do
    about an unreachable server or a base URL that repeats the API's /api/v2 prefix."""
    if isinstance(exc, InvalidInputError):
        option = _option_name(exc.field)
        text = str(exc)
        if option is not None and text.startswith(f"invalid {exc.field}"):
            return f"invalid {option}" + text[len(f"invalid {exc.field}"):]
        return text
    ctx = click.get_current_context(silent=True)
    base_url = ctx.meta.get(_BASE_URL_KEY) if ctx is not None else None
    base = yarl.URL(base_url) if base_url else None
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__
    if base is not None and any(isinstance(e, APIConnectionError) for e in chain):
        where = base.host or str(base)
        port = f":{base.port}" if base.port and not base.is_default_port() else ""
        cause = next(e for e in chain if isinstance(e, APIConnectionError))
        kind = "timed out" if "timeout" in type(cause).__name__.lower() else "could not connect"
        return (f"cannot reach {where}{port} ({kind}): is the server up, and is "
                "SIMAPI_BASE_URL / --base-url right?")
    if (base is not None and any(isinstance(e, APIStatusError) and e.status == 404
                                 for e in chain)
            and base.path.rstrip("/").endswith("/api/v2")):
        return (f"{type(exc).__name__}: {exc}\nthe base URL {base_url} ends in /api/v2: drop "
                "the /api/v2 suffix (the SDK adds it to every path)")
    return f"{type(exc).__name__}: {exc}"


async def _terminable(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """`main()`, cancelled by SIGTERM (unless started with it ignored, as under nohup)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    installed = False
    if task is not None and signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
        try:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
            installed = True
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or a platform without them (Windows)
    try:
        return await main()
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)


# -- output -------------------------------------------------------------------------------------


def make_console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr): colours and live bars on a terminal only.

    Off a terminal the output is plain text, 120 columns wide unless `COLUMNS` says.
    """
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    width = None if terminal or os.environ.get("COLUMNS") else 120
    return Console(file=stream, stderr=stderr, width=width, highlight=False,
                   force_terminal=None if terminal else False, soft_wrap=False)


def dump_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON text for `--json` output (UTF-8 kept as is)."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def fields_option(what: str = "--json", known: Collection[str] | None = None,
                  example: str = "number,status") -> Callable[[F], F]:
    """``--fields A,B,...``: only these fields in `what` output, in that order (enough for
    the common ``jq`` uses). With `known` (a fixed set of fields) any other name is a
    usage error at once, before anything runs; else a field a record lacks is null."""

    def split(ctx: click.Context, param: click.Parameter,
              value: str | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        fields = tuple(f.strip() for f in value.split(",") if f.strip())
        if not fields:
            raise click.BadParameter("name at least one field, e.g. --fields number,status")
        if known is not None:
            unknown = [f for f in fields if f not in known]
            if unknown:
                raise click.BadParameter(f"no field {', '.join(map(repr, unknown))}; the "
                                         f"fields are {', '.join(known)}")
        return fields

    shown = f" (of {', '.join(known)})" if known and len(known) <= 12 else ""
    return click.option("--fields", metavar="A,B,...", callback=split,
                        help=f"Only these fields in {what} output, e.g. {example}{shown}.")


def pick_fields(data: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """`data` with only `fields`, in that order (a field the record lacks is null)."""
    if fields is None:
        return data
    return {f: data.get(f) for f in fields}
