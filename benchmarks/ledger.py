"""Issue 15: a bulk run in the PostgreSQL ledger over worker processes, one SIGKILLed.

    python -m benchmarks.ledger [--targets 20000] [--workers 4] [--lease 2] [--op block]
    python -m benchmarks.ledger --shards   # the same work as --shard i/N with file journals

The emulator runs in its own process (`python -m simapi_async.testing --fast`), the
PostgreSQL cluster is a throwaway one (as in `tests/fleet`), each worker is `simapi bulk
worker` in its own process. The starter loads the run (COPY) from this process; once a
quarter of the targets is final the first worker is killed with SIGKILL and a fresh one
is started under another host name. Printed (JSON): the load time, the run's wall time
and throughput, the time from the kill to the moment every chunk the killed worker held
has another owner (or is done), and the outcomes in the ledger. `--shards` runs the
same targets as N `simapi bulk OP FILE --shard i/N --journal …` processes instead (no
kill): the baseline a ledger run is compared with.

Exactly once: every target has one row in the ledger and it is final, and the emulator's
counters (``GET /_emulator/stats``) say how often each write was applied: under
`send_sms` no number may have got two SMS (`block` sets a state: a target the killed
worker had sent is sent again, harmless, and counted as a repeated write).

    python -m benchmarks.ledger --all [--targets N]   # ledger block, shards block,
                                                      # ledger send_sms, in a row

Each part's figures are merged into `results/ledger.json` (`_report.save`: the machine,
the commit; a part not re-run keeps its figures and its commit from the last file) and
`RESULTS.md` is re-rendered (section "Ledger").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from typing import Any


async def main(args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg

    from simapi_async.bulk._targets import Target
    from simapi_async.fleet._pg_ledger import PgLedger
    from simapi_async.testing._fleet import build_fleet
    from tests.fleet._servers import PostgresServer, find_postgres

    bindir = find_postgres()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
    pg = PostgresServer(bindir)
    pg.start()
    emu = subprocess.Popen(  # noqa: ASYNC220 - once, before anything runs
        [sys.executable, "-m", "simapi_async.testing", "--port", "0", "--sims",
         str(args.targets), "--fast"], stdout=subprocess.PIPE, text=True)
    try:
        assert emu.stdout is not None
        match = re.search(r"base URL: (\S+)", emu.stdout.readline())
        assert match
        base_url = match.group(1)
        fleet = build_fleet(args.targets, 1)
        targets = [Target(n, iccid=fleet.sims[n].iccid) for n in fleet.numbers[:args.targets]]
        url, run = pg.url(), f"bench-{args.op}"
        params = {"type": "internet"} if args.op == "send_sms" else {}
        t0 = time.monotonic()
        async with await PgLedger.open(url, run=run) as ledger:
            await ledger.start_or_join(args.op, params,
                                       targets if args.op != "send_sms"
                                       else [t.number for t in targets])
        load = time.monotonic() - t0
        env = {**os.environ, "SIMAPI_BASE_URL": base_url, "SIMAPI_LOGIN": "demo",
               "SIMAPI_PASSWORD": "demo-password", "SIMAPI_LEDGER_URL": url,
               "PYTHONPATH": os.pathsep.join(sys.path)}
        if args.shards:
            return {**await shards(args, env, targets), **_applied(base_url, args.op)}

        async def worker(name: str) -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "simapi_async.cli", "bulk", "worker", "--run", run,
                "--worker", name, "--lease", str(args.lease), "--json", env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)

        conn = await asyncpg.connect(url)
        t1 = time.monotonic()
        procs = [await worker(f"host-{i}") for i in range(args.workers)]
        while await conn.fetchval(  # noqa: ASYNC110 - rows of other processes
                "SELECT count(*) FROM simapi_targets WHERE state = 'done'") < args.targets // 4:
            await asyncio.sleep(0.02)
        procs[0].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await procs[0].wait()
        fresh = await worker("fresh-host")
        held = await conn.fetchval(
            "SELECT count(*) FROM simapi_chunks WHERE lease_owner = 'host-0' AND NOT done")
        while await conn.fetchval(  # noqa: ASYNC110 - leases of other processes
                "SELECT count(*) FROM simapi_chunks WHERE lease_owner = 'host-0' AND NOT done"):
            await asyncio.sleep(0.02)
        reclaimed = time.monotonic() - killed
        for proc in [*procs[1:], fresh]:
            await proc.communicate()
        wall = time.monotonic() - t1
        rows = await conn.fetch("SELECT outcome, count(*) AS n FROM simapi_targets "
                                "WHERE run = $1 GROUP BY outcome", run)
        ledger_rows = await conn.fetchrow(
            "SELECT count(*) AS rows, count(DISTINCT number) AS numbers, "
            "count(*) FILTER (WHERE state <> 'done') AS not_final "
            "FROM simapi_targets WHERE run = $1", run)
        await conn.close()
        outcomes = Counter({r["outcome"]: int(r["n"]) for r in rows})
        return {"mode": "ledger", "op": args.op, "targets": args.targets,
                "workers": args.workers, "lease_s": args.lease, "load_s": round(load, 2),
                "run_wall_s": round(wall, 2), "throughput_per_s": round(args.targets / wall),
                "killed_held_chunks": held, "reclaim_after_kill_s": round(reclaimed, 2),
                "outcomes": dict(outcomes),
                "ledger_rows": int(ledger_rows["rows"]),
                "ledger_numbers": int(ledger_rows["numbers"]),
                "ledger_not_final": int(ledger_rows["not_final"]),
                **_applied(base_url, args.op)}
    finally:
        emu.terminate()
        emu.wait(timeout=30)
        pg.close()


async def shards(args: argparse.Namespace, env: dict[str, str], targets: list[Any]
                 ) -> dict[str, Any]:
    """N processes over one CSV, each its own shard and journal (no ledger)."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="simapi-shards-")
    csv_path = os.path.join(folder, "targets.csv")
    with open(csv_path, "w") as f:  # noqa: ASYNC230 - written once, before the run
        f.write("number,iccid\n")
        f.writelines(f"{t.number},{t.iccid}\n" for t in targets)
    extra = ["--type", "internet"] if args.op == "send_sms" else []
    t1 = time.monotonic()
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simapi_async.cli", "bulk", args.op.replace("_", "-"), csv_path,
        *extra, "--shard", f"{i}/{args.workers}", "--journal",
        os.path.join(folder, f"j-{i}.jsonl"), "--json", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        for i in range(args.workers)]
    ok = 0
    for proc in procs:
        out, _ = await proc.communicate()
        ok += json.loads(out)["succeeded"]
    wall = time.monotonic() - t1
    return {"op": args.op, "mode": "shards + file journals", "targets": args.targets,
            "workers": args.workers, "run_wall_s": round(wall, 2),
            "throughput_per_s": round(args.targets / wall), "ok": ok}


