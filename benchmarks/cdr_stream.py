"""``python -m benchmarks.cdr_stream [--quick]``: CDR at any answer size, and CDR sync.

1. **Decoders** (in-process, no network): the same ``{"data": [...]}`` body decoded by
   ijson's C backend (``ijson.items(..., "data.item")``) and by `ListDecoder` (the
   array splitter feeding orjson), fed 256 KiB chunks (what the session reads at a time)
   and 16 KiB slices (what `api.cdr.internet` feeds it): records/s of decoding alone.
2. **One huge answer** through ``api.cdr.internet`` (records into `InternetCdr`): a
   server process streams one answer of N records (1 GB at 5,000,000); the client
   process reports records/s, its CPU µs per record (`process_time`: steadier than the
   rate on a shared machine) and its peak RSS. Next to it, today's whole-body decode
   (``api.request`` + `structure_list`, `max_response_bytes` raised) at sizes it can hold.
3. **Sync**: ``api.cdr.sync`` of 30 days x 5,000 SIMs from the emulator (own process)
   into a Parquet dataset, a DuckDB file and PostgreSQL (a throwaway cluster, when the
   binaries are there): records/s.

Each measured run is a fresh client process (peak RSS is per process). ``BENCH_SDK_PATH``
puts another copy of `simapi_async` first on the path (e.g. an older commit's, for an A/B).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_RECORD = ('{{"number":"7918{n:07d}","date":"2026-10-01","start":"2026-10-01T{h:02d}:{m:02d}:'
           '{s:02d}+03:00","end":"2026-10-01T{h:02d}:{m2:02d}:{s:02d}+03:00","volume":{v},'
           '"apn":"m2m.operator.ru","imsi":"25001{n:010d}","iccid":"8970199{n:012d}",'
           '"session_id":"{n:016x}-{v:08x}","cell_id":"250-01-{h:05d}-{n:05d}",'
           '"rat":"LTE","roaming":false}}')


def _block(first: int, count: int, hour: int) -> bytes:
    """`count` records (about 200 bytes each) starting at record `first`, all in `hour`
    (the answer stays in time order)."""
    parts = []
    for i in range(first, first + count):
        m, s = divmod(i % 3600, 60)
        parts.append(_RECORD.format(n=i % 10_000_000, h=hour, m=m, m2=min(m + 1, 59), s=s,
                                    v=1000 + i % 99_991))
    return ",".join(parts).encode()


def _peak_rss_mb() -> int:
    """This process's peak RSS (VmHWM: ru_maxrss would carry the parent's over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _body(records: int) -> bytes:
    return b'{"data":[' + _block(0, records, 0) + b'],"success":true}'


# --- 1. decoders ---------------------------------------------------------------------

def decoders(records: int) -> dict[str, Any]:
    import ijson

    from simapi_async._jsonstream import ListDecoder, loads

    body = _body(records)
    chunk = 262_144
    out: dict[str, Any] = {"records": records, "body_mb": round(len(body) / 1e6, 1),
                           "ijson_backend": ijson.backend}
    started = time.perf_counter()
    count = sum(1 for _ in ijson.items(body, "data.item", use_float=True))
    out["ijson_c_rec_s"] = round(count / (time.perf_counter() - started))
    for key, size in (("splitter_orjson_rec_s", chunk), ("splitter_orjson_16k_rec_s", 16_384)):
        started = time.perf_counter()
        decoder = ListDecoder(loads)
        count = 0
        view = memoryview(body)  # slices of a view, as `api.cdr.internet` feeds them
        for i in range(0, len(body), size):
            count += len(decoder.feed(view[i:i + size]))
        count += len(decoder.close()["data"])
        out[key] = round(count / (time.perf_counter() - started))
    return out


# --- 2. one huge answer ----------------------------------------------------------------

