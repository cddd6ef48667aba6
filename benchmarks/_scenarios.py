"""The scenarios of issue 7: each runs its processes and returns a JSON-ready dict.

Sizes come from `Sizes` (full or `--quick`); every client run is its own process against
an emulator process (see `_runner`), variants alternated A B C A B C ... and medians taken.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import attrs

from ._runner import ROOT, Server, alternate, malloc_env, malloc_mode, run_client, summarize

Log = Callable[[str], None]
VARIANTS = ("sdk", "raw", "raw-tuned", "httpx")


@attrs.frozen
class Sizes:
    """How big each scenario is: `full()` is the issue's, `quick()` a ~3 minute check."""

    throughput_n: int
    throughput_reps: int
    latency_n: int
    latency_n_httpx: int
    latency_reps: int
    ceiling_n: int
    memory_small: int
    memory_large: int
    cdr_records: int
    cdr_days: int
    cdr_sims: int

    @classmethod
    def full(cls) -> Sizes:
        return cls(20_000, 7, 20_000, 2_000, 3, 100, 10_000, 1_000_000, 1_000_000, 14, 5_000)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(5_000, 3, 5_000, 500, 3, 40, 10_000, 200_000, 200_000, 7, 2_000)


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def _target(value: float, op: str, limit: float) -> dict[str, Any]:
    holds = value >= limit if op == ">=" else value <= limit
    return {"value": round(value, 4), "target": f"{op} {limit}", "holds": holds}


