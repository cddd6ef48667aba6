"""Profile scenario 1 with py-spy: where a client's CPU goes, per function and per layer.

`py-spy record` samples the client process from outside (no instrumentation in the
process, so the numbers are not skewed), for the SDK and for the raw aiohttp baseline on
the same server. Only samples taken inside the event loop count, and not those of
one-time setup (imports, the TLS context, login). A layer's share of the samples times
the run's CPU µs/op gives its cost per request. Without py-spy (``pip install py-spy``)
this step is skipped.
"""

from __future__ import annotations

import collections
import json
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
          "run_raw (", "run_httpx (")
LAYERS = (
    ("simapi_async", "simapi_async/"),
    ("backoff", "backoff/"),
    ("aiohttp", "aiohttp/"),
    ("yarl/multidict", "yarl/"),
    ("yarl/multidict", "multidict/"),
    ("asyncio", "asyncio/"),
    ("benchmark loop", "benchmarks/"),
)


def _layer(frame: str) -> str:
    for name, marker in LAYERS:
        if marker in frame:
            return name
    return "other (builtins, selectors, socket)"


def aggregate(folded: str) -> dict[str, Any]:
    """Self samples per function and per layer, of the samples inside the event loop."""
    functions: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    sdk_inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if ("run_forever" not in stack or not count.isdigit()
                or any(marker in stack for marker in _SETUP)):
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
    cmd = ["py-spy", "record", "--format", "raw", "--rate", "1000", "--nonblocking",
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


def profile(n: int = 20_000, c: int = 64, top: int = 15, log: Any = print,
            sdk_path: str | None = None) -> dict[str, Any] | None:
    """py-spy profiles of the SDK and raw clients on scenario 1; None without py-spy."""
    if shutil.which("py-spy") is None:
        log("profile: py-spy not found (pip install py-spy); skipped")
        return None
    log(f"profile (py-spy, 1000 Hz): scenario 1, N={n}, C={c}, sdk and raw")
    out: dict[str, Any] = {"scenario": "profile", "n": n, "concurrency": c, "variants": {}}
    with Server(n) as server, tempfile.TemporaryDirectory() as tmp:
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
                "top_self": [{"function": f, "share": round(v / total, 4),
                              "us_per_op": round(v / total * per_op, 2)}
                             for f, v in agg["functions"].most_common(top)],
                "sdk_inclusive": [{"function": f, "share": round(v / total, 4),
                                   "us_per_op": round(v / total * per_op, 2)}
                                  for f, v in agg["sdk_inclusive"].most_common(top)],
            }
            layers = out["variants"][variant]["layers_us_per_op"]
            log(f"  {variant}: {per_op:.0f} µs CPU/op; by layer (µs/op): "
                + ", ".join(f"{k} {v}" for k, v in layers.items()))
    return out
