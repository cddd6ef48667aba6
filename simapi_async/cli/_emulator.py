"""`simapi emulator`: serve the API emulator on loopback; `simapi emulator stats URL`.

The same emulator as ``python -m simapi_async.testing``, as a click command like the
others: every option has help and shows its default. `--log` prints a line per request
(method, path — never the query, where login's password travels —, status, time), like
`stripe listen`; `simapi emulator stats URL` prints what a running one has counted (its
``GET /_emulator/stats``, the `emu.stats` a test reads).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import click

from ._common import ConfigError, dump_json

__all__ = ["emulator"]


@click.group("emulator", invoke_without_command=True,
             context_settings={"show_default": True})
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, help="0 picks a free port.")
@click.option("--sims", type=click.IntRange(0), default=1000,
              help="Numbered SIM cards in the fleet.")
@click.option("--seed", type=int, default=1, help="Seed of the fleet and of the faults.")
@click.option("--login", default="demo", help="The login it accepts.")
@click.option("--password", default="demo-password", help="The password it accepts.")
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0,
              help="Added to every answer.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Probability of a 5xx answer (split evenly: 500, 503, 502 HTML).")
@click.option("--rate-429", type=click.FloatRange(0, 1), default=0.0,
              help="Probability of a 429 answer (Retry-After: 1), whatever the rate.")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Probability of closing the connection without an answer.")
@click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="PER_SECOND", help="Requests per second, else 429  [default: none]")
@click.option("--token-ttl", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Token lifetime  [default: never expires]")
@click.option("--cdr-page-size", type=click.IntRange(1), default=None, metavar="N",
              help="Answer cdr/internet in pages of N records  [default: one answer]")
@click.option("--fast", is_flag=True, help="No access log, no --log (for benchmarks).")
@click.option("--log", "log_requests", is_flag=True,
              help="Print a line per request on stderr: method, path, status, time.")
@click.pass_context
def emulator(ctx: click.Context, /, log_requests: bool, **options: Any) -> None:
    """Serve the API emulator on loopback until Ctrl-C.

    \b
    Example:
      simapi emulator --port 8080 --sims 10000 --latency-ms 20 --error-rate 0.01 --log
      simapi emulator stats http://127.0.0.1:8080
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..testing._cli import _serve, emulator_from_args
    from ..testing._cli import log_requests as show_request_log

    try:
        emu = emulator_from_args(argparse.Namespace(**options))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if log_requests:
        if options["fast"]:
            raise ConfigError("--log needs the access log that --fast turns off")
        show_request_log()
    try:
        asyncio.run(_serve(emu))
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
        ctx.exit(0)


@emulator.command("stats")
@click.argument("url", metavar="URL")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document as it is.")
def stats(url: str, as_json: bool) -> None:
    """Print what a running emulator at URL has counted (its GET /_emulator/stats).

    \b
    Example:
      simapi emulator stats http://127.0.0.1:8080 --json | jq .status_counts
    """
    from ..testing._emulator import STATS_PATH

    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"URL {url!r}: give the emulator's base URL, http://HOST:PORT")
    target = url.rstrip("/") + "/" + STATS_PATH
    try:
        with urllib.request.urlopen(target, timeout=10) as answer:  # noqa: S310 - http(s) only
            data = json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {target}: {exc}") from None
    if as_json:
        click.echo(dump_json(data))
        return
    for key, value in data.items():
        shown = (", ".join(f"{k} {v}" for k, v in value.items()) or "-"
                 if isinstance(value, dict) else value)
        click.echo(f"{key.replace('_', ' ')}: {shown}")
