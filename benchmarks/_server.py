"""The emulator in its own process, steered over stdin/stdout (one JSON line per answer).

    python -m benchmarks._server --sims 20000 --seed 7 --targets-out /tmp/t.csv

Starts `simapi_async.testing.Emulator` in fast mode on a free loopback port, writes the
fleet's ``number,iccid`` lines to `--targets-out` (so clients need neither the fleet nor
any lookup), prints ``{"base_url", "login", "password", "sims", "timers"}`` and then
answers commands read from stdin, one per line:

- ``reset``: zero the emulator's counters and note the process CPU time;
- ``stats``: the counters since the last reset (connections accepted, requests, maximum
  in flight, statuses), the server's CPU seconds since then, whether its loop spins, and
  how late the emulator's latency sleeps ended (µs past the latency asked: median, p90);
- ``latency <seconds>``: the latency added to every answer from now on;
- ``quit`` (or end of input): stop serving and exit.

``--timers spin`` (the default with two cores or more) runs the emulator on a loop that
busy-polls while the latency is above 0 (`benchmarks._loop`), so its answers come at the
latency, not up to a millisecond later; ``--timers asyncio`` keeps asyncio's sleeping loop
throughout. The first line says which: ``"timers": "spin"``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from typing import Any

from simapi_async.testing import Emulator, Faults

from . import _loop


def _write_targets(emu: Emulator, path: str) -> None:
    with open(path, "w", encoding="ascii") as out:
        sims = emu.fleet.sims
        out.writelines(f"{number},{sims[number].iccid}\n" for number in emu.fleet.numbers)


_lateness: list[float] = []  # seconds each latency sleep overran, since the last reset


def _measure_sleeps() -> None:
    """Wrap the emulator's latency sleep (`_emulator._sleep`, replaceable for this) to note
    how late each one ends: the timer precision of the server's loop."""
    from simapi_async.testing import _emulator

    real = _emulator._sleep

    async def sleep(delay: float) -> None:
        started = time.perf_counter()
        await real(delay)
        _lateness.append(time.perf_counter() - started - delay)

    _emulator._sleep = sleep  # type: ignore[assignment]


def _late_us() -> dict[str, Any] | None:
    if not _lateness:
        return None
    ordered = sorted(_lateness)
    return {"n": len(ordered), "median": round(ordered[len(ordered) // 2] * 1e6, 1),
            "p90": round(ordered[len(ordered) * 9 // 10] * 1e6, 1)}


def _stats(emu: Emulator, cpu_since: float, spinning: bool) -> dict[str, Any]:
    s = emu.stats
    return {
        "connections": s.connections,
        "total_requests": s.total_requests,
        "max_in_flight": s.max_in_flight,
        "logins": s.logins,
        "status_counts": {str(k): v for k, v in s.status_counts.items()},
        "server_cpu_s": time.process_time() - cpu_since,
        "spinning": spinning,
        "sleep_lateness_us": _late_us(),
    }


async def _serve(args: argparse.Namespace) -> None:
    _measure_sleeps()
    emu = Emulator(args.sims, args.seed, faults=Faults(latency=args.latency_ms / 1000),
                   fast=True)
    loop = asyncio.get_running_loop()
    selector = _loop.selector_of(loop) if args.timers == "spin" else None

    def set_latency(seconds: float) -> None:
        emu.faults.latency = seconds
        if selector is not None:  # exact answers need a loop that never sleeps through them
            selector.spinning = seconds > 0

    set_latency(args.latency_ms / 1000)
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read_commands() -> None:
        """A thread, so stdin may be a pipe, a terminal or a file (which epoll refuses);
        the end of input arrives as ``""``: quit."""
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens any more
            for line in iter(sys.stdin.readline, ""):
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, "")

    async with emu:
        if args.targets_out:
            _write_targets(emu, args.targets_out)
        _answer({"base_url": emu.base_url, "login": emu.login, "password": emu.password,
                 "sims": args.sims, "timers": args.timers})
        cpu_since = time.process_time()
        threading.Thread(target=read_commands, name="commands", daemon=True).start()
        while True:
            command, *rest = ((await lines.get()).split() or ["quit"])
            if command == "reset":
                emu.stats.reset()
                _lateness.clear()
                cpu_since = time.process_time()
                _answer({"ok": True})
            elif command == "stats":
                _answer(_stats(emu, cpu_since, selector is not None and selector.spinning))
            elif command == "latency":
                set_latency(float(rest[0]))
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
    # A spinning server takes a core: on a one-core machine it would starve the client.
    default = "spin" if (os.cpu_count() or 1) >= 2 else "asyncio"
    p.add_argument("--timers", choices=("spin", "asyncio"), default=default,
                   help=f"how the emulator waits out its latency (default here: {default}; "
                        "spin needs two cores)")
    args = p.parse_args()
    factory = _loop.spin_loop if args.timers == "spin" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_serve(args))


if __name__ == "__main__":
    main()
