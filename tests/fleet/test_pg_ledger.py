"""The PostgreSQL run ledger against a real server: load once, claim, lease, fence."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simapi_async._exceptions import APITimeoutError, InvalidInputError, NotFoundError
from simapi_async.bulk._report import ItemResult
from simapi_async.bulk._targets import Target
from simapi_async.fleet import FleetBackendError
from simapi_async.fleet._pg_ledger import Chunk, PgLedger

from ._servers import PostgresServer

RUN = "night-run"
LEASE = 0.5


def numbers(n: int, start: int = 79000000000) -> list[str]:
    return [str(start + i) for i in range(n)]


@pytest.fixture
async def ledger(pg_url: str) -> AsyncIterator[PgLedger]:
    async with await PgLedger.open(pg_url, run=RUN) as opened:
        yield opened


async def wait_for_claim(ledger: PgLedger, worker: str) -> Chunk:
    """Poll `claim` until a chunk is free (an expired lease); bounded by the test timeout."""
    while (chunk := await ledger.claim(worker, LEASE)) is None:  # noqa: ASYNC110 - a lease
        # expiring in the database: no event to await
        await asyncio.sleep(LEASE / 5)
    return chunk


def ok(target: Target) -> ItemResult:
    return ItemResult(target, True, attempts=1)


async def test_two_concurrent_starters_load_20000_targets_once(pg_url: str) -> None:
    """Two hosts starting the same run at once: the targets are loaded exactly once."""
    a, b = await PgLedger.open(pg_url, run=RUN), await PgLedger.open(pg_url, run=RUN)
    try:
        targets = numbers(20_000)
        infos = await asyncio.gather(a.start_or_join("block", {}, targets),
                                     b.start_or_join("block", {}, iter(targets)))
        assert sorted(i.created for i in infos) == [False, True]
        assert {(i.total, i.chunks) for i in infos} == {(20_000, 40)}
        outcomes = await a.outcomes()
        assert len(outcomes) == 20_000
        assert set(outcomes.values()) == {None}
        status = await b.status()
        assert status.pending == 20_000
        assert status.chunks == 40
        assert not status.complete
    finally:
        await a.close()
        await b.close()


async def test_joining_with_another_operation_is_refused(ledger: PgLedger) -> None:
    """A run started as block(...) cannot be joined as send_sms(...) or other params."""
    await ledger.start_or_join("send_sms", {"type": "internet"}, numbers(3))
    again = await ledger.start_or_join("send_sms", {"type": "internet"}, [])
    assert not again.created
    assert again.total == 3
    with pytest.raises(InvalidInputError, match="send_sms"):
        await ledger.start_or_join("send_sms", {"type": "call"}, [])
    with pytest.raises(InvalidInputError, match="use another run name"):
        await ledger.start_or_join("block", {}, [])
    joined = await ledger.join()
    assert (joined.operation, joined.params) == ("send_sms", {"type": "internet"})


async def test_join_of_a_missing_run_is_a_typed_error(pg_url: str) -> None:
    """A worker joining a run nobody started gets InvalidInputError, not a hang."""
    async with await PgLedger.open(pg_url, run="nobody-started-it") as ledger:
        with pytest.raises(InvalidInputError, match="no such run"):
            await ledger.join()


async def test_async_targets_invalid_and_duplicates_get_final_results(ledger: PgLedger) -> None:
    """Invalid targets load as failed and duplicates as skipped; only the rest is handed out."""
    async def source() -> AsyncIterator[object]:
        for value in ["79000000001", "not a number", Target("79000000002"), "79000000001"]:
            yield value

    info = await ledger.start_or_join("block", {}, source(), chunk_size=10)
    assert (info.total, info.invalid, info.duplicates) == (4, 1, 1)
    chunk = await ledger.claim("w1", LEASE)
    assert chunk is not None
    assert [t.number for t in chunk.targets] == ["79000000001", "79000000002"]
    assert await ledger.record_many(chunk, [ok(t) for t in chunk.targets]) == 2
    assert await ledger.finish(chunk)
    status = await ledger.status()
    assert status.complete
    assert status.outcomes == {"ok": 2, "failed": 1, "skipped": 1}
    assert status.reasons == {"InvalidInputError": 1}


async def test_four_workers_drain_20000_targets_each_exactly_once(pg_url: str) -> None:
    """4 workers with their own connections: every target gets exactly one final result."""
    async with await PgLedger.open(pg_url, run=RUN) as starter:
        await starter.start_or_join("block", {}, numbers(20_000))
    recorded: Counter[str] = Counter()

    async def worker(name: str) -> None:
        async with await PgLedger.open(pg_url, run=RUN) as ledger:
            while (chunk := await ledger.next_chunk(name, 5.0, poll=0.05)) is not None:
                head, rest = chunk.targets[:5], chunk.targets[5:]
                for target in head:  # one at a time, as a worker does for slow requests
                    assert await ledger.record(chunk, ok(target))
                results = [ItemResult(t, False, NotFoundError("SIM card not found", status=404),
                                      attempts=1) if t.number.endswith("7") else ok(t)
                           for t in rest]
                assert await ledger.record_many(chunk, results) == len(results)
                assert await ledger.renew(chunk)
                assert await ledger.finish(chunk)
                recorded.update(t.number for t in chunk.targets)

    await asyncio.gather(*(worker(f"host-{i}") for i in range(4)))
    assert len(recorded) == 20_000
    assert set(recorded.values()) == {1}
    async with await PgLedger.open(pg_url, run=RUN) as ledger:
        status = await ledger.status()
        outcomes = await ledger.outcomes()
    assert status.complete
    assert status.pending == status.in_flight == 0
    assert sum(status.outcomes.values()) == 20_000
    assert status.reasons == {"404 NotFoundError": status.outcomes["failed"]}
    assert None not in outcomes.values()
    assert sum(w.results for w in status.workers) == 20_000
    assert sum(w.chunks_done for w in status.workers) == 40


async def test_killed_worker_started_targets_become_unknown_never_resent(pg_url: str) -> None:
    """A send_sms worker whose connections die mid-chunk: after its lease ends another
    worker takes the chunk, the started targets are unknown and never handed out again."""
    async with await PgLedger.open(pg_url, run=RUN) as starter:
        await starter.start_or_join("send_sms", {"type": "internet"}, numbers(20), chunk_size=10)
    dead = await PgLedger.open(pg_url, run=RUN)
    chunk = await dead.claim("host-a:1", LEASE)
    assert chunk is not None
    assert chunk.index == 0
    first, second, third = chunk.targets[:3]
    for target in (first, second, third):
        assert await dead.mark_started(chunk, target)
    assert await dead.record(chunk, ok(first))
    dead.terminate()  # killed: no goodbye, no more heartbeats

    async with await PgLedger.open(pg_url, run=RUN) as ledger:
        other = await ledger.claim("host-b:1", LEASE)  # chunk 0 is still leased
        assert other is not None
        assert other.index == 1
        taken = await wait_for_claim(ledger, "host-b:1")
        assert taken.index == 0
        assert taken.unknown == 2
        handed = {t.number for t in taken.targets}
        assert handed == {t.number for t in chunk.targets[3:]}
        # the zombie comes back: its writes are fenced off
        async with await PgLedger.open(pg_url, run=RUN) as zombie:
            assert not await zombie.record(chunk, ok(second))
            assert not await zombie.renew(chunk)
            assert not await zombie.mark_started(chunk, chunk.targets[5])
        for c in (taken, other):
            for target in c.targets:
                assert await ledger.mark_started(c, target)
            assert await ledger.record_many(c, [ok(t) for t in c.targets]) == len(c.targets)
            assert await ledger.finish(c)
        assert await ledger.next_chunk("host-b:1", LEASE) is None
        outcomes = await ledger.outcomes()
        status = await ledger.status()
    assert outcomes[second.number] == outcomes[third.number] == "unknown"
    assert outcomes[first.number] == "ok"
    assert Counter(outcomes.values()) == {"ok": 18, "unknown": 2}
    assert status.reasons == {"lease expired": 2}


async def test_lost_lease_fences_every_write(ledger: PgLedger) -> None:
    """Once another worker took the chunk, the old owner can renew, start, record nothing."""
    await ledger.start_or_join("block", {}, numbers(4))
    old = await ledger.claim("slow", LEASE)
    assert old is not None
    new = await wait_for_claim(ledger, "fast")
    assert new.epoch == old.epoch + 1
    assert new.unknown == 0
    assert not await ledger.renew(old)
    assert not await ledger.mark_started(old, old.targets[0])
    assert await ledger.record_many(old, [ok(t) for t in old.targets]) == 0
    assert not await ledger.finish(old)
    assert (await ledger.status()).outcomes == {}


async def test_finish_with_targets_left_lets_the_chunk_go_at_once(ledger: PgLedger) -> None:
    """A worker stopping early releases its chunk: the rest goes to the next claimer now."""
    await ledger.start_or_join("block", {}, numbers(4))
    chunk = await ledger.claim("stopping", 60.0)
    assert chunk is not None
    assert await ledger.record(chunk, ok(chunk.targets[0]))
    assert await ledger.finish(chunk)
    again = await ledger.claim("next", 60.0)
    assert again is not None
    assert len(again.targets) == 3


async def test_requeue_unknown_hands_them_out_again(ledger: PgLedger) -> None:
    """retry_unknown: requeue(["unknown"]) makes unknown targets pending again."""
    await ledger.start_or_join("send_sms", {"type": "call"}, numbers(3))
    chunk = await ledger.claim("w", 60.0)
    assert chunk is not None
    results = [ItemResult(t, False, APITimeoutError("read timed out"), 1, outcome="unknown")
               for t in chunk.targets]
    assert await ledger.record_many(chunk, results) == 3
    assert await ledger.finish(chunk)
    assert (await ledger.status()).reasons == {"APITimeoutError": 3}
    assert await ledger.requeue(["unknown"]) == 3
    again = await ledger.claim("w", 60.0)
    assert again is not None
    assert len(again.targets) == 3


async def test_status_shows_workers_leases_and_rate(ledger: PgLedger) -> None:
    """status(): outcomes, in-flight marks, the leases each worker holds, results/s."""
    await ledger.start_or_join("send_sms", {"type": "call"}, numbers(6), chunk_size=3)
    a = await ledger.claim("a", 60.0)
    b = await ledger.claim("b", 60.0)
    assert a is not None
    assert b is not None
    assert await ledger.mark_started(a, a.targets[0])
    assert await ledger.record(a, ok(a.targets[0]))
    assert await ledger.mark_started(b, b.targets[0])
    status = await ledger.status()
    assert (status.pending, status.in_flight, status.outcomes) == (4, 1, {"ok": 1})
    assert status.chunks_leased == 2
    assert status.rate == pytest.approx(1 / 60)
    by_name = {w.worker: w for w in status.workers}
    assert by_name["a"].chunks_held == (0,)
    assert by_name["b"].chunks_held == (1,)
    assert by_name["a"].results == 1
    assert 0 < (by_name["a"].lease_left or 0) <= 60
    assert status.to_dict()["workers"][0]["worker"] == "a"


async def test_postgres_restart_mid_run_is_ridden_out(own_postgres: PostgresServer) -> None:
    """A restart of the server between two writes: the next write reconnects and lands."""
    async with await PgLedger.open(own_postgres.url(), run=RUN) as ledger:
        await ledger.start_or_join("block", {}, numbers(4))
        chunk = await ledger.claim("w", 60.0)
        assert chunk is not None
        assert await ledger.record(chunk, ok(chunk.targets[0]))
        await asyncio.to_thread(own_postgres.restart)
        assert await ledger.record(chunk, ok(chunk.targets[1]))
        assert (await ledger.status()).outcomes == {"ok": 2}


async def test_postgres_gone_is_a_fleet_backend_error(own_postgres: PostgresServer) -> None:
    """With the server down past reconnect_timeout a call raises FleetBackendError."""
    ledger = await PgLedger.open(own_postgres.url(), run=RUN, reconnect_timeout=0.5)
    try:
        await ledger.start_or_join("block", {}, numbers(2))
        await asyncio.to_thread(own_postgres.stop)
        with pytest.raises(FleetBackendError, match="postgresql at postgresql://simapi@"):
            await ledger.claim("w", 60.0)
    finally:
        ledger.terminate()


WORKER_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from simapi_async.bulk._report import ItemResult
    from simapi_async.fleet._pg_ledger import PgLedger

    async def main(url, run, sent_log):
        ledger = await PgLedger.open(url, run=run)
        chunk = await ledger.claim("doomed:1", float(sys.argv[4]))
        for i, target in enumerate(chunk.targets):
            assert await ledger.mark_started(chunk, target)
            with open(sent_log, "a") as f:
                f.write(target.number + "\\n")  # "sent"
            if i == 4:
                print("in flight", flush=True)
                await asyncio.sleep(3600)  # killed here, its answer never recorded
            assert await ledger.record(chunk, ItemResult(target, True, attempts=1))

    asyncio.run(main(*sys.argv[1:4]))
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
async def test_sigkilled_worker_process_sends_nothing_twice(pg_url: str, tmp_path: Path) -> None:
    """A worker process killed with SIGKILL mid-chunk (send_sms): a fresh worker finishes
    the run, no target is sent twice, the killed one's in-flight send is unknown."""
    async with await PgLedger.open(pg_url, run=RUN) as ledger:
        await ledger.start_or_join("send_sms", {"type": "internet"}, numbers(30), chunk_size=10)
    sent_log = tmp_path / "sent.txt"
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), pg_url, RUN, str(sent_log), str(LEASE),
        stdout=asyncio.subprocess.PIPE, env=env)
    assert proc.stdout is not None
    assert await proc.stdout.readline() == b"in flight\n"
    proc.send_signal(signal.SIGKILL)
    await proc.wait()

    async with await PgLedger.open(pg_url, run=RUN) as ledger:
        while (chunk := await ledger.next_chunk("fresh:2", LEASE, poll=LEASE / 5)) is not None:
            for target in chunk.targets:
                assert await ledger.mark_started(chunk, target)
                with sent_log.open("a") as f:
                    f.write(target.number + "\n")
                assert await ledger.record(chunk, ok(target))
            assert await ledger.finish(chunk)
        outcomes = await ledger.outcomes()
    sent = Counter(sent_log.read_text().split())
    assert len(sent) == 30
    assert set(sent.values()) == {1}
    assert Counter(outcomes.values()) == {"ok": 29, "unknown": 1}
    assert outcomes[str(79000000000 + 4)] == "unknown"