def throughput(server: Server, sizes: Sizes, log: Log, concurrency: int = 64,
               variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    """Scenario 1: 0 ms latency, N blocks, C in flight: ops/s, CPU µs/op, peak RSS."""
    server.command("latency 0")
    n = sizes.throughput_n
    log(f"scenario 1 (throughput): N={n}, C={concurrency}, {sizes.throughput_reps} rounds")
    runs = alternate(server, variants, sizes.throughput_reps, n, concurrency, log=log)
    summary = {v: summarize(r) for v, r in runs.items()}
    sdk, raw = summary["sdk"], summary["raw"]
    ratios = {
        "sdk_over_raw_ops": _ratio(sdk["ops_per_s"], raw["ops_per_s"]),
        "sdk_over_raw_cpu": _ratio(sdk["cpu_us_per_op"], raw["cpu_us_per_op"]),
    }
    targets = {
        "throughput >= 1.0x raw": _target(ratios["sdk_over_raw_ops"], ">=", 1.0),
        "CPU/op <= 1.1x raw": _target(ratios["sdk_over_raw_cpu"], "<=", 1.1),
    }
    if "raw-tuned" in summary:  # the best raw: "as fast as raw" means as fast as this one
        tuned = summary["raw-tuned"]
        ratios["sdk_over_raw_tuned_ops"] = _ratio(sdk["ops_per_s"], tuned["ops_per_s"])
        ratios["sdk_over_raw_tuned_cpu"] = _ratio(sdk["cpu_us_per_op"], tuned["cpu_us_per_op"])
        targets["throughput >= 1.0x tuned raw"] = _target(ratios["sdk_over_raw_tuned_ops"],
                                                          ">=", 1.0)
        targets["CPU/op <= 1.1x tuned raw"] = _target(ratios["sdk_over_raw_tuned_cpu"],
                                                      "<=", 1.1)
    if "httpx" in summary:
        ratios["sdk_over_httpx_ops"] = _ratio(sdk["ops_per_s"], summary["httpx"]["ops_per_s"])
        targets["throughput >= 2x httpx"] = _target(ratios["sdk_over_httpx_ops"], ">=", 2.0)
    return {"scenario": "throughput", "n": n, "concurrency": concurrency,
            "latency_ms": 0, "rounds": sizes.throughput_reps, "summary": summary,
            "ratios": ratios, "targets": targets, "malloc": malloc_mode(),
            "malloc_env": malloc_env(), "runs": runs}


def latency(server: Server, sizes: Sizes, log: Log, concurrency: int = 100,
            latency_ms: float = 50.0) -> dict[str, Any]:
    """Scenario 2: 50 ms server latency, C in flight: fraction of C / latency achieved."""
    server.command(f"latency {latency_ms / 1000}")
    bound = concurrency / (latency_ms / 1000)
    log(f"scenario 2 (latency hiding): {latency_ms:g} ms, C={concurrency}, bound "
        f"{bound:.0f} ops/s; N={sizes.latency_n} (httpx N={sizes.latency_n_httpx})")
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for rep in range(sizes.latency_reps):
        for variant in VARIANTS:
            n = sizes.latency_n_httpx if variant == "httpx" else sizes.latency_n
            r = run_client(server, variant, n, concurrency)
            r["fraction_of_bound"] = r["ops_per_s"] / bound
            runs[variant].append(r)
            log(f"  round {rep + 1}/{sizes.latency_reps} {variant:9}: {r['ops_per_s']:7.0f} "
                f"ops/s = {r['fraction_of_bound']:.1%} of the bound, "
                f"{r['page_faults']} minor faults")
    # What one request at a time gets on this machine: the ceiling no client can beat.
    ceiling_run = run_client(server, "raw", sizes.ceiling_n, 1)
    ceiling = ceiling_run["ops_per_s"] * latency_ms / 1000
    log(f"  ceiling (raw, C=1): {ceiling:.1%} of 1/latency, "
        f"{ceiling_run['cpu_us_per_op']:.0f} µs CPU/request")
    # The same C=1 loop without latency: what waking up after each idle wait costs in CPU.
    server.command("latency 0")
    awake = run_client(server, "raw", sizes.ceiling_n, 1)
    server.command(f"latency {latency_ms / 1000}")
    log(f"  raw, C=1, no latency: {awake['cpu_us_per_op']:.0f} µs CPU/request")
    lateness = _lateness({v: [r["server"] for r in rs] for v, rs in runs.items()})
    sleeping = _sleeping_server(server.sims, sizes, log, concurrency, latency_ms, bound)
    summary = {v: {**summarize(r), "fraction_of_bound": summarize_fraction(r)}
               for v, r in runs.items()}
    sdk = summary["sdk"]["fraction_of_bound"]
    server.command("latency 0")
    return {
        "scenario": "latency", "latency_ms": latency_ms, "concurrency": concurrency,
        "bound_ops_per_s": bound, "n": sizes.latency_n, "n_httpx": sizes.latency_n_httpx,
        "rounds": sizes.latency_reps, "summary": summary,
        "ceiling_c1_fraction": ceiling,
        "c1_cpu_us_per_op": {"latency": ceiling_run["cpu_us_per_op"],
                             "no_latency": awake["cpu_us_per_op"]},
        "sleep_lateness_us": lateness,
        "server_timers": server.timers,
        "sleeping_server": sleeping,
        "sdk_over_raw_fraction": _ratio(sdk, summary["raw"]["fraction_of_bound"]),
        "sdk_over_raw_tuned_fraction": _ratio(sdk, summary["raw-tuned"]["fraction_of_bound"]),
        "targets": {">= 97% of C/latency": _target(sdk, ">=", 0.97)},
        "malloc": malloc_mode(), "malloc_env": malloc_env(),
        "runs": runs,
    }


def _lateness(stats: dict[str, list[dict[str, Any]]]) -> dict[str, float | None]:
    """Median over runs of the emulator's median sleep lateness (µs), per variant."""
    out: dict[str, float | None] = {}
    for variant, runs in stats.items():
        seen = [s["sleep_lateness_us"]["median"] for s in runs if s.get("sleep_lateness_us")]
        out[variant] = float(statistics.median(seen)) if seen else None
    return out


def _sleeping_server(sims: int, sizes: Sizes, log: Log, concurrency: int, latency_ms: float,
                     bound: float) -> dict[str, Any]:
    """For comparison: one round of sdk and raw on an emulator whose loop sleeps between
    events (asyncio's timers), as the benchmarks' server did before it spun."""
    fractions: dict[str, Any] = {}
    late: dict[str, Any] = {}
    with Server(sims, latency_ms=latency_ms, server_args=("--timers", "asyncio")) as sleepy:
        for variant in ("sdk", "raw"):
            r = run_client(sleepy, variant, sizes.latency_n, concurrency)
            fractions[variant] = r["ops_per_s"] / bound
            late[variant] = (r["server"].get("sleep_lateness_us") or {}).get("median")
            log(f"  emulator on a sleeping loop, {variant:5}: "
                f"{fractions[variant]:.1%} of the bound, sleeps {late[variant]} µs late")
    fractions["sleep_lateness_us"] = late
    return fractions


def summarize_fraction(runs: list[dict[str, Any]]) -> float:
    return float(statistics.median(r["fraction_of_bound"] for r in runs))


def memory(sizes: Sizes, log: Log, concurrency: int = 64) -> dict[str, Any]:
    """Scenario 3: the SDK fed a lazy generator of targets: peak RSS, small vs large N."""
    small, large = sizes.memory_small, sizes.memory_large
    log(f"scenario 3 (memory): {small:,} vs {large:,} targets from a generator "
        f"(building a {large:,}-SIM emulator fleet first)")
    with Server(large) as server:
        runs = {}
        for n in (small, large):
            r = run_client(server, "sdk", n, concurrency, stream=True)
            runs[str(n)] = r
            log(f"  {n:>9,} targets: peak RSS {r['peak_rss_mb']:.1f} MB "
                f"(before the run {r['rss_before_mb']:.1f} MB), {r['ops_per_s']:.0f} ops/s")
    growth = runs[str(large)]["peak_rss_mb"] / runs[str(small)]["peak_rss_mb"] - 1
    return {"scenario": "memory", "small": small, "large": large,
            "concurrency": concurrency, "runs": runs, "growth": growth,
            "targets": {f"{large:,} within 10% of {small:,}": _target(growth, "<=", 0.10)}}


def connections(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Scenario 4: TCP connections the emulator accepted per run, from scenarios 1 and 2."""
    rows = []
    targets = {}
    for res in results:
        c = res["concurrency"]
        for variant, runs in res["runs"].items():
            seen = [r["server"]["connections"] for r in runs]
            rows.append({"scenario": res["scenario"], "variant": variant, "concurrency": c,
                         "connections": seen, "max": max(seen)})
            if variant == "sdk":
                targets[f"sdk <= C in {res['scenario']}"] = _target(max(seen), "<=", c)
    return {"scenario": "connections", "rows": rows, "targets": targets}


def cdr(sizes: Sizes, log: Log) -> dict[str, Any]:
    """Scenario 5: CDR records into models: synthetic pages in-process, and via the emulator."""
    log(f"scenario 5 (CDR ingestion): {sizes.cdr_records:,} records in-process")
    synthetic = _json_line([sys.executable, "-m", "benchmarks._cdr", "synthetic",
                            "--records", str(sizes.cdr_records)])
    for shape in ("canonical", "alt"):
        for path, r in synthetic[shape].items():
            log(f"  {shape:9} {path:14}: {r['records_per_s']:9,.0f} records/s")
    log(f"  through api.cdr.internet: {sizes.cdr_sims:,} SIMs x {sizes.cdr_days} days")
    with Server(sizes.cdr_sims) as server:
        emulated = _json_line(
            [sys.executable, "-m", "benchmarks._cdr", "emulator", "--base-url",
             server.base_url, "--login", server.login, "--days", str(sizes.cdr_days)],
            env=server.client_env())
    log(f"  {emulated['records']:,} records: {emulated['records_per_s']:,.0f} records/s "
        f"(client CPU {emulated['cpu_us_per_record']:.1f} µs/record)")
    canonical = synthetic["canonical"]
    value = canonical.get("cdr_internet", canonical["sdk_codec"])["records_per_s"]
    return {"scenario": "cdr", "records": sizes.cdr_records, "synthetic": synthetic,
            "emulator": emulated,
            "targets": {">= 150,000 records/s": _target(value, ">=", 150_000)}}


def _json_line(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[2]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
