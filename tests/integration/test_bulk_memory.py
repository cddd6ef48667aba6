"""Memory of a long bulk run is bounded by its concurrency, not by its input."""

from __future__ import annotations

import re
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator

import pytest

import simapi_async as sa
from simapi_async.testing._fleet import build_fleet

N = 200_000
SEED = 3


@pytest.fixture
def fast_emulator() -> Iterator[str]:
    """The emulator in fast mode in its own process (its memory is not ours)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simapi_async.testing", "--port", "0", "--sims", str(N),
         "--seed", str(SEED), "--fast"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"base URL: (\S+)", line)
        assert match, line
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.soak
async def test_200k_generated_targets_keep_traced_memory_under_50mb(fast_emulator: str) -> None:
    """A generator of 200,000 targets at concurrency 20: traced peak < 50 MB, all done."""
    fleet = build_fleet(N, SEED)
    pairs = [(n, fleet.sims[n].iccid) for n in fleet.numbers]
    del fleet

    def targets() -> Iterator[sa.Target]:
        for number, iccid in pairs:
            yield sa.Target(number, iccid=iccid)

    async with sa.AsyncSession(fast_emulator, login="demo", password="demo-password") as api:
        await api.authenticate()
        tracemalloc.start()
        try:
            report = await api.bulk.block(targets(), concurrency=20)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert report.total == N
    assert report.succeeded == N, report.reasons
    print(f"traced peak over {N} targets: {peak / 1e6:.1f} MB")
    assert peak < 50 * 1024 * 1024
