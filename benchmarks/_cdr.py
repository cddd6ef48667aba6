"""CDR ingestion: internet CDR records turned into `InternetCdr` models, records per second.

    python -m benchmarks._cdr synthetic --records 1000000
    python -m benchmarks._cdr emulator --base-url URL --login demo --days 14

`synthetic` runs what ``api.cdr.internet`` does, in-process and without the network:
`CdrResource` itself over a stub session whose streamed read hands out answers prepared
here as bytes, in 256 KiB chunks (the session's `iter_chunked` size). Every day is one
window of two pages of 10,000 records (a Laravel paginator, ``current_page``/
``last_page``), so the whole path runs: the streaming decoder (orjson when installed), the
structuring into models, the repeated-page check on both pages (`PageRepeats`), the
per-window sort by `started_at` (the records of a page are in random order), the
hand-over between the reading tasks and the consumer. Reported for the canonical field
spelling and for the alternative one (``msisdn``, ``started_at`` as ``YYYY-MM-DD
HH:MM:SS``, ``upload`` + ``download``), next to two parts of it measured alone: one page
decoded whole and structured (`loads`, `unwrap_list`, `structure_list`: the non-streamed
path), and the structuring alone (from decoded dicts).

`parts` times the path's steps alone, hot (see `parts`), into `results/cdr_parts.json`.

`emulator` streams ``api.cdr.internet(from, to)`` from a running emulator: the whole
stack, bounded by how fast the emulator makes CDR (it hashes every number and day).
One JSON line is printed either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

PAGE = 10_000
DISTINCT_PAGES = 10  # pages are reused in turn: the input stays ~25 MB, not 250 MB
CHUNK = 262_144  # what `AsyncSession._stream` reads at a time


def _record(rng: random.Random, alt: bool) -> dict[str, Any]:
    number = f"79{rng.randrange(10**9):09d}"
    day = dt.date(2024, 3, 1) + dt.timedelta(days=rng.randrange(31))
    start = dt.datetime.combine(day, dt.time(), dt.timezone(dt.timedelta(hours=3)))
    start += dt.timedelta(seconds=rng.randrange(82_800))
    end = start + dt.timedelta(seconds=30 + rng.randrange(3_570))
    up, down = 1_000 + rng.randrange(2_000_000), 5_000 + rng.randrange(50_000_000)
    iccid = f"8970199{rng.randrange(10**12):012d}"
    imsi = f"25001{rng.randrange(10**10):010d}"
    apn = rng.choice(("m2m.operator.ru", "iot.operator.ru", "internet"))
    if alt:
        return {"msisdn": number, "started_at": start.strftime("%Y-%m-%d %H:%M:%S"),
                "ended_at": end.strftime("%Y-%m-%d %H:%M:%S"), "upload": up,
                "download": down, "apn": apn, "imsi": imsi, "iccid": iccid}
    return {"number": number, "date": day.isoformat(), "start": start.isoformat(),
            "end": end.isoformat(), "volume": up + down, "apn": apn, "imsi": imsi,
            "iccid": iccid}


def make_pages(alt: bool, seed: int = 1) -> list[bytes]:
    """`DISTINCT_PAGES` JSON bodies of `PAGE` records each, as the API would send them:
    pages 1 and 2 of 2 in turn."""
    rng = random.Random(seed)
    pages = []
    for i in range(DISTINCT_PAGES):
        items = [_record(rng, alt) for _ in range(PAGE)]
        page = 1 + i % 2
        body = {"data": items, "meta": {"current_page": page, "last_page": 2,
                                        "per_page": PAGE, "total": 2 * PAGE},
                "links": {"next": None if page == 2 else "?page=2"}}
        pages.append(json.dumps(body, separators=(",", ":")).encode())
    return pages


class _StubSession:
    """The two things `CdrResource` uses of `AsyncSession` to stream: `_stream` and
    `_max_bytes`. Page ``p`` of day ``d`` is ``pages[(2 * d + p - 1) % len(pages)]``."""

    _max_bytes = 32 * 1024 * 1024

    def __init__(self, pages: list[bytes]) -> None:
        self._pages = pages
        self.first = dt.date(2024, 3, 1)

    async def request(self, operation: str, params: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def _stream(self, operation: str, params: Any) -> AsyncIterator[AsyncIterator[bytes]]:
        day = (dt.date.fromisoformat(params["from"]) - self.first).days
        body = self._pages[(2 * day + params.get("page", 1) - 1) % len(self._pages)]

        async def chunks() -> AsyncIterator[bytes]:
            for at in range(0, len(body), CHUNK):
                yield body[at:at + CHUNK]
                await asyncio.sleep(0)  # the next chunk "arrives": other tasks run

        yield chunks()


def _stream_path(pages: list[bytes], records: int) -> dict[str, Any]:
    """`api.cdr.internet` over the stub: `records` rounded up to whole days."""
    from simapi_async.resources.cdr import CdrResource

    days = max(1, -(-records // (2 * PAGE)))
    stub = _StubSession(pages)

    async def consume() -> int:
        resource = CdrResource(stub)
        count = 0
        last = stub.first + dt.timedelta(days=days - 1)
        async for _ in resource.internet(stub.first, last):
            count += 1
        return count

    wall, cpu = time.perf_counter(), time.process_time()
    count = asyncio.run(consume())
    assert count == days * 2 * PAGE, count
    return _rates(count, time.perf_counter() - wall, time.process_time() - cpu)


def _ingest(pages: list[bytes], records: int, loads: Callable[[bytes], Any]) -> dict[str, Any]:
    from simapi_async._converter import structure_list
    from simapi_async._envelopes import unwrap_list
    from simapi_async.models import InternetCdr

    count = 0
    wall, cpu = time.perf_counter(), time.process_time()
    i = 0
    while count < records:
        body = loads(pages[i % len(pages)])
        items, info = unwrap_list(body)
        models = structure_list(items, InternetCdr, where=info.where, body=body)
        count += len(models)
        i += 1
    return _rates(count, time.perf_counter() - wall, time.process_time() - cpu)


def _structure_only(pages: list[bytes], records: int) -> dict[str, Any]:
    from simapi_async._converter import structure_list
    from simapi_async._envelopes import unwrap_list
    from simapi_async.models import InternetCdr

    decoded = [json.loads(p) for p in pages]
    count = 0
    wall, cpu = time.perf_counter(), time.process_time()
    i = 0
    while count < records:
        body = decoded[i % len(decoded)]
        items, info = unwrap_list(body)
        count += len(structure_list(items, InternetCdr, where=info.where, body=body))
        i += 1
    return _rates(count, time.perf_counter() - wall, time.process_time() - cpu)


def _rates(count: int, wall: float, cpu: float) -> dict[str, Any]:
    return {"records": count, "elapsed_s": wall, "records_per_s": count / wall,
            "cpu_us_per_record": cpu / count * 1e6}


def synthetic(records: int) -> dict[str, Any]:
    from simapi_async import _transport

    out: dict[str, Any] = {"codec": _transport._loads.__module__ + "._loads",
                           "orjson": "orjson" in sys.modules}
    for shape, alt in (("canonical", False), ("alt", True)):
        pages = make_pages(alt)
        out[shape] = {
            "cdr_internet": _stream_path(pages, records),
            "sdk_codec": _ingest(pages, records, _transport._loads),
            "stdlib_json": _ingest(pages, records, json.loads),
            "structure_only": _structure_only(pages, records),
        }
    return out


async def through_emulator(args: argparse.Namespace) -> dict[str, Any]:
    import simapi_async as sa

    first = dt.date(2024, 3, 1)
    last = first + dt.timedelta(days=args.days - 1)
    async with sa.AsyncSession(args.base_url, login=args.login,
                               password=os.environ["BENCH_PASSWORD"]) as api:
        await api.authenticate()
        count = 0
        wall, cpu = time.perf_counter(), time.process_time()
        async for _ in api.cdr.internet(first, last, window_days=1, concurrency=4):
            count += 1
        result = _rates(count, time.perf_counter() - wall, time.process_time() - cpu)
    result["days"] = args.days
    return result


def _best_us(run: Callable[[], Any], per: int, rounds: int = 7, loops: int = 50) -> float:
    """CPU µs per item of `run` (`loops` calls over `per` items), best of `rounds`."""
    best = float("inf")
    for _ in range(rounds):
        cpu = time.process_time()
        for _ in range(loops):
            run()
        best = min(best, time.process_time() - cpu)
    return round(best / loops / per * 1e6, 3)


def parts() -> dict[str, Any]:
    """The CDR path's steps alone, hot (the same 200 records again and again, in cache),
    CPU µs per record: the per-record hook vs the column path and its parts, orjson on the
    records' bytes, and a window's sort of 20,000 records (aware, one tzinfo object each)
    by the times as they are vs by `_merged`'s UTC keys."""
    from operator import attrgetter

    import orjson

    from simapi_async import _converter as c
    from simapi_async.models import InternetCdr
    from simapi_async.resources.cdr import _merged

    from .cdr_stream import _block

    raw = b"[" + _block(0, 200, 5) + b"]"
    items = orjson.loads(raw)
    n = len(items)
    plan = c._cdr_plan(items[0])
    assert plan is not None
    assert c._cdr_columns(items) is not None
    from simapi_async import _rows

    columns = _rows.columns(items, plan.order)
    fields = [columns[i] if i is not None else (None,) * n for i in plan.used]
    fields[1] = tuple(map(dt.datetime.fromisoformat, fields[1]))
    fields[2] = tuple(map(dt.datetime.fromisoformat, fields[2]))
    fields.append(items)
    slots = c._CDR_SLOTS or ()

    out: dict[str, Any] = {"records": n, "record_bytes": round(len(raw) / n),
                           "compiled_models": _rows.COMPILED}
    out["hook_us"] = _best_us(lambda: [c.structure_internet_cdr(x) for x in items], n)
    out["columns_us"] = _best_us(lambda: c._cdr_columns(items), n)
    out["columns_parts_us"] = {
        "columns_python": _best_us(lambda: _rows.py_columns(items, plan.order), n),
        "columns": _best_us(lambda: _rows.columns(items, plan.order), n),
        "type_sets": _best_us(lambda: [set(map(type, x)) for x in columns[:9]], n),
        "datetimes": _best_us(lambda: (tuple(map(dt.datetime.fromisoformat, columns[1])),
                                       tuple(map(dt.datetime.fromisoformat, columns[2]))), n),
        "models_slot_by_slot_python": _best_us(
            lambda: _rows.py_fill(InternetCdr, slots, fields), n),
        "models_slot_by_slot": _best_us(lambda: _rows.fill(InternetCdr, slots, fields), n),
        "models_by_init": _best_us(lambda: list(map(InternetCdr, *fields)), n),
    }
    out["orjson_us"] = _best_us(lambda: orjson.loads(raw), n)
    window = c.structure_list(orjson.loads(b"[" + b",".join(
        _block(i * 200, 200, (i * 7) % 24) for i in range(100)) + b"]"), InternetCdr)
    random.Random(1).shuffle(window)
    by_start = attrgetter("started_at")
    out["sort_20000"] = {
        "as_they_are_us": _best_us(lambda: sorted(window, key=by_start), len(window), 3, 1),
        "merged_utc_keys_us": _best_us(lambda: _merged([list(window)]), len(window), 3, 1),
    }
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks._cdr")
    sub = p.add_subparsers(dest="mode", required=True)
    sub.add_parser("parts", help="the CDR path's steps alone, hot (µs per record)")
    s = sub.add_parser("synthetic")
    s.add_argument("--records", type=int, default=1_000_000)
    e = sub.add_parser("emulator")
    e.add_argument("--base-url", required=True)
    e.add_argument("--login", required=True)
    e.add_argument("--days", type=int, default=14)
    args = p.parse_args()
    if os.environ.get("BENCH_SDK_PATH"):
        sys.path.insert(0, os.environ["BENCH_SDK_PATH"])
    if args.mode == "parts":
        from ._report import RESULTS, machine

        result = {"machine": machine(), **parts()}
        (RESULTS / "cdr_parts.json").write_text(json.dumps(result, indent=1) + "\n")
    elif args.mode == "synthetic":
        result = synthetic(args.records)
    else:
        result = asyncio.run(through_emulator(args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
