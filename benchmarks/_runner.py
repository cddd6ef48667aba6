"""Processes: the emulator server, one subprocess per client run, alternation, medians."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # where `python -m benchmarks...` works

#: glibc's allocator, pinned the same for every process of a run (clients and emulator):
#: asyncio reads sockets with recv(256 KiB); under glibc's default (dynamic) mmap
#: threshold of 128 KiB such a buffer is mapped and unmapped on every read (~2 page faults
#: a request) until the process happens to free a large block and glibc raises the
#: threshold, so the same variant ran in either mode from one round to the next. Pinned
#: above 256 KiB (and the trim threshold above it), every process runs in the low-fault
#: mode. ``BENCH_MALLOC=default`` runs with glibc's defaults instead.
MALLOC_PINNED: dict[str, str] = {"MALLOC_MMAP_THRESHOLD_": "1048576",
                                 "MALLOC_TRIM_THRESHOLD_": "4194304"}


def malloc_env() -> dict[str, str]:
    """The ``MALLOC_*`` variables the benchmark's processes get (see `MALLOC_PINNED`)."""
    return {} if os.environ.get("BENCH_MALLOC") == "default" else dict(MALLOC_PINNED)


def malloc_mode() -> str:
    return "default" if os.environ.get("BENCH_MALLOC") == "default" else "pinned"


class Server:
    """The emulator in a subprocess (see `benchmarks._server`), with a targets file."""

    def __init__(self, sims: int, *, seed: int = 7, latency_ms: float = 0.0,
                 server_args: Sequence[str] = ()) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="simapi-bench-")
        self.targets = str(Path(self._dir.name) / "targets.csv")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server", "--sims", str(sims),
             "--seed", str(seed), "--latency-ms", str(latency_ms),
             "--targets-out", self.targets, *server_args],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, **malloc_env()},
        )
        info = self._read()
        self.base_url: str = info["base_url"]
        self.login: str = info["login"]
        self._password: str = info["password"]
        self.sims = sims
        self.timers: str | None = info.get("timers")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator process ended (exit {self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def command(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._read()

    def client_env(self, sdk_path: str | None = None) -> dict[str, str]:
        env = {**os.environ, **malloc_env(), "BENCH_PASSWORD": self._password}
        if sdk_path:  # measure a scratch copy of simapi_async instead of the installed one
            env["BENCH_SDK_PATH"] = sdk_path
        return env

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit")
                self.proc.wait(timeout=10)
            except (OSError, RuntimeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self._dir.cleanup()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def run_client(server: Server, variant: str, n: int, concurrency: int, *,
               stream: bool = False, profile: str | None = None,
               sdk_path: str | None = None) -> dict[str, Any]:
    """One client process; its JSON line plus what the server saw during the run."""
    server.command("reset")
    cmd = [sys.executable, "-m", "benchmarks._client", "--variant", variant,
           "--base-url", server.base_url, "--login", server.login,
           "--targets", server.targets, "-n", str(n), "-c", str(concurrency)]
    if stream:
        cmd.append("--stream")
    if profile:
        cmd += ["--profile", profile]
    done = subprocess.run(cmd, cwd=ROOT, env=server.client_env(sdk_path), capture_output=True,
                          text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"client {variant} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["server"] = server.command("stats")
    if result["ok"] != n:
        raise RuntimeError(f"client {variant}: {result['ok']} of {n} succeeded: {result}")
    return result


def alternate(server: Server, variants: Sequence[str], reps: int, n: int, concurrency: int,
              *, log: Any = print) -> dict[str, list[dict[str, Any]]]:
    """`reps` rounds of A B C ...; every run's result per variant."""
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for rep in range(reps):
        for variant in variants:
            r = run_client(server, variant, n, concurrency)
            runs[variant].append(r)
            log(f"  round {rep + 1}/{reps} {variant:9}: {r['ops_per_s']:8.0f} ops/s  "
                f"{r['cpu_us_per_op']:6.1f} µs CPU/op  peak RSS {r['peak_rss_mb']:.0f} MB  "
                f"{r['server']['connections']} conns  {r['page_faults']} minor / "
                f"{r.get('major_page_faults', 0)} major faults")
    return runs


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over a variant's runs (and the worst connection count)."""
    return {
        "runs": len(runs),
        "ops_per_s": median_of(runs, "ops_per_s"),
        "cpu_us_per_op": median_of(runs, "cpu_us_per_op"),
        "peak_rss_mb": median_of(runs, "peak_rss_mb"),
        "elapsed_s": median_of(runs, "elapsed_s"),
        "server_cpu_s": float(statistics.median(r["server"]["server_cpu_s"] for r in runs)),
        "max_connections_seen": max(r["server"]["connections"] for r in runs),
        "max_in_flight_seen": max(r["server"]["max_in_flight"] for r in runs),
        "page_faults": [r["page_faults"] for r in runs],
        "major_page_faults": [r.get("major_page_faults", 0) for r in runs],
    }
