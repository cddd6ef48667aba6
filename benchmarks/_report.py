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
import statistics
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ORDER = ("throughput", "latency", "memory", "connections", "cdr", "profile", "cdr_stream",
         "quota", "fleet", "ledger")


def commit() -> str:
    """The commit measured: `git rev-parse --short HEAD`, ``-dirty`` when the SDK or the
    benchmarks differ from it (result files aside); "unknown" outside a git checkout."""
    root = HERE.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                              capture_output=True, text=True).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "simapi_async", "benchmarks",
             ":(exclude)benchmarks/results", ":(exclude)benchmarks/RESULTS.md"],
            cwd=root, check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if changed else "")


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
            "load_average_at_start": os.getloadavg(), "versions": versions,
            "commit": commit()}


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
    metas = [r["machine"] for r in results.values() if "machine" in r]
    meta = metas[0] if metas else machine()
    v = meta["versions"]
    out += [f"- machine: {meta['cpu']}, {meta['cores']} cores, {meta['memory_gb']} GB; "
            f"{meta['platform']}; shared with other work",
            f"- Python {meta['python']}; " + ", ".join(f"{k} {val}" for k, val in v.items()),
            "- each section names the commit it measured, its date and the load average at "
            "its start (sections come from separate runs):", ""]
    out += ["| section | commit | date | load at start |", "|---|---|---|---|"]
    for name in ORDER:
        if name in results:
            out.append(f"| {TITLES[name]} | {_measured(results[name])} |")
    out += [""]
    targets: list[str] = []
    for name, res in results.items():
        found = DERIVED_TARGETS[name](res) if name in DERIVED_TARGETS else res.get("targets", {})
        for line in _verdicts(found):
            targets.append(line.replace("| ", f"| {name}: ", 1))
    if targets:
        out += ["## Targets (issue 7; issue 14 for the tuned raw loop and quota; issue 15 for "
                "fleet; issue 16 for cdr_stream)", "", "| target | measured | wanted | holds |",
                "|---|---|---|---|", *targets, ""]
    for name in ORDER:
        if name in results:
            out += SECTIONS[name](results[name])
    return "\n".join(out) + "\n"


def _measured(r: dict[str, Any]) -> str:
    m = r.get("machine")
    if not m:
        return "not recorded | not recorded | not recorded"
    load = ", ".join(f"{x:.1f}" for x in m.get("load_average_at_start", ()))
    return f"`{m.get('commit', 'not recorded')}` | {m.get('date', '?')} | {load}"


def _faults(runs: list[dict[str, Any]]) -> str:
    minor = [r["page_faults"] for r in runs]
    major = sum(r.get("major_page_faults", 0) for r in runs)
    return f"{_f(statistics.median(minor))} ({_f(min(minor))}-{_f(max(minor))}); {major}"


def _malloc(r: dict[str, Any]) -> str:
    mode = r.get("malloc")
    if mode == "pinned":
        env = ", ".join(f"`{k}={val}`" for k, val in r.get("malloc_env", {}).items())
        return f"glibc's allocator pinned the same for every process ({env}; see README)."
    if mode == "default":
        return ("glibc's allocator at its defaults (`BENCH_MALLOC=default`): a round may run "
                "in the low-fault mode or not; compare rounds of like fault counts.")
    return "Allocator settings not recorded (a run before they were)."


def _throughput(r: dict[str, Any]) -> list[str]:
    rows = [f"| {v} | {_f(s['ops_per_s'])} | {_f(s['cpu_us_per_op'], 1)} | "
            f"{_f(s['peak_rss_mb'], 1)} | {_f(s['server_cpu_s'] / r['n'] * 1e6, 1)} | "
            f"{_faults(r['runs'][v]) if 'page_faults' in r['runs'][v][0] else '-'} |"
            for v, s in r["summary"].items()]
    ratios = ", ".join(f"{k} = {x:.3f}" for k, x in r["ratios"].items())
    rounds = []
    for v, runs in r["runs"].items():
        if "page_faults" in runs[0]:
            rounds.append(f"- {v}: " + ", ".join(
                f"{x['ops_per_s']:,.0f} ops/s {x['cpu_us_per_op']:.1f} µs ({x['page_faults']:,})"
                for x in runs))
    return [f"## 1. Throughput (0 ms latency, N={r['n']:,}, C={r['concurrency']}, "
            f"{r['rounds']} rounds)", "",
            "| variant | ops/s | client CPU µs/op | peak RSS MB | emulator CPU µs/op | "
            "minor page faults per round, median (range); major, all rounds |",
            "|---|---|---|---|---|---|", *rows, "", f"Ratios (medians): {ratios}.",
            "`raw` is the idiomatic aiohttp loop, `raw-tuned` the same loop tuned for speed "
            "(pre-encoded URLs, orjson on bytes, prebuilt headers; see README). "
            + _malloc(r), "", "Every round (ops/s, client CPU µs/op, minor page faults):", "",
            *rounds, ""]


