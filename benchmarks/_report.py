"""Results: JSON files in `benchmarks/results/` and the markdown table `RESULTS.md`.

`--quick` runs keep theirs apart (`results/quick/*.json`, `results/quick/RESULTS.md`), so a
quick check never overwrites the numbers of a full run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ORDER = ("throughput", "latency", "memory", "connections", "cdr", "profile")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    versions: dict[str, str | None] = {}
    for pkg in ("simapi_async", "aiohttp", "httpx", "httpcore", "orjson", "cattrs", "attrs",
                "backoff"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "python": platform.python_version(), "platform": platform.platform(),
            "cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb,
            "load_average_at_start": os.getloadavg(), "versions": versions}


def folder(quick: bool) -> Path:
    """Where result files go: `results/`, or `results/quick/` for `--quick` runs."""
    return RESULTS / "quick" if quick else RESULTS


def markdown_path(quick: bool) -> Path:
    return folder(quick) / "RESULTS.md" if quick else HERE / "RESULTS.md"


def save(name: str, data: dict[str, Any], meta: dict[str, Any]) -> Path:
    where = folder(meta.get("mode") == "quick")
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{name}.json"
    path.write_text(json.dumps({"machine": meta, **data}, indent=1, default=str) + "\n")
    return path


def load_all(quick: bool = False) -> dict[str, dict[str, Any]]:
    found = {}
    for name in ORDER:
        path = folder(quick) / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


def _f(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _verdicts(targets: dict[str, Any]) -> list[str]:
    return [f"| {name} | {t['value']:,} | {t['target']} | {'**yes**' if t['holds'] else '**no**'} |"
            for name, t in targets.items()]


def render(results: dict[str, dict[str, Any]], mode: str) -> str:
    """RESULTS.md from whatever result files exist."""
    out = ["# Benchmark results", "",
           f"Regenerate with `python -m benchmarks all{' --quick' if mode == 'quick' else ''}`"
           f" ({mode} sizes; see README.md). Medians of alternated runs; every client run is "
           "its own process against an emulator process on loopback.", ""]
    meta = next(iter(results.values()))["machine"] if results else machine()
    v = meta["versions"]
    load = ", ".join(f"{x:.1f}" for x in meta["load_average_at_start"])
    out += [f"- date: {meta['date']}", f"- machine: {meta['cpu']}, {meta['cores']} cores, "
            f"{meta['memory_gb']} GB; {meta['platform']}; shared with other work "
            f"(load average at start: {load})",
            f"- Python {meta['python']}; " + ", ".join(f"{k} {val}" for k, val in v.items()), ""]
    targets: list[str] = []
    for name, res in results.items():
        for line in _verdicts(res.get("targets", {})):
            targets.append(line.replace("| ", f"| {name}: ", 1))
    if targets:
        out += ["## Targets of issue 7", "", "| target | measured | wanted | holds |",
                "|---|---|---|---|", *targets, ""]
    for name in ORDER:
        if name in results:
            out += SECTIONS[name](results[name])
    return "\n".join(out) + "\n"


def _throughput(r: dict[str, Any]) -> list[str]:
    rows = [f"| {v} | {_f(s['ops_per_s'])} | {_f(s['cpu_us_per_op'], 1)} | "
            f"{_f(s['peak_rss_mb'], 1)} | {_f(s['server_cpu_s'] / r['n'] * 1e6, 1)} |"
            for v, s in r["summary"].items()]
    ratios = ", ".join(f"{k} = {x:.3f}" for k, x in r["ratios"].items())
    return [f"## 1. Throughput (0 ms latency, N={r['n']:,}, C={r['concurrency']}, "
            f"{r['rounds']} rounds)", "",
            "| variant | ops/s | client CPU µs/op | peak RSS MB | emulator CPU µs/op |",
            "|---|---|---|---|---|", *rows, "", f"Ratios (medians): {ratios}.", ""]


def _latency(r: dict[str, Any]) -> list[str]:
    rows = [f"| {v} | {_f(s['ops_per_s'])} | {s['fraction_of_bound']:.1%} | "
            f"{_f(s['cpu_us_per_op'], 1)} |" for v, s in r["summary"].items()]
    return [f"## 2. Latency hiding ({r['latency_ms']:g} ms, C={r['concurrency']}, bound "
            f"{_f(r['bound_ops_per_s'])} ops/s; N={r['n']:,}, httpx N={r['n_httpx']:,})", "",
            "| variant | ops/s | of C/latency | client CPU µs/op |", "|---|---|---|---|",
            *rows, "",
            f"SDK fraction / raw fraction = {r['sdk_over_raw_fraction']:.3f}. Ceiling on this "
            f"machine, one request at a time (raw, C=1): {r['ceiling_c1_fraction']:.1%} of "
            "1/latency. " + _latency_server(r), ""]


def _latency_server(r: dict[str, Any]) -> str:
    if r.get("server_timers") == "spin":
        text = ("The emulator's loop busy-polls while it has latency, so it answers at 50 ms, "
                "not up to a millisecond later (see README)")
    else:
        text = "The emulator slept its latency on the event loop's timers"
    sleeping = r.get("sleeping_server")
    if sleeping:
        text += (". On an emulator whose loop sleeps between events (one round): "
                 + ", ".join(f"{v} {f:.1%}" for v, f in sleeping.items()) + " of the bound")
    return text + "."


def _memory(r: dict[str, Any]) -> list[str]:
    rows = [f"| {int(n):,} | {_f(x['peak_rss_mb'], 1)} | {_f(x['rss_before_mb'], 1)} | "
            f"{_f(x['ops_per_s'])} |" for n, x in r["runs"].items()]
    return [f"## 3. Memory scaling (SDK, targets from a generator, C={r['concurrency']})", "",
            "| targets | peak RSS MB | RSS before the run MB | ops/s |", "|---|---|---|---|",
            *rows, "", f"Growth of the peak: {r['growth']:+.1%}.", ""]


def _connections(r: dict[str, Any]) -> list[str]:
    rows = [f"| {x['scenario']} | {x['variant']} | {x['concurrency']} | "
            f"{', '.join(map(str, x['connections']))} | {x['max']} |" for x in r["rows"]]
    return ["## 4. TCP connections accepted by the emulator per run", "",
            "| scenario | variant | C | per run | max |", "|---|---|---|---|---|", *rows, ""]


def _cdr(r: dict[str, Any]) -> list[str]:
    rows = []
    for shape in ("canonical", "alt"):
        for path, x in r["synthetic"][shape].items():
            rows.append(f"| {shape} | {path} | {_f(x['records_per_s'])} | "
                        f"{_f(x['cpu_us_per_record'], 2)} |")
    e = r["emulator"]
    return [f"## 5. CDR ingestion ({r['records']:,} records, pages of 10,000)", "",
            "| field spelling | path | records/s | CPU µs/record |", "|---|---|---|---|",
            *rows, "",
            f"Through `api.cdr.internet` from the emulator ({e['days']} days, "
            f"{e['records']:,} records): {_f(e['records_per_s'])} records/s, client CPU "
            f"{e['cpu_us_per_record']:.2f} µs/record (bounded by the emulator making CDR).", ""]


def _profile(r: dict[str, Any]) -> list[str]:
    out = ["## Profile (py-spy; see `_profile.py`)", ""]
    stub = r.get("stub")
    if stub:
        out += [f"The SDK's own work per bulk target, HTTP stubbed out "
                f"({stub['sdk_us_per_op']:.1f} µs CPU/op in all), self time:", "",
                "| function | µs/op |", "|---|---|"]
        out += [f"| `{x['function']}` | {x['us_per_op']} |" for x in stub["top_self"][:12]]
        out += [""]
    out += [f"End to end, scenario 1 (N={r['n']:,}, C={r['concurrency']}), self time by "
            "layer, approximate (py-spy keeps fewer samples of the SDK's deeper stacks):", ""]
    for variant, p in r["variants"].items():
        layers = ", ".join(f"{k} {x}" for k, x in p["layers_us_per_op"].items())
        out += [f"- {variant}: {p['cpu_us_per_op']:.0f} µs CPU/op; µs/op by layer: {layers}"]
    return [*out, ""]


SECTIONS = {"throughput": _throughput, "latency": _latency, "memory": _memory,
            "connections": _connections, "cdr": _cdr, "profile": _profile}