async def test_keep_lease_holds_the_chunk_and_reports_a_takeover(pg_url: str,
                                                                 ledger: PgLedger) -> None:
    """The heartbeat keeps a short lease alive past its length; a takeover sets `lost`."""
    import asyncpg

    await ledger.start_or_join("block", {}, numbers(4))
    chunk = await ledger.claim("busy", LEASE)
    assert chunk is not None
    async with ledger.keep_lease(chunk) as lease:
        while lease.renewals < 4:  # noqa: ASYNC110 - counts heartbeats (> one lease long)
            await asyncio.sleep(LEASE / 10)
        assert await ledger.claim("thief", LEASE) is None
        conn = await asyncpg.connect(pg_url)  # another worker's takeover, as the DB sees it
        await conn.execute("UPDATE simapi_chunks SET epoch = epoch + 1, lease_owner = 'thief'")
        await conn.close()
        await lease.lost.wait()
        assert lease.error is None
    assert not await ledger.record(chunk, ok(chunk.targets[0]))


async def test_postgres_restart_mid_copy_leaves_nothing_then_a_list_loads(
        own_postgres: PostgresServer) -> None:
    """A load cut by a server restart commits nothing (a read-once source gets
    FleetBackendError); the next start loads the run whole."""
    async def source() -> AsyncIterator[str]:
        for i, number in enumerate(numbers(5_000)):
            if i == 2_000:
                await asyncio.to_thread(own_postgres.restart)
            yield number

    async with await PgLedger.open(own_postgres.url(), run=RUN) as ledger:
        with pytest.raises(FleetBackendError, match="dropped while loading"):
            await ledger.start_or_join("block", {}, source())
        with pytest.raises(InvalidInputError, match="no such run"):
            await ledger.join()
        info = await ledger.start_or_join("block", {}, numbers(5_000))
        assert info.created
        assert len(await ledger.outcomes()) == 5_000