def _latency(r: dict[str, Any]) -> list[str]:
    rows = [f"| {v} | {_f(s['ops_per_s'])} | {s['fraction_of_bound']:.1%} | "
            f"{_f(s['cpu_us_per_op'], 1)} | "
            f"{_faults(r['runs'][v]) if 'page_faults' in r['runs'][v][0] else '-'} |"
            for v, s in r["summary"].items()]
    tuned = r.get("sdk_over_raw_tuned_fraction")
    above = r["latency_ms"] / r["ceiling_c1_fraction"] - r["latency_ms"]
    return [f"## 2. Latency hiding ({r['latency_ms']:g} ms, C={r['concurrency']}, bound "
            f"{_f(r['bound_ops_per_s'])} ops/s; N={r['n']:,}, httpx N={r['n_httpx']:,})", "",
            "| variant | ops/s | of C/latency | client CPU µs/op | minor page faults per "
            "round, median (range); major |", "|---|---|---|---|---|",
            *rows, "",
            f"SDK fraction / raw fraction = {r['sdk_over_raw_fraction']:.3f}"
            + (f"; / tuned raw fraction = {tuned:.3f}" if tuned else "")
            + f". Ceiling on this machine, one request at a time (raw, C=1): "
            f"{r['ceiling_c1_fraction']:.1%} of 1/latency, i.e. {above:.2f} ms per request "
            "above the latency (wake-ups, both processes' work). " + _latency_server(r)
            + " " + _malloc(r), ""]


def _latency_server(r: dict[str, Any]) -> str:
    if r.get("server_timers") == "spin":
        text = ("The emulator's loop busy-polls while it has latency, so that its answers "
                "come at the latency, not up to a millisecond later (see README)")
    else:
        text = "The emulator slept its latency on the event loop's timers"
    late = {v: x for v, x in (r.get("sleep_lateness_us") or {}).items() if x is not None}
    if late:
        text += ("; its latency sleeps ended late by (median) "
                 + ", ".join(f"{x:,.0f} µs in the {v} runs" for v, x in late.items()))
    sleeping = dict(r.get("sleeping_server") or {})
    sleepy_late = sleeping.pop("sleep_lateness_us", None) or {}
    if sleeping:
        text += (". On an emulator whose loop sleeps between events (one round): "
                 + ", ".join(f"{v} {f:.1%}" for v, f in sleeping.items()) + " of the bound")
        if any(x is not None for x in sleepy_late.values()):
            text += (", its sleeps late by " + ", ".join(
                f"{x:,.0f} µs ({v})" for v, x in sleepy_late.items() if x is not None))
    c1 = r.get("c1_cpu_us_per_op")
    if c1:
        text += (f". Raw aiohttp one request at a time costs {c1['latency']:.0f} µs of client "
                 f"CPU per request at {r['latency_ms']:g} ms latency, {c1['no_latency']:.0f} "
                 "µs with none (the cost of waking after each idle wait)")
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


_CDR_PATHS = {
    "cdr_internet": "`api.cdr.internet` (`CdrResource` over a stub session: streamed decode, "
                    "models, repeated-page check, per-window sort)",
    "sdk_codec": "one page decoded whole and structured (session codec, `unwrap_list`, "
                 "`structure_list`)",
    "stdlib_json": "the same with the standard library's `json`",
    "structure_only": "structuring alone (decoded dicts into models)",
}


