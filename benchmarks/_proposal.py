"""Before/after of the proposed hot-path patch, measured on a scratch copy of the SDK.

The patch (`benchmarks/proposed/hot-path.patch`, made against the committed tree) is
applied to a temporary copy of `simapi_async/`; the tree itself is never touched. Scenario
1 then alternates: SDK as in the tree, SDK patched, raw aiohttp; and the stubbed-HTTP
overhead (`_overhead`) is measured for both SDKs. When the patch does not apply (merged
already, or the files moved on), the step says so and measures nothing.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._runner import ROOT, Server, run_client

PATCH = Path(__file__).resolve().parent / "proposed" / "hot-path.patch"


def _patched_copy(tmp: str) -> str | None:
    """A copy of the tree's simapi_async with the patch applied; None if it does not apply."""
    shutil.copytree(ROOT / "simapi_async", Path(tmp) / "simapi_async",
                    ignore=shutil.ignore_patterns("__pycache__"))
    cmd = ["patch", "-p1", "--forward", "--batch", "-s", "-d", tmp, "-i", str(PATCH)]
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, check=False)
    if dry.returncode != 0:
        return None
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    return tmp


def _overhead(sdk_path: str | None) -> dict[str, Any]:
    env = None
    if sdk_path:
        import os

        env = {**os.environ, "BENCH_SDK_PATH": sdk_path}
    done = subprocess.run([sys.executable, "-m", "benchmarks._overhead"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        return {"skipped": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def proposal(n: int, rounds: int, concurrency: int = 64, log: Any = print) -> dict[str, Any]:
    """Scenario 1 with the SDK before and after the patch, and raw aiohttp."""
    base = {"scenario": "proposal", "patch": str(PATCH.relative_to(ROOT)), "n": n,
            "concurrency": concurrency, "rounds": rounds}
    if not PATCH.exists():
        return {**base, "skipped": "no patch file"}
    with tempfile.TemporaryDirectory(prefix="simapi-patched-") as tmp:
        patched = _patched_copy(tmp)
        if patched is None:
            log("proposal: the patch does not apply to the tree (merged already?); skipped")
            return {**base, "skipped": "the patch does not apply to the current tree"}
        log(f"proposal: scenario 1 with the SDK as committed vs patched ({PATCH.name}), "
            f"N={n}, C={concurrency}, {rounds} rounds")
        labels = {"sdk (tree)": ("sdk", None), "sdk (patched)": ("sdk", patched),
                  "raw": ("raw", None)}
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in labels}
        with Server(n) as server:
            for rep in range(rounds):
                for label, (variant, path) in labels.items():
                    r = run_client(server, variant, n, concurrency, sdk_path=path)
                    runs[label].append(r)
                    log(f"  round {rep + 1}/{rounds} {label:13}: {r['ops_per_s']:7.0f} ops/s "
                        f"{r['cpu_us_per_op']:6.1f} µs CPU/op")
        stub = {"tree": _overhead(None), "patched": _overhead(patched)}
    summary = {k: {"ops_per_s": statistics.median(r["ops_per_s"] for r in v),
                   "cpu_us_per_op": statistics.median(r["cpu_us_per_op"] for r in v)}
               for k, v in runs.items()}
    stub_text = ", ".join(
        f"{k} {v['overhead_us_per_op']:.1f} µs/op" if "overhead_us_per_op" in v
        else f"{k} skipped" for k, v in stub.items())
    log(f"  stubbed-HTTP SDK overhead: {stub_text}")
    return {**base, "summary": summary, "stub": stub, "stub_us_per_op": stub_text,
            "runs": runs}