async def _serve(records: int) -> None:
    """A CDR endpoint streaming one answer of `records` records (chunked, no length)."""
    from aiohttp import web

    per = 2_000
    blocks = [_block(h * per, per, h) for h in range(24)]  # made once: the server is cheap

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"data":[')
        done = 0
        while done < records:
            n = min(per, records - done)
            hour = min(23, done * 24 // records)
            block = blocks[hour] if n == per else _block(done, n, hour)
            await resp.write((b"," if done else b"") + block)
            done += n
        await resp.write(b'],"success":true}')
        return resp

    app = web.Application()
    app.router.add_get("/api/v2/cdr/internet", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(port, flush=True)
    await asyncio.Event().wait()


async def _client(mode: str, port: int, records: int) -> dict[str, Any]:
    import simapi_async as sa
    from simapi_async._converter import structure_list
    from simapi_async._envelopes import unwrap_list

    rss0 = _peak_rss_mb()
    url = f"http://127.0.0.1:{port}"
    limit = 1 << 40 if mode == "whole" else 32 << 20  # stream: the default 32 MiB stays
    async with sa.AsyncSession(url, token="bench", timeout=600,  # noqa: S106 - a stub server
                               max_response_bytes=limit) as api:
        started, cpu = time.perf_counter(), time.process_time()
        count = volume = 0
        if mode == "stream":
            async for r in api.cdr.internet("2026-10-01", "2026-10-01"):
                count += 1
                volume += r.volume_bytes or 0
        else:
            body = await api.request("cdr_internet", {"from": "2026-10-01", "to": "2026-10-01"})
            items, _ = unwrap_list(body)
            got = structure_list(items, sa.InternetCdr)
            count = len(got)
            volume = sum(r.volume_bytes or 0 for r in got)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    assert count == records, (count, records)
    compiled: bool | None = None  # an SDK from before `_rows` (BENCH_SDK_PATH)
    with contextlib.suppress(ImportError):
        from simapi_async._rows import COMPILED as compiled
    return {"mode": mode, "records": count, "compiled_models": compiled,
            "seconds": round(elapsed, 2),
            "rec_s": round(count / elapsed), "cpu_us_per_record": round(cpu / count * 1e6, 2),
            "rss_before_mb": rss0,
            "peak_rss_mb": _peak_rss_mb()}


def huge(mode: str, records: int, *, python_models: bool = False) -> dict[str, Any]:
    """One answer of `records` records through a fresh client process; `python_models`:
    with ``SIMAPI_NO_EXTENSIONS=1`` (the models made by `_rows`' Python steps, as on a
    machine without a C compiler)."""
    env = {**os.environ, "SIMAPI_NO_EXTENSIONS": "1"} if python_models else None
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.cdr_stream", "_serve",
                               str(records)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        out = subprocess.run([sys.executable, "-m", "benchmarks.cdr_stream", "_client", mode,
                              str(port), str(records)], capture_output=True, text=True,
                             env=env, check=False)
        if out.returncode != 0:
            return {"mode": mode, "records": records, "failed": out.stderr.strip()[-300:]}
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        result["answer_mb"] = round(records * len(_body(1000)) / 1000 / 1e6)
        return result
    finally:
        server.terminate()
        server.wait()


def repeated(records: int, runs: int) -> dict[str, Any]:
    """`huge("stream", records)` `runs` times: the median run (by records/s), with every
    run's records/s and client CPU µs a record (on a shared VM one run varies by ±20 %).
    Each run is followed by the same run with the Python steps of `_rows` (the baseline,
    `python_models`: its median and runs), so both see the same machine, interleaved."""
    done: list[dict[str, Any]] = []
    baseline: list[dict[str, Any]] = []
    for _ in range(max(1, runs)):
        done.append(huge("stream", records))
        if done[-1].get("compiled_models"):
            baseline.append(huge("stream", records, python_models=True))
    median = _median(done)
    if baseline:
        median["python_models"] = {k: v for k, v in _median(baseline).items() if k in (
            "rec_s", "cpu_us_per_record", "peak_rss_mb", "runs_rec_s",
            "runs_cpu_us_per_record", "failed")}
    return median


def _median(done: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sorted((x for x in done if "rec_s" in x), key=lambda x: x["rec_s"])
    if not ok:
        return done[0]
    median = dict(ok[(len(ok) - 1) // 2])  # the lower middle one for an even count
    median["runs_rec_s"] = [x.get("rec_s") for x in done]
    median["runs_cpu_us_per_record"] = [x.get("cpu_us_per_record") for x in done]
    return median


# --- 3. sync -----------------------------------------------------------------------------

async def _sync(dest: str, days: int) -> dict[str, Any]:
    import simapi_async as sa

    base, login = os.environ["BENCH_BASE_URL"], os.environ["BENCH_LOGIN"]
    async with sa.AsyncSession(base, login=login, password=os.environ["BENCH_PASSWORD"],
                               timeout=120) as api:
        started = time.perf_counter()
        report = await api.cdr.sync(dest, date_from="2026-09-01", date_until=(
            __import__("datetime").date(2026, 9, 1)
            + __import__("datetime").timedelta(days=days - 1)))
        elapsed = time.perf_counter() - started
    return {"records": report.records, "days": report.days, "seconds": round(elapsed, 2),
            "rec_s": round(report.records / elapsed), "mb": round(report.bytes / 1e6, 1),
            "peak_rss_mb": _peak_rss_mb()}


def syncs(sims: int, days: int) -> list[dict[str, Any]]:
    from ._runner import Server

    results = []
    server = Server(sims)
    pg = None
    try:
        env = {**server.client_env(), "BENCH_BASE_URL": server.base_url,
               "BENCH_LOGIN": server.login}
        with tempfile.TemporaryDirectory() as tmp:
            dests = {"parquet": str(Path(tmp) / "cdr"), "duckdb": str(Path(tmp) / "cdr.duckdb")}
            try:
                sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
                from tests.fleet._servers import PostgresServer, find_postgres

                bindir = find_postgres()
                if bindir is not None:
                    pg = PostgresServer(bindir)
                    pg.start()
                    dests["postgres"] = pg.url()
            except Exception as exc:  # a benchmark without PostgreSQL
                results.append({"dest": "postgres", "failed": repr(exc)})
            for kind, dest in dests.items():
                out = subprocess.run([sys.executable, "-m", "benchmarks.cdr_stream", "_sync",
                                      dest, str(days)], capture_output=True, text=True,
                                     env=env, check=False)
                if out.returncode != 0:
                    results.append({"dest": kind, "failed": out.stderr.strip()[-300:]})
                    continue
                results.append({"dest": kind, "sims": sims,
                                **json.loads(out.stdout.strip().splitlines()[-1])})
    finally:
        if pg is not None:
            pg.close()
        server.close()
    return results


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if os.environ.get("BENCH_SDK_PATH"):  # measure another copy of simapi_async (A/B)
        sys.path.insert(0, os.environ["BENCH_SDK_PATH"])
    if args and args[0] == "_serve":
        asyncio.run(_serve(int(args[1])))
        return 0
    if args and args[0] == "_client":
        print(json.dumps(asyncio.run(_client(args[1], int(args[2]), int(args[3])))))
        return 0
    if args and args[0] == "_sync":
        print(json.dumps(asyncio.run(_sync(args[1], int(args[2])))))
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.cdr_stream")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--records", type=int, default=None,
                   help="records of the one huge streamed answer (5,000,000; --quick 500,000)")
    p.add_argument("--runs", type=int, default=3,
                   help="runs of the huge streamed answer (each a fresh client process); "
                        "the median run is the figure, every run's rate is kept")
    p.add_argument("--skip", default="", help="comma-separated parts not to run: "
                   "decoders, whole (the whole-body decodes and the smaller streamed answers), "
                   "sync; a skipped part keeps its figures from the last results file")
    opts = p.parse_args(args)
    skip = {x for x in opts.skip.split(",") if x}
    huge_n = opts.records or (500_000 if opts.quick else 5_000_000)
    whole = (100_000, 250_000) if opts.quick else (100_000, 500_000, 1_000_000)
    sims, days = (1_000, 7) if opts.quick else (5_000, 30)
    from ._report import load_all, machine, markdown_path, render

    folder = Path(__file__).parent / "results" / ("quick" if opts.quick else "")
    path = folder / "cdr_stream.json"
    last: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    report: dict[str, Any] = {"machine": {**machine(), "mode": "quick" if opts.quick else "full"}}
    if skip:
        before = last.get("machine", {})  # a part the last run kept too: its own commit
        report["machine"]["parts_kept_from_the_last_run"] = {
            k: before.get("parts_kept_from_the_last_run", {}).get(
                k, before.get("commit", "not recorded")) for k in sorted(skip)}
    report["decoders"] = (last.get("decoders") if "decoders" in skip
                          else decoders(200_000 if opts.quick else 1_000_000))
    print(json.dumps(report["decoders"]), flush=True)
    report["huge"] = [repeated(huge_n, opts.runs)]
    print(json.dumps(report["huge"][-1]), flush=True)
    if "whole" in skip:
        report["huge"] += [x for x in last.get("huge", [])[1:]]
    else:
        for mode, n in [*[("whole", n) for n in whole], *[("stream", n) for n in whole]]:
            report["huge"].append(huge(mode, n))
            print(json.dumps(report["huge"][-1]), flush=True)
    report["sync"] = last.get("sync", []) if "sync" in skip else syncs(sims, days)
    for line in report["sync"]:
        print(json.dumps(line), flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
    markdown_path(opts.quick).write_text(render(load_all(opts.quick),
                                                "quick" if opts.quick else "full"))
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
