"""``python -m benchmarks.cdr_count [--base COMMIT|DIR] [--records N] [--mode inproc,client]``

Instructions a CDR record costs in `api.cdr.internet`, counted by callgrind
(``valgrind --tool=callgrind``): the same count whatever else the machine does, unlike a
timed run on a shared VM (one run of the 5,000,000-record benchmark varies by ±20-30 %
there). Per record in the steady state: the count of a run over 2N records minus that of
a run over N, divided by N (start-up, imports and the first window's sort cancel out).

- ``inproc``: `api.cdr.internet` in one process over a body held in memory, handed on in
  256 KiB chunks by a stub session (no aiohttp).
- ``client``: the client process of `benchmarks.cdr_stream` (aiohttp included), reading
  from its server process (not counted).

``--base`` counts another SDK next to the current one, in the same run: a commit (its
``simapi_async`` is taken with ``git archive``) or a directory holding ``simapi_async``.
``--repeat-times`` makes the in-process body repeat each hour's records, as the
benchmark's server does (parsed times are then found in the cache). Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

_PER_BLOCK = 2_000


def _body(records: int, repeat: bool) -> bytes:
    from .cdr_stream import _block

    span = 5_000_000 if repeat else records  # the server's hours of a 5,000,000 answer
    blocks: dict[int, bytes] = {}
    parts = [b'{"data":[']
    done = 0
    while done < records:
        hour = min(23, done * 24 // span)
        if repeat:
            block = blocks.get(hour) or blocks.setdefault(
                hour, _block(hour * _PER_BLOCK, _PER_BLOCK, hour))
        else:
            block = _block(done, _PER_BLOCK, hour)
        parts.append((b"," if done else b"") + block)
        done += _PER_BLOCK
    parts.append(b'],"success":true}')
    return b"".join(parts)


async def _inproc(body: bytes) -> int:
    from simapi_async.resources.cdr import CdrResource

    class Stub:
        _max_bytes = 32 << 20

        async def request(self, operation: str, params: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

        @contextlib.asynccontextmanager
        async def _stream(self, operation: str, params: Any) -> AsyncIterator[Any]:
            async def chunks() -> AsyncIterator[bytes]:
                for at in range(0, len(body), 262_144):
                    yield body[at:at + 262_144]
                    await asyncio.sleep(0)
            yield chunks()

    count = volume = 0
    async for r in CdrResource(Stub()).internet("2026-10-01"):
        count += 1
        volume += r.volume_bytes or 0
    return count


def _collected(cmd: list[str], env: dict[str, str]) -> int:
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          *cmd], capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(out.stderr[-500:])
    return int(found.group(1))


def _python() -> str:
    """The interpreter itself (a pyenv shim is a shell script valgrind would count)."""
    return os.path.realpath(sys.executable)


def count(sdk: str | None, mode: str, records: int, repeat: bool, tmp: str) -> int:
    """Steady-state instructions a record of `mode` for the SDK at `sdk` (None: this one);
    the in-process bodies are made here, once, into `tmp` (not counted)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("BENCH_SDK_PATH", None)
    if sdk:
        env["BENCH_SDK_PATH"] = sdk
    got = []
    for n in (records, 2 * records):
        if mode == "inproc":
            path = Path(tmp, f"body-{n}-{int(repeat)}.json")
            if not path.exists():
                path.write_bytes(_body(n, repeat))
            got.append(_collected([_python(), "-m", "benchmarks.cdr_count", "_inproc",
                                   str(path)], env))
            continue
        server = subprocess.Popen([_python(), "-m", "benchmarks.cdr_stream", "_serve", str(n)],
                                  stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert server.stdout is not None
            port = server.stdout.readline().strip()
            got.append(_collected([_python(), "-m", "benchmarks.cdr_stream", "_client",
                                   "stream", port, str(n)], env))
        finally:
            server.terminate()
            server.wait()
    return (got[1] - got[0]) // records


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if os.environ.get("BENCH_SDK_PATH"):
        sys.path.insert(0, os.environ["BENCH_SDK_PATH"])
    if args and args[0] == "_inproc":
        print(asyncio.run(_inproc(Path(args[1]).read_bytes())))
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.cdr_count")
    p.add_argument("--base", default=None, help="a commit or a directory with simapi_async")
    p.add_argument("--records", type=int, default=40_000)
    p.add_argument("--mode", default="inproc,client")
    p.add_argument("--repeat-times", action="store_true")
    opts = p.parse_args(args)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        base = opts.base
        if base and not Path(base, "simapi_async").is_dir():
            archive = subprocess.run(["git", "archive", base, "simapi_async"],
                                     capture_output=True, check=True).stdout
            base = str(Path(tmp, "base"))
            Path(base).mkdir()
            subprocess.run(["tar", "-x", "-C", base], input=archive, check=True)
        result: dict[str, Any] = {"records": opts.records, "repeat_times": opts.repeat_times}
        for mode in opts.mode.split(","):
            row = {"this": count(None, mode, opts.records, opts.repeat_times, tmp)}
            if base:
                row[f"base {opts.base}"] = count(base, mode, opts.records, opts.repeat_times,
                                                 tmp)
            result[mode] = row
            print(json.dumps({mode: row}), flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