def _cdr(r: dict[str, Any]) -> list[str]:
    rows = []
    for shape in ("canonical", "alt"):
        for path, x in r["synthetic"][shape].items():
            rows.append(f"| {shape} | {_CDR_PATHS.get(path, path)} | "
                        f"{_f(x['records_per_s'])} | {_f(x['cpu_us_per_record'], 2)} |")
    e = r["emulator"]
    return [f"## 5. CDR ingestion ({r['records']:,} records, in-process; days of two pages "
            "of 10,000)", "",
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


def _cdr_stream_targets(r: dict[str, Any]) -> dict[str, Any]:
    streamed = [x for x in r.get("huge", []) if x.get("mode") == "stream" and "rec_s" in x]
    if not streamed:
        return {}
    big = max(streamed, key=lambda x: x["records"])
    name = f"{big['records']:,} records ({big['answer_mb']:,} MB) streamed"
    return {
        f"{name}: peak RSS MB < 200": {"value": big["peak_rss_mb"], "target": "< 200",
                                       "holds": big["peak_rss_mb"] < 200},
        f"{name}: >= 250,000 records/s"
        + (f" (median of {len(big['runs_rec_s'])} runs)" if "runs_rec_s" in big else ""):
            {"value": big["rec_s"], "target": ">= 250000", "holds": big["rec_s"] >= 250_000},
    }


def _cdr_stream(r: dict[str, Any]) -> list[str]:
    out = ["## CDR at any answer size, and CDR sync (issue 16; `python -m benchmarks.cdr_stream`)",
           ""]
    if r.get("notes"):
        out += [r["notes"], ""]
    kept = (r.get("machine") or {}).get("parts_kept_from_the_last_run")
    if kept:
        out += ["Parts not re-run (`--skip`), kept from the previous results file: "
                + ", ".join(f"{part} (commit {c})" for part, c in kept.items()) + ".", ""]
    d = r.get("decoders")
    if d:
        ratio = d["splitter_orjson_rec_s"] / d["ijson_c_rec_s"]
        out += [f"**Decoding alone** ({d['records']:,} records, {d['body_mb']:,} MB, fed in "
                f"256 KiB chunks): ijson's C backend (`{d['ijson_backend']}`, "
                f"`ijson.items(..., \"data.item\")`) {_f(d['ijson_c_rec_s'])} records/s; the "
                f"SDK's array splitter feeding orjson (`ListDecoder`) "
                f"{_f(d['splitter_orjson_rec_s'])} records/s ({ratio:.1f}x ijson)"
                + (f"; fed 16 KiB slices, as `api.cdr.internet` does, "
                   f"{_f(d['splitter_orjson_16k_rec_s'])} records/s"
                   if "splitter_orjson_16k_rec_s" in d else "") + ".", ""]
    huge = r.get("huge", [])
    if huge:
        before = {x.get("rss_before_mb") for x in huge if "rss_before_mb" in x}
        out += ["**One answer through `api.cdr.internet`** (a separate server process streams "
                "it; records into `InternetCdr`; peak RSS of the client process, `VmHWM`"
                + (f"; {', '.join(map(str, sorted(before)))} MB before the request" if before
                   else "") + "):", "",
                "| answer | path | records/s | client CPU µs/record | seconds | peak RSS MB |",
                "|---|---|---|---|---|---|"]
        for x in huge:
            path = ("streamed (default `max_response_bytes`)" if x["mode"] == "stream"
                    else "whole body (`api.request` + `structure_list`, limit raised)")
            answer = f"{x['records']:,} records ({_f(x.get('answer_mb', 0))} MB)"
            if "failed" in x:
                out.append(f"| {answer} | {path} | failed: {x['failed'][:80]} | | | |")
            else:
                out.append(f"| {answer} | {path} | {_f(x['rec_s'])} | "
                           f"{x.get('cpu_us_per_record', '-')} | {x['seconds']} | "
                           f"{_f(x['peak_rss_mb'])} |")
        out += [""]
        for x in huge:
            if x.get("runs_rec_s"):
                out += [f"The {x['records']:,}-record answer: the median of "
                        f"{len(x['runs_rec_s'])} runs, each a fresh client process; every "
                        "run's records/s: " + ", ".join(_f(v) for v in x["runs_rec_s"] if v)
                        + " (client CPU µs a record: " + ", ".join(
                            str(v) for v in x["runs_cpu_us_per_record"] if v) + ")"
                        + ("; compiled models (`_cmodels`)" if x.get("compiled_models")
                           else "; models made in Python (`_cmodels` not built)" if
                           x.get("compiled_models") is False else "") + ".", ""]
            base = x.get("python_models")
            if base and base.get("runs_rec_s"):
                out += [f"Baseline, interleaved with those runs: the same answer with the "
                        f"models made in Python (`SIMAPI_NO_EXTENSIONS=1`, as without a C "
                        f"compiler): median {_f(base['rec_s'])} records/s, "
                        f"{base['cpu_us_per_record']} µs CPU a record; runs: "
                        + ", ".join(_f(v) for v in base["runs_rec_s"] if v) + " ("
                        + ", ".join(str(v) for v in base["runs_cpu_us_per_record"] if v)
                        + f" µs); the compiled models: {x['rec_s'] / base['rec_s']:.2f}x "
                        "the records/s.", ""]
    sync = r.get("sync", [])
    if sync:
        first = next((x for x in sync if "records" in x), None)
        if first:
            out += [f"**`api.cdr.sync`**, {first['days']} days x {first['sims']:,} SIMs "
                    f"({first['records']:,} records, {first['mb']} MB of answers) from the "
                    "emulator in its own process, one request per day:", ""]
        out += ["| destination | records/s | seconds | client peak RSS MB |", "|---|---|---|---|"]
        for x in sync:
            if "failed" in x:
                out.append(f"| {x['dest']} | failed: {x['failed'][:80]} | | |")
            else:
                out.append(f"| {x['dest']} | {_f(x['rec_s'])} | {x['seconds']} | "
                           f"{_f(x['peak_rss_mb'])} |")
        out += [""]
    return out


def _quota_targets(r: dict[str, Any]) -> dict[str, Any]:
    rows = r.get("rows", [])
    if not rows:
        return {}
    worst = min(x["sdk_vs_ideal"] for x in rows)
    held = sum(x["sdk_vs_ideal"] >= 0.97 and x["sdk"]["share_429"] <= 0.01 for x in rows)
    return {f"SDK ÷ ideal >= 0.97 with <= 1% 429s (held in {held} of {len(rows)} rows; "
            "worst row)": {"value": round(worst, 4), "target": ">= 0.97",
                           "holds": held == len(rows)}}


def _quota(r: dict[str, Any]) -> list[str]:
    out = ["## Quota (issue 14; `python -m benchmarks.quota`)", "",
           f"{r['seconds']:g} s runs after a {r['warmup']:g} s warm-up; the emulator "
           "(`--rate-limit Q`, a token bucket) in its own process. The SDK runs "
           "`api.bulk.block` with default settings and is not told Q; the ideal is an aiohttp "
           "loop told Q and every ICCID (same pool size, 100). Target: SDK ÷ ideal ≥ 0.97 "
           "with ≤ 1 % 429s at steady state.", ""]
    if r.get("notes"):
        out += [r["notes"], ""]
    out += ["| Q (req/s) | latency | targets | SDK targets/s ÷ Q | SDK 429s | SDK req/target | "
            "ideal ÷ Q | SDK ÷ ideal |", "|---|---|---|---|---|---|---|---|"]
    for x in r.get("rows", []):
        q, sdk, ideal = x["quota"], x["sdk"], x["ideal"]
        out.append(f"| {q:g} | {x['latency_ms']:g} ms | {x['targets']} | "
                   f"{sdk['targets_per_s'] / q:.3f} | {sdk['share_429']:.2%} | "
                   f"{sdk['requests_per_target']:.3f} | {ideal['targets_per_s'] / q:.3f} | "
                   f"**{x['sdk_vs_ideal']:.3f}** |")
    return [*out, ""]


def _renewal_s(token_ttl: float) -> float:
    """How long a token is used: the SDK renews it 60 s or a tenth of its lifetime before
    it ends, the shorter (`_auth`)."""
    return token_ttl - min(60.0, token_ttl / 10)


def _fleet_logins_allowed(r: dict[str, Any]) -> int:
    """One login per token lifetime among all processes: the first, then one per renewal."""
    return 1 + int(r["seconds"] // _renewal_s(r["token_ttl"]))


def _fleet_targets(r: dict[str, Any]) -> dict[str, Any]:
    """Issue 15, in every shared row: >= 0.95 Q filled, <= 1 % 429s after the warm-up, one
    login per token lifetime."""
    shared = [x for x in r.get("rows", []) if x["shared"]]
    if not shared:
        return {}
    allowed = _fleet_logins_allowed(r)
    n = len(shared)
    filled = min(x["filled"] for x in shared)
    late = max(x["share_429"] for x in shared)
    logins = max(x["logins"] for x in shared)
    return {
        f"shared: filled >= 0.95 Q (worst of {n} rows)": {
            "value": round(filled, 4), "target": ">= 0.95", "holds": filled >= 0.95},
        f"shared: 429s after the warm-up <= 1% (worst of {n} rows)": {
            "value": round(late, 4), "target": "<= 0.01", "holds": late <= 0.01},
        f"shared: logins <= one per token lifetime ({r['token_ttl']:g} s tokens, "
        f"{r['seconds']:g} s; most of {n} rows)": {
            "value": logins, "target": f"<= {allowed}", "holds": logins <= allowed},
    }


def _ks(ks: list[int]) -> str:
    """1, 2 and 4."""
    text = [str(k) for k in ks]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]


def _percent(x: float) -> str:
    """A share in percent, two figures at most: "0", "6.5", "21"."""
    x *= 100
    return "0" if x == 0 else f"{x:.1f}" if round(x, 1) < 10 else f"{x:.0f}"


def _span(values: list[float]) -> str:
    """A share or a range of shares in percent: "6.5", "1.4-21", "0-6.5"."""
    lo, hi = _percent(min(values)), _percent(max(values))
    return lo if lo == hi else f"{lo}-{hi}"


def _fleet(r: dict[str, Any]) -> list[str]:
    rows = r.get("rows", [])
    m = r.get("machine") or {}
    pairs: dict[tuple[float, int], dict[bool, dict[str, Any]]] = {}
    for x in rows:
        pairs.setdefault((x["quota"], x["processes"]), {})[x["shared"]] = x
    filled_over = any(x["filled"] > 1.0 for x in rows)
    out = ["## Fleet (issue 15; `python -m benchmarks.fleet`)", "",
           f"Measured on commit {m.get('commit', 'not recorded')}, {m.get('date', '?')}, "
           f"{r['seconds']:g} s runs, the first {r['warmup']:g} s counted apart (warm-up); "
           f"the emulator (`--rate-limit Q`, token bucket of one second's worth, tokens living "
           f"{r['token_ttl']:g} s) in its own process, a throwaway `redis-server`, K client "
           f"processes started at once, each one `AsyncSession` with {r['concurrency']} tasks "
           "making single calls (`api.sims.get`), not told Q. Shared: `redis_url=` (quota and "
           "login through Redis); alone: the same without it. Filled: `200` answers/s ÷ Q "
           "after the warm-up, from the emulator's counters"
           + (" (completions of requests in flight at the window's start put a few rows a "
              "little above 1.0)" if filled_over else "") + ".", ""]
    if r.get("notes"):
        out += [r["notes"], ""]

    def both(key: str, fmt: str) -> str:
        return " / ".join(format(side[key], fmt) if side else "-"
                          for side in (sides.get(True), sides.get(False)))

    out += [f"| Q (req/s) | K | filled, shared | filled, alone | 429s after warm-up, shared / "
            f"alone | 429s in the warm-up, shared / alone | logins in {r['seconds']:g} s, "
            "shared / alone | failed calls, shared / alone |",
            "|---|---|---|---|---|---|---|---|"]
    for (q, k), sides in pairs.items():
        shared, alone = sides.get(True), sides.get(False)
        out.append(f"| {q:g} | {k} | {format(shared['filled'], '.3f') if shared else '-'} | "
                   f"{format(alone['filled'], '.3f') if alone else '-'} | "
                   f"{both('share_429', '.1%')} | {both('share_429_warmup', '.1%')} | "
                   f"**{shared['logins'] if shared else '-'}** / "
                   f"{alone['logins'] if alone else '-'} | {both('failed', 'd')} |")
    out += [""]
    shared_rows = [x for x in rows if x["shared"]]
    alone_rows = [x for x in rows if not x["shared"]]
    bullets = []
    if shared_rows and alone_rows:
        s_logins = sorted({x["logins"] for x in shared_rows})
        a_logins = sorted({x["logins"] for x in alone_rows if x["processes"] > 1})
        ks = sorted({x["processes"] for x in shared_rows})
        bullets.append(
            f"Logins: one per token lifetime among all K processes when shared "
            f"({', '.join(map(str, s_logins))} in {r['seconds']:g} s with {r['token_ttl']:g} s "
            f"tokens renewed a tenth early, for K = {_ks(ks)}), K per lifetime alone"
            + (f" ({', '.join(map(str, a_logins))})" if a_logins else "") + ".")
        many_alone = [x for x in alone_rows if x["processes"] > 1]
        first = max(shared_rows, key=lambda x: x["share_429_warmup"])
        text = ("The quota is filled either way at steady state: without sharing, each "
                "process's own learner (issue 14) settles at about Q/K (Remaining is the "
                "account's, so each sees the others' consumption as a slower refill).")
        if many_alone:
            kk = sorted({x["processes"] for x in many_alone})
            text += (" The difference is the start: alone, K processes each find the quota by "
                     f"running into it ({_span([x['share_429_warmup'] for x in many_alone])} % "
                     f"429s in the first {r['warmup']:g} s at K="
                     + (f"{kk[0]}" if len(kk) == 1 else f"{kk[0]}-{kk[-1]}")
                     + "); shared, the "
                     "first rate learned holds for all "
                     f"({_span([x['share_429_warmup'] for x in shared_rows])} %")
            if first["share_429_warmup"] > 0:
                text += (f": at Q={first['quota']:g}, K={first['processes']} the first "
                         f"{first['processes'] * r['concurrency']} calls go out before "
                         "anything is known, against a bucket of a second's worth of the "
                         "quota")
            text += ")."
        failed = [x for x in alone_rows if x["failed"]]
        for x in failed:
            kinds: dict[str, int] = {}
            for f in x.get("failures", []):
                for kind, n in f.items():
                    kinds[kind] = kinds.get(kind, 0) + n
            text += (f" The {x['failed']} failed calls alone at Q={x['quota']:g}, "
                     f"K={x['processes']} are " + ", ".join(f"`{kind}`s" for kind in kinds)
                     + (" (retries used up; a run's calls only fail like that while the quota "
                        "is being found)." if set(kinds) == {"RateLimitError"} else "."))
        bullets.append(text)
    targets = _fleet_targets(r)
    if targets:
        allowed = _fleet_logins_allowed(r)
        held = all(t["holds"] for t in targets.values())
        bullets.append("Target of issue 15 (≥ 0.95 Q in all, ≤ 1 % 429s at steady state, one "
                       f"login per token lifetime, i.e. ≤ {allowed} in {r['seconds']:g} s): "
                       + ("met in every shared row." if held else "**not met** in every "
                          "shared row (see Targets)."))
    if r.get("history"):
        bullets.append(r["history"])
    return [*out, *(f"- {b}" for b in bullets), ""]


def _ledger_once(x: dict[str, Any]) -> tuple[bool, str]:
    """Exactly once: one final result per target; no repeated non-idempotent write."""
    n = x["targets"]
    idempotent = x["op"] not in ("send_sms", "add_small_packet")
    applied, repeated = x.get("writes_applied"), x.get("writes_repeated")
    if x.get("mode") == "ledger":
        outcomes = x.get("outcomes", {})
        ok, unknown = outcomes.get("ok", 0), outcomes.get("unknown", 0)
        holds = (x.get("ledger_rows") == n and x.get("ledger_numbers") == n
                 and x.get("ledger_not_final") == 0 and sum(outcomes.values()) == n)
        text = (f"{x.get('ledger_rows', 0):,} rows for {x.get('ledger_numbers', 0):,} numbers, "
                f"{x.get('ledger_not_final', 0):,} not final")
    else:
        ok, unknown = x.get("ok", 0), 0
        holds = ok == n
        text = f"{ok:,} succeeded"
    if applied is None:
        return holds, text + "; writes at the emulator not recorded"
    if idempotent:
        text += f"; {applied:,} writes applied" + (
            f" ({repeated:,} repeated after the takeover: idempotent, harmless)" if repeated
            else ", none repeated")
    else:
        holds = holds and repeated == 0 and ok <= applied <= ok + unknown
        text += (f"; {applied:,} applied, {repeated:,} numbers with a second one"
                 + (f" ({applied - ok:,} of the {unknown:,} unknown had reached the emulator)"
                    if unknown else ""))
    return holds, text


def _ledger(r: dict[str, Any]) -> list[str]:
    parts = r.get("parts", {})
    out = ["## Ledger (issue 15; `python -m benchmarks.ledger --all`)", ""]
    led = next((x for x in parts.values() if x.get("mode") == "ledger"), None)
    if led:
        out += [f"{led['targets']:,} targets over {led['workers']} `simapi bulk worker` "
                "processes on one PostgreSQL ledger (a throwaway cluster; the run loaded by "
                "COPY), the emulator (`--fast`) in its own process; once a quarter of the "
                "targets is final the first worker is SIGKILLed and a fresh one started "
                f"(leases of {led['lease_s']:g} s). Reclaimed: from the kill until every chunk "
                "the killed worker held has another owner or is done. The baseline: the same "
                f"targets as {led['workers']} `simapi bulk OP FILE --shard i/N --journal …` "
                "processes (file journals, no kill). Exactly once: every target one final "
                "result in the ledger, and from the emulator's counters how often each write "
                "was applied (`send_sms`: no number may get two SMS).", ""]
    kept = (r.get("machine") or {}).get("parts_kept_from_the_last_run")
    if kept:
        out += ["Parts not re-run, kept from the previous results file: "
                + ", ".join(f"{part} (commit {c})" for part, c in kept.items()) + ".", ""]
    if r.get("notes"):
        out += [r["notes"], ""]
    out += ["| part | targets | processes | seconds | targets/s | reclaimed after the SIGKILL "
            "| outcomes | exactly once | commit, date |", "|---|---|---|---|---|---|---|---|---|"]
    for name, x in parts.items():
        holds, text = _ledger_once(x)
        outcomes = x.get("outcomes") or {"ok": x.get("ok", 0)}
        reclaim = (f"{x['reclaim_after_kill_s']:g} s ({x['killed_held_chunks']} chunk"
                   f"{'s' if x['killed_held_chunks'] != 1 else ''})"
                   if "reclaim_after_kill_s" in x else "no kill")
        procs = (f"{x['workers']} + 1 fresh" if "reclaim_after_kill_s" in x
                 else str(x["workers"]))
        out.append(f"| {name} | {x['targets']:,} | {procs} | {x['run_wall_s']:g} | "
                   f"{_f(x['throughput_per_s'])} | {reclaim} | "
                   + ", ".join(f"{k} {v:,}" for k, v in outcomes.items())
                   + f" | {'**yes**' if holds else '**no**'}: {text} | "
                   f"`{x.get('commit', 'not recorded')}`, {x.get('date', '?')} |")
    out += [""]
    block, base = parts.get("ledger block"), parts.get("shards block")
    if block and base:
        out += [f"Ledger ÷ shards (`block`, {block['targets']:,} targets): "
                f"{block['throughput_per_s'] / base['throughput_per_s']:.2f} of the shards' "
                "targets/s, with a worker killed and its chunk taken over.", ""]
    sms = parts.get("ledger send_sms")
    if sms:
        unknown = sms.get("outcomes", {}).get("unknown", 0)
        out += [f"`send_sms`: {unknown:,} of {sms['targets']:,} targets `unknown` (started by "
                "the killed worker: never sent again; `retry_unknown` hands them out once "
                "more).", ""]
    return out


SECTIONS = {"throughput": _throughput, "latency": _latency, "memory": _memory,
            "connections": _connections, "cdr": _cdr, "profile": _profile,
            "cdr_stream": _cdr_stream, "quota": _quota, "fleet": _fleet, "ledger": _ledger}
def _cdr_targets(r: dict[str, Any]) -> dict[str, Any]:
    """Issue 7's 150,000 records/s, on `api.cdr.internet` itself when the run measured it
    (older runs: one page decoded whole and structured)."""
    canonical = r["synthetic"]["canonical"]
    path = "cdr_internet" if "cdr_internet" in canonical else "sdk_codec"
    value = canonical[path]["records_per_s"]
    return {f">= 150,000 records/s ({path})": {"value": round(value), "target": ">= 150000",
                                                "holds": value >= 150_000}}


DERIVED_TARGETS = {"cdr_stream": _cdr_stream_targets, "quota": _quota_targets,
                   "cdr": _cdr_targets, "fleet": _fleet_targets}
TITLES = {"throughput": "1. Throughput", "latency": "2. Latency hiding",
          "memory": "3. Memory scaling", "connections": "4. TCP connections",
          "cdr": "5. CDR ingestion", "profile": "Profile", "cdr_stream": "CDR at any size, sync",
          "quota": "Quota", "fleet": "Fleet", "ledger": "Ledger"}
