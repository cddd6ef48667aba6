"""The emulator in its own process, steered over stdin/stdout (one JSON line per answer).

    python -m benchmarks._server --sims 20000 --seed 7 --targets-out /tmp/t.csv

Starts `simapi_async.testing.Emulator` in fast mode on a free loopback port, writes the
fleet's ``number,iccid`` lines to `--targets-out` (so clients need neither the fleet nor
any lookup), prints ``{"base_url", "login", "password", "sims", "timers"}`` and then
answers commands read from stdin, one per line:

- ``reset``: zero the emulator's counters and note the process CPU time;
- ``stats``: the counters since the last reset (connections accepted, requests, maximum
  in flight, statuses) and the server's CPU seconds since then;
- ``latency <seconds>``: the latency added to every answer from now on;
- ``quit`` (or end of input): stop serving and exit.

``--timers precise`` (the default) sleeps the emulator's latency on a timer thread
(`benchmarks._timers`) instead of the loop's timers (``--timers asyncio``), which under load
end a sleep up to a millisecond late (epoll's timeout is in whole ms). The first line
says which: ``"timers": "precise"``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from simapi_async.testing import Emulator, Faults, _emulator

from . import _timers


def _write_targets(emu: Emulator, path: str) -> None:
    with open(path, "w", encoding="ascii") as out:
        sims = emu.fleet.sims
        out.writelines(f"{number},{sims[number].iccid}\n" for number in emu.fleet.numbers)


def _stats(emu: Emulator, cpu_since: float) -> dict[str, Any]:
    s = emu.stats
    return {
        "connections": s.connections,
        "total_requests": s.total_requests,
        "max_in_flight": s.max_in_flight,
        "logins": s.logins,
        "status_counts": {str(k): v for k, v in s.status_counts.items()},
        "server_cpu_s": time.process_time() - cpu_since,
    }


async def _serve(args: argparse.Namespace) -> None:
    emu = Emulator(args.sims, args.seed, faults=Faults(latency=args.latency_ms / 1000),
                   fast=True)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def readable() -> None:
        line = sys.stdin.readline()
        lines.put_nowait(line)
        if not line:
            loop.remove_reader(sys.stdin.fileno())

    async with emu:
        if args.targets_out:
            _write_targets(emu, args.targets_out)
        _answer({"base_url": emu.base_url, "login": emu.login, "password": emu.password,
                 "sims": args.sims, "timers": args.timers})
        cpu_since = time.process_time()
        loop.add_reader(sys.stdin.fileno(), readable)
        while True:
            command, *rest = ((await lines.get()).split() or ["quit"])
            if command == "reset":
                emu.stats.reset()
                cpu_since = time.process_time()
                _answer({"ok": True})
            elif command == "stats":
                _answer(_stats(emu, cpu_since))
            elif command == "latency":
                emu.faults.latency = float(rest[0])
                _answer({"ok": True})
            else:
                _answer({"ok": True})
                return


def _answer(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks._server")
    p.add_argument("--sims", type=int, required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--targets-out", default=None)
    p.add_argument("--timers", choices=("precise", "asyncio"), default="precise",
                   help="how the emulator sleeps its latency (default: precise)")
    args = p.parse_args()
    if args.timers == "precise":
        # This process only: hand the GIL over every 0.5 ms instead of 5 ms, so the timer
        # thread, woken at a deadline, gets to run promptly while the loop thread is busy.
        sys.setswitchinterval(0.0005)
        _emulator._sleep = _timers.precise_sleep  # type: ignore[assignment]  # overloads
    try:
        asyncio.run(_serve(args))
    finally:
        _timers.stop()


if __name__ == "__main__":
    main()
