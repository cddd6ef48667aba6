"""Profile scenario 1 with py-spy: where the CPU goes, per function and per layer.

Two profiles, both sampled from outside the process by ``py-spy record``:

- **the SDK's own work** (`stub`): `benchmarks._overhead` (bulk block with the HTTP
  exchange stubbed out) — the hot spots of the SDK's Python code, in µs per target
  (a function's share of the samples times the run's CPU per target). Checked against
  `timeit`: py-spy gives `Endpoint.build` the same cost here.
- **end to end** (`variants`): the SDK and raw aiohttp clients against the emulator, split
  by layer (SDK, backoff, aiohttp, asyncio...). Approximate: py-spy keeps fewer samples
  of the SDK process (its async stacks are deeper), and the split leans towards the SDK.

Only samples inside the event loop count, without one-time setup (imports, the TLS
context, login) and without the loop waiting in its selector. Without py-spy
(``pip install py-spy``) this step is skipped.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._runner import ROOT, Server

_LINE = re.compile(r":\d+\)$")
#: Frames of one-time setup (imports, TLS context, login): not part of the per-request cost.
_SETUP = ("importlib", "ssl.py", "_make_ssl_context", "authenticate", "_do_login",
          "run_raw (", "run_httpx (", "run_sdk.<locals>.<listcomp>")
LAYERS = (
    ("simapi_async", "simapi_async/"),
    ("backoff", "backoff/"),
    ("aiohttp", "aiohttp/"),
    ("yarl/multidict", "yarl/"),
    ("yarl/multidict", "multidict/"),
    ("asyncio", "asyncio/"),
    ("benchmark loop", "benchmarks/"),
)


#: The leaf frame of a loop waiting for I/O (no work being done).
_WAITING = ("EpollSelector.select", "select (selectors.py", "poll (selectors.py")


def _layer(frame: str) -> str:
    for name, marker in LAYERS:
        if marker in frame:
            return name
    return "other (builtins, selectors, socket)"


def aggregate(folded: str, must: str = "run_forever") -> dict[str, Any]:
    """Self samples per function and per layer, of the samples whose stack holds `must`."""
    functions: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    sdk_inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if (must not in stack or not count.isdigit()
                or any(marker in stack for marker in _SETUP)
                or stack.startswith(_WAITING, stack.rfind(";") + 1)):
            continue
        n = int(count)
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        total += n
        functions[frames[-1]] += n
        layers[_layer(frames[-1])] += n
        for f in set(frames):
            if "simapi_async/" in f:
                sdk_inclusive[f] += n
    return {"samples": total, "functions": functions, "layers": layers,
            "sdk_inclusive": sdk_inclusive}


def _record(server: Server, variant: str, n: int, c: int, out: Path,
            sdk_path: str | None) -> dict[str, Any]:
    server.command("reset")
    # Every sample is kept (--idle) and the ones waiting in the selector are dropped here:
    # py-spy's own idle detection dropped samples unevenly between the layers.
    cmd = ["py-spy", "record", "--format", "raw", "--rate", "500", "--idle",
           "-o", str(out), "--", sys.executable, "-m", "benchmarks._client",
           "--variant", variant, "--base-url", server.base_url, "--login", server.login,
           "--targets", server.targets, "-n", str(n), "-c", str(c)]
    done = subprocess.run(cmd, cwd=ROOT, env=server.client_env(sdk_path),
                          capture_output=True, text=True, check=False, timeout=3600)
    server.command("stats")
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"py-spy {variant} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _shares(counter: Any, total: int, per_op: float, top: int) -> list[dict[str, Any]]:
    return [{"function": f, "share": round(v / total, 4), "us_per_op": round(v / total * per_op, 2)}
            for f, v in counter.most_common(top)]


def _stub(tmp: str, top: int, sdk_path: str | None) -> dict[str, Any] | None:
    """py-spy over `_overhead`: the SDK's own hot spots, with no network in the way."""
    out = Path(tmp) / "stub.folded"
    env = dict(os.environ, BENCH_SDK_PATH=sdk_path) if sdk_path else None
    done = subprocess.run(
        ["py-spy", "record", "--format", "raw", "--rate", "500", "-o", str(out), "--",
         sys.executable, "-m", "benchmarks._overhead"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines or not out.exists():
        return None
    run = json.loads(lines[-1])
    agg = aggregate(out.read_text(), must="simapi_async/bulk/")
    total = agg["samples"] or 1
    per_op = run["sdk_us_per_op"]
    return {"sdk_us_per_op": per_op, "samples": agg["samples"],
            "top_self": _shares(agg["functions"], total, per_op, top),
            "sdk_inclusive": _shares(agg["sdk_inclusive"], total, per_op, top)}


def profile(n: int = 20_000, c: int = 64, top: int = 15, log: Any = print,
            sdk_path: str | None = None) -> dict[str, Any] | None:
    """py-spy profiles: the SDK's own work (stubbed HTTP), then sdk and raw end to end."""
    if shutil.which("py-spy") is None:
        log("profile: py-spy not found (pip install py-spy); skipped")
        return None
    out: dict[str, Any] = {"scenario": "profile", "n": n, "concurrency": c, "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        log("profile (py-spy, 500 Hz): the SDK's own work, HTTP stubbed out")
        out["stub"] = _stub(tmp, top, sdk_path)
        if out["stub"] is not None:
            log("  " + ", ".join(f"{x['function'].split(' (')[0]} {x['us_per_op']}"
                                 for x in out["stub"]["top_self"][:6]) + " (µs/op)")
        log(f"profile (py-spy, 500 Hz): scenario 1 end to end, N={n}, C={c}, sdk and raw")
        with Server(n) as server:
            for variant in ("sdk", "raw"):
                path = Path(tmp) / f"{variant}.folded"
                run = _record(server, variant, n, c, path, sdk_path)
                agg = aggregate(path.read_text())
                total = agg["samples"] or 1
                per_op = run["cpu_us_per_op"]
                out["variants"][variant] = {
                    "cpu_us_per_op": per_op,
                    "samples": agg["samples"],
                    "layers_us_per_op": {k: round(v / total * per_op, 1)
                                         for k, v in agg["layers"].most_common()},
                    "top_self": _shares(agg["functions"], total, per_op, top),
                    "sdk_inclusive": _shares(agg["sdk_inclusive"], total, per_op, top),
                }
                layers = out["variants"][variant]["layers_us_per_op"]
                log(f"  {variant}: {per_op:.0f} µs CPU/op; by layer (µs/op): "
                    + ", ".join(f"{k} {v}" for k, v in layers.items()))
    return out