def _applied(base_url: str, op: str) -> dict[str, Any]:
    """How often the emulator applied `op`: in all, and repeated on a number."""
    with urllib.request.urlopen(f"{base_url.rstrip('/')}/_emulator/stats", timeout=10) as resp:  # noqa: S310
        stats = json.loads(resp.read())
    return {"writes_applied": int(stats["writes"].get(op, 0)),
            "writes_repeated": int(stats["duplicated_writes"].get(op, 0))}


def part_name(args: argparse.Namespace) -> str:
    """The key of a part in `results/ledger.json`: "ledger block", "shards send_sms", ..."""
    return f"{'shards' if args.shards else 'ledger'} {args.op}"


#: What `--all` runs, in this order: the ledger, its baseline, the non-idempotent case.
ALL = (("block", False), ("block", True), ("send_sms", False))


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ledger",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--op", default="block", choices=("block", "send_sms"))
    parser.add_argument("--shards", action="store_true",
                        help="N processes with --shard i/N and file journals instead")
    parser.add_argument("--all", action="store_true",
                        help="ledger block, shards block and ledger send_sms in a row")
    args = parser.parse_args(argv)
    from . import _report

    meta = {**_report.machine(), "mode": "full"}
    path = _report.RESULTS / "ledger.json"
    last: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    parts: dict[str, Any] = dict(last.get("parts", {}))
    kept = {k: x.get("commit", "not recorded") for k, x in parts.items()}
    for op, sharded in (ALL if args.all else ((args.op, args.shards),)):
        one = argparse.Namespace(**{**vars(args), "op": op, "shards": sharded})
        started = _report.machine()
        part = asyncio.run(main(one))
        part.update(commit=started["commit"], date=started["date"],
                    load_average_at_start=started["load_average_at_start"])
        print(json.dumps(part, indent=2), flush=True)
        parts[part_name(one)] = part
        kept.pop(part_name(one), None)
    if kept:
        meta["parts_kept_from_the_last_run"] = kept
    order = [f"{'shards' if s else 'ledger'} {op}" for op, s in ALL]
    parts = {k: parts[k] for k in [*(k for k in order if k in parts),
                                   *sorted(k for k in parts if k not in order)]}
    _report.save("ledger", {"parts": parts}, meta)
    _report.markdown_path(False).write_text(_report.render(_report.load_all(), "full"))
    return 0


if __name__ == "__main__":
    sys.exit(run())
