"""`simapi configure [--profile NAME]`: write a profile of the config file.

The file never receives the API's password: it names a `password_command` (``pass show
simapi/prod``), a `token_command`, or says the password is in the OS keyring
(`--keyring`, extra `keyring`), where this command stores it. `--redis URL` (the shared
quota and token, extra `fleet`) is written as given: a password in it is kept in the
file (mode 600; the profile is then refused if the file becomes readable by others).
"""

from __future__ import annotations

import sys

import click

from .._exceptions import InvalidInputError
from .._profiles import (
    DEFAULT_PROFILE,
    config_path,
    has_password,
    keyring_service,
    load_profile,
    write_profile,
)
from ._common import ConfigError, password_from_stdin, warn_password_on_command_line

__all__ = ["configure"]


@click.command("configure")
@click.option("--profile", "name", default=DEFAULT_PROFILE, show_default=True, metavar="NAME",
              help="The profile to write (others in the file are kept).")
@click.option("--base-url", metavar="URL", help="The API's address (prompted for if absent).")
@click.option("--login", metavar="LOGIN", help="The login (prompted for if absent).")
@click.option("--password-command", metavar="COMMAND",
              help="A command printing the password, e.g. 'pass show simapi/prod' (run "
                   "without a shell unless it needs one).")
@click.option("--token-command", metavar="COMMAND",
              help="A command printing a pre-issued token (instead of a login).")
@click.option("--keyring", "use_keyring", is_flag=True,
              help="Store the password (typed, or stdin's first line) in the OS keyring.")
@click.option("--redis", "redis_url", metavar="URL",
              help="Share the quota and token with every process of the account through "
                   "Redis (redis://host:6379/0; extra `fleet`); '' removes it.")
def configure(name: str, base_url: str | None, login: str | None,
              password_command: str | None, token_command: str | None,
              use_keyring: bool, redis_url: str | None) -> None:
    """Write a connection profile to the config file (mode 600).

    \b
    Example:
      simapi configure --profile prod --base-url https://portal.example \\
          --login fleet-bot --password-command 'pass show simapi/prod'
      simapi sims list --profile prod      # or SIMAPI_PROFILE=prod
    """
    if sum(map(bool, (password_command, token_command, use_keyring))) > 1:
        raise click.UsageError("give one of --password-command, --token-command, --keyring")
    path = config_path()
    try:
        current = load_profile(name, path=path, required=False)
    except InvalidInputError as exc:
        raise ConfigError(str(exc)) from None
    if redis_url:
        from ..fleet._redis import check_redis_url

        try:
            redis_url = check_redis_url(redis_url, "--redis")
        except InvalidInputError as exc:
            raise ConfigError(str(exc)) from None
        if has_password(redis_url):
            warn_password_on_command_line("--redis")
    elif redis_url is None and current is not None:
        redis_url = current.redis_url  # kept unless given ('' removes it)
    interactive = sys.stdin.isatty()
    base_url = base_url or (current.base_url if current else None) or (
        click.prompt("Base URL", err=True) if interactive else None)
    if not base_url:
        raise ConfigError("--base-url: the profile needs the API's address")
    if token_command is None:
        login = login or (current.login if current else None) or (
            click.prompt("Login", err=True) if interactive else None)
        if not login:
            raise ConfigError("--login: the profile needs a login (or give --token-command)")
    if use_keyring:
        _store_in_keyring(name, login or "")
    elif not (password_command or token_command) and current is not None:
        password_command, token_command = current.password_command, current.token_command
        use_keyring = current.keyring
    values = {"base_url": base_url, "login": login if token_command is None else None,
              "password_command": password_command, "token_command": token_command,
              "keyring": True if use_keyring else None, "redis_url": redis_url or None}
    written = write_profile(name, values, path=path)
    click.echo(f"profile {name!r} written to {written}", err=True)
    if not (password_command or token_command or use_keyring):
        click.echo("no secret source: set SIMAPI_PASSWORD, or give --password-command or "
                   "--keyring", err=True)


def _store_in_keyring(name: str, login: str) -> None:
    try:
        import keyring
    except ImportError:
        raise ConfigError("--keyring needs the keyring package: "
                          "pip install 'simapi_async[keyring]'") from None
    keyring.set_password(keyring_service(name), login, password_from_stdin())
