"""The emulator's command line, shared by ``python -m simapi_async.testing`` and
``simapi emulator``::

    python -m simapi_async.testing --port 8080 --sims 10000 --latency-ms 20 \\
        --error-rate 0.01 --rate-429 0.01 --cdr-page-size 1000 --seed 1 [--fast | --log]

`--log` prints a line per request on stderr (method, path — never the query, where
login's password travels —, status, time). While it runs, ``GET /_emulator/stats``
answers what it has counted (the `emu.stats` a test reads; ``simapi emulator stats URL``
prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from ._emulator import STATS_PATH, Emulator
from ._faults import Faults
from ._shapes import Shapes

__all__ = ["build_parser", "log_requests", "run_cli"]


def build_parser(prog: str = "python -m simapi_async.testing") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Serve the SIM API emulator.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--sims", type=int, default=1000, help="numbered SIM cards in the fleet")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--login", default="demo")
    p.add_argument("--password", default="demo-password")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    p.add_argument("--error-rate", type=float, default=0.0,
                   help="probability of a 5xx answer (split evenly: 500, 503, 502 HTML)")
    p.add_argument("--rate-429", type=float, default=0.0,
                   help="probability of a 429 answer (Retry-After: 1), whatever the rate")
    p.add_argument("--drop-rate", type=float, default=0.0,
                   help="probability of closing the connection without an answer")
    p.add_argument("--rate-limit", type=float, default=None, help="requests/s, else 429")
    p.add_argument("--token-ttl", type=float, default=None, help="token lifetime, seconds")
    p.add_argument("--cdr-page-size", type=int, default=None,
                   help="answer cdr/internet in pages of this many records (read on with page=)")
    p.add_argument("--fast", action="store_true", help="no access log (benchmarks)")
    p.add_argument("--log", action="store_true",
                   help="print a line per request on stderr: method, path, status, time")
    return p


def log_requests() -> None:
    """Send the emulator's request log (``simapi_async.access``) to stderr, a line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    access = logging.getLogger("simapi_async.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False


def emulator_from_args(args: argparse.Namespace) -> Emulator:
    share = args.error_rate / 3
    faults = Faults(latency=args.latency_ms / 1000, error_rate_500=share,
                    error_rate_503=share, error_rate_502_html=share,
                    error_rate_429=args.rate_429, drop_rate=args.drop_rate,
                    rate_limit=args.rate_limit)
    return Emulator(args.sims, args.seed, login=args.login, password=args.password,
                    token_ttl=args.token_ttl, faults=faults, fast=args.fast,
                    shapes=Shapes(cdr_page_size=args.cdr_page_size),
                    host=args.host, port=args.port)


async def _serve(emu: Emulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with emu:
        print(f"base URL: {emu.base_url}", flush=True)
        print(f"login:    {emu.login}", flush=True)
        print(f"password: {emu.password}", flush=True)
        print(f"stats:    {emu.base_url}/{STATS_PATH}", flush=True)
        print("Ctrl-C to stop", flush=True)
        await stop.wait()


def run_cli(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse `argv` (default: the process's), serve until Ctrl-C / SIGTERM; exit code."""
    parser = build_parser(prog) if prog else build_parser()
    args = parser.parse_args(argv)
    if args.log and args.fast:
        parser.error("--log needs the access log that --fast turns off")
    try:
        emu = emulator_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.log:
        log_requests()
    try:
        asyncio.run(_serve(emu))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
