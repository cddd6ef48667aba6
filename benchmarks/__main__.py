"""``python -m benchmarks COMMAND [--quick]``: run scenarios, write results, render RESULTS.md.

Commands: ``all`` (every scenario and the profile),
``throughput`` (scenario 1, with 4), ``latency`` (2, with 4), ``memory`` (3), ``cdr`` (5),
``profile``, ``report`` (re-render RESULTS.md from results/*.json), and
``bulk``: a quick side-by-side of the SDK's bulk engine and raw aiohttp in one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import attrs

from . import _report, _scenarios
from ._runner import Server, alternate, malloc_mode, summarize

COMMANDS = ("all", "throughput", "latency", "memory", "cdr", "profile", "report", "bulk")


def log(text: str) -> None:
    print(text, flush=True)


def _run(command: str, sizes: _scenarios.Sizes, meta: dict[str, Any]) -> None:
    quick = meta["mode"] == "quick"

    def keep(name: str, data: dict[str, Any] | None) -> None:
        if data is not None:
            log(f"  -> {_report.save(name, data, meta).relative_to(_report.HERE.parent)}")

    if command in ("all", "throughput", "latency"):
        fleet = max(sizes.throughput_n, sizes.latency_n)
        with Server(fleet) as server:
            done = []
            if command in ("all", "throughput"):
                done.append(_scenarios.throughput(server, sizes, log))
                keep("throughput", done[-1])
            if command in ("all", "latency"):
                done.append(_scenarios.latency(server, sizes, log))
                keep("latency", done[-1])
        keep("connections", _scenarios.connections(
            [r for r in (_report.load_all(quick).get(k) for k in ("throughput", "latency"))
             if r]))
    if command in ("all", "memory"):
        keep("memory", _scenarios.memory(sizes, log))
    if command in ("all", "cdr"):
        keep("cdr", _scenarios.cdr(sizes, log))
    if command in ("all", "profile"):
        from ._profile import profile

        keep("profile", profile(n=20_000, log=log))


def bulk(n: int, concurrency: int, rounds: int) -> None:
    """SDK bulk engine vs raw aiohttp, same server, alternated; a table on stdout."""
    log(f"bulk block: N={n}, C={concurrency}, {rounds} rounds, SDK, raw aiohttp and the tuned "
        "raw loop alternated")
    with Server(n) as server:
        runs = alternate(server, ("sdk", "raw", "raw-tuned"), rounds, n, concurrency, log=log)
    s = {v: summarize(r) for v, r in runs.items()}
    log("\n| variant | ops/s | client CPU µs/op | peak RSS MB | connections | minor faults |")
    log("|---|---|---|---|---|---|")
    for v, x in s.items():
        log(f"| {v} | {x['ops_per_s']:,.0f} | {x['cpu_us_per_op']:.1f} | "
            f"{x['peak_rss_mb']:.1f} | {x['max_connections_seen']} | "
            f"{', '.join(map(str, x['page_faults']))} |")
    log(f"\nmalloc: {malloc_mode()}")
    for anchor in ("raw", "raw-tuned"):
        log(f"SDK/{anchor}: throughput {s['sdk']['ops_per_s'] / s[anchor]['ops_per_s']:.3f}x, "
            f"CPU per op {s['sdk']['cpu_us_per_op'] / s[anchor]['cpu_us_per_op']:.3f}x "
            "(medians)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes (~3 minutes for `all`): see README.md")
    p.add_argument("-n", type=int, default=None,
                   help="targets (bulk: 20,000; throughput/latency: their size's; httpx "
                        "gets a tenth in latency)")
    p.add_argument("-c", "--concurrency", type=int, default=64, help="bulk: in flight")
    p.add_argument("--rounds", type=int, default=None,
                   help="alternated rounds (bulk: 3; throughput/latency: their size's)")
    args = p.parse_args(argv)
    if args.command == "bulk":
        bulk(args.n or 20_000, args.concurrency, args.rounds or 3)
        return 0
    mode = "quick" if args.quick else "full"
    started = time.monotonic()
    if args.command != "report":
        sizes = _scenarios.Sizes.quick() if args.quick else _scenarios.Sizes.full()
        if args.rounds:
            sizes = attrs.evolve(sizes, throughput_reps=args.rounds, latency_reps=args.rounds)
        if args.n:
            sizes = attrs.evolve(sizes, throughput_n=args.n, latency_n=args.n,
                                 latency_n_httpx=max(1, args.n // 10))
        _run(args.command, sizes, {**_report.machine(), "mode": mode})
    results = _report.load_all(args.quick)
    path = _report.markdown_path(args.quick)
    path.write_text(_report.render(results, mode))
    log(f"wrote {path.relative_to(_report.HERE.parent)} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
