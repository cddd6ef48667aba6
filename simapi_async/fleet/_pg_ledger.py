"""The run ledger in PostgreSQL: a bulk run's targets loaded once, drained by any
number of workers on any hosts.

    ledger = await PgLedger.open("postgresql://u@db/fleet", run="block-2026-12-01")
    info = await ledger.start_or_join("block", {}, targets)  # loads once (COPY)
    while (chunk := await ledger.next_chunk(worker, lease_seconds=30)) is not None:
        for target in chunk.targets:
            await ledger.mark_started(chunk, target)         # non-idempotent ops only
            ... send ...
            await ledger.record(chunk, result)              # False: the lease was lost
        await ledger.finish(chunk)

Tables (in `schema`, default `public`; created on first use, idempotent DDL):
`simapi_runs` (one row a run: operation, params, counts), `simapi_targets` (one row a
target read: its chunk, state `pending`/`started`/`done`, outcome, reason, error,
attempts, worker), `simapi_chunks` (lease owner, lease deadline, epoch, done) and
`simapi_workers` (last heartbeat of each worker).

How it holds together, with the database's own primitives only:
- Loading: one transaction under an advisory lock on the run's name. The first starter
  inserts the run and COPYs every target (`copy_records_to_table`, streamed from the
  caller's iterable); a concurrent starter waits for that lock, then joins. A loader
  killed mid-COPY leaves nothing (the transaction rolls back).
- Claiming: `SELECT … FOR UPDATE SKIP LOCKED` of a chunk not done whose lease is free
  or expired; the lease has a deadline (database time, so host clocks do not matter)
  and an epoch bumped at each claim. Every write of a worker is fenced by
  (owner, epoch) under `FOR SHARE` of the chunk row: a worker whose chunk was taken over
  writes nothing more, and `record`/`mark_started`/`renew` return False.
- Write-ahead: `mark_started` commits state `started` before a non-idempotent request
  goes out. A chunk claimed again (its owner died or let it go) turns each `started`
  target into outcome `unknown` (final, never handed out again; `requeue(["unknown"])`
  is the explicit `retry_unknown`); its `pending` targets are handed out again. An
  idempotent operation writes no `started` mark: its in-flight targets are just resent.
- A result and the target's final state are one UPDATE (one transaction).

Failures of the database: every call retries a dropped connection or a restarting
server for up to `reconnect_timeout` seconds (each call is idempotent, see the
methods), then raises `FleetBackendError`. The ledger stays consistent and resumable:
the caller stops the run (its report says why) and a later worker carries on.

Why not procrastinate: it is a good Postgres task queue (jobs, retries, locks), but a
job per target (a million rows of jobs with their events) is heavier than a row per
target, it has no notion of a chunk lease fencing the writes of a worker that lost it,
nor of the write-ahead "unknown" outcome; we would build those on top of it anyway.
The database's own primitives (advisory locks, SKIP LOCKED, COPY) are all this needs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from typing import Any, TypeVar

from .._exceptions import InvalidInputError, SimApiError
from ..bulk._report import FAILED, OK, SKIPPED, UNKNOWN, ItemResult, error_reason
from ..bulk._targets import NumberSet, Target, parse_target
from ._errors import FleetBackendError, redact_dsn, require
from ._ledger_model import (
    Chunk,
    LeaseKeeper,
    RunInfo,
    RunStatus,
    WorkerStatus,
    default_worker_name,
)

__all__ = ["Chunk", "LeaseKeeper", "PgLedger", "RunInfo", "RunStatus", "WorkerStatus",
           "default_worker_name"]

log = logging.getLogger("simapi_async")
T = TypeVar("T")

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: First key of the two-key advisory locks taken here ('sima' in ASCII: fits an int4).
_LOCK_NS = 0x73696D61
_PENDING, _STARTED, _DONE = "pending", "started", "done"
_LEASE_LOST = "lease expired"


class PgLedger:
    """The ledger of one run in PostgreSQL (see the module docstring).

    Open with `await PgLedger.open(url, run=NAME)`; one object serves every task of a
    process (a small connection pool). `close()` when done.
    """

    def __init__(self, pool: Any, url: str, run: str, schema: str,
                 reconnect_timeout: float) -> None:
        self._pool = pool
        self._url = url
        self.run = run
        self.schema = schema
        self.reconnect_timeout = reconnect_timeout
        s = f'"{schema}"'
        self._runs, self._targets = f"{s}.simapi_runs", f"{s}.simapi_targets"
        self._chunks, self._workers = f"{s}.simapi_chunks", f"{s}.simapi_workers"

    def __repr__(self) -> str:
        return f"<PgLedger {redact_dsn(self._url)} run={self.run!r}>"

    @classmethod
    async def open(cls, url: str, *, run: str, schema: str = "public",
                   max_connections: int = 4, reconnect_timeout: float = 10.0) -> PgLedger:
        """Connect (a pool of up to `max_connections`) and create the tables if needed."""
        if not isinstance(run, str) or not run or len(run) > 200:
            raise InvalidInputError("run", run, "must be a name of 1 to 200 characters")
        if not isinstance(schema, str) or not _IDENT.fullmatch(schema):
            raise InvalidInputError("schema", schema, "must be a lower-case SQL identifier")
        require("asyncpg")
        import asyncpg

        async def connect() -> Any:
            return await asyncpg.create_pool(url, min_size=1, max_size=max_connections)

        self = cls(None, url, run, schema, reconnect_timeout)
        self._pool = await self._retrying("connect", connect)
        try:
            await self._retrying("create the tables", self._create_tables)
        except BaseException:
            await self._pool.close()
            raise
        return self

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def __aenter__(self) -> PgLedger:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def terminate(self) -> None:
        """Drop every connection at once, without a goodbye (as a killed process would)."""
        self._pool.terminate()

    # -- the database's failures ---------------------------------------------------------

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call`, again while the connection is lost or the server restarts."""
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.05
        while True:
            try:
                return await call()
            except Exception as exc:
                if not _is_connection_error(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    raise FleetBackendError(
                        "postgresql", self._url,
                        f"cannot {what} (gave up after {self.reconnect_timeout:g}s): "
                        f"{type(exc).__name__}",
                    ) from exc
                log.debug("ledger: %s failed (%s), retrying", what, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    # -- schema --------------------------------------------------------------------------

    async def _create_tables(self) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog.
            await conn.execute("SELECT pg_advisory_xact_lock($1, 0)", _LOCK_NS)
            await conn.execute(f"""
                CREATE SCHEMA IF NOT EXISTS "{self.schema}";
                CREATE TABLE IF NOT EXISTS {self._runs} (
                    run text PRIMARY KEY,
                    operation text NOT NULL,
                    params jsonb NOT NULL,
                    chunk_size integer NOT NULL,
                    total integer NOT NULL DEFAULT 0,
                    chunks integer NOT NULL DEFAULT 0,
                    duplicates integer NOT NULL DEFAULT 0,
                    invalid integer NOT NULL DEFAULT 0,
                    created_at timestamptz NOT NULL DEFAULT now());
                CREATE TABLE IF NOT EXISTS {self._targets} (
                    run text NOT NULL,
                    seq integer NOT NULL,
                    number text NOT NULL,
                    iccid text,
                    imsi text,
                    chunk integer NOT NULL,
                    valid boolean NOT NULL DEFAULT true,
                    state text NOT NULL DEFAULT 'pending',
                    outcome text,
                    reason text,
                    error text,
                    attempts integer NOT NULL DEFAULT 0,
                    elapsed double precision,
                    worker text,
                    updated_at timestamptz,
                    PRIMARY KEY (run, seq));
                CREATE INDEX IF NOT EXISTS simapi_targets_chunk
                    ON {self._targets} (run, chunk, state);
                CREATE TABLE IF NOT EXISTS {self._chunks} (
                    run text NOT NULL,
                    chunk integer NOT NULL,
                    lease_owner text,
                    lease_until timestamptz,
                    epoch integer NOT NULL DEFAULT 0,
                    done boolean NOT NULL DEFAULT false,
                    PRIMARY KEY (run, chunk));
                CREATE TABLE IF NOT EXISTS {self._workers} (
                    run text NOT NULL,
                    worker text NOT NULL,
                    first_seen timestamptz NOT NULL DEFAULT now(),
                    last_seen timestamptz NOT NULL DEFAULT now(),
                    chunks_done integer NOT NULL DEFAULT 0,
                    results integer NOT NULL DEFAULT 0,
                    PRIMARY KEY (run, worker));
            """)

    # -- starting and joining ------------------------------------------------------------

    async def start_or_join(self, operation: str, params: dict[str, Any],
                            targets: Iterable[Any] | AsyncIterable[Any], *,
                            chunk_size: int = 500) -> RunInfo:
        """Load the run's targets if the run is new, else join it.

        Targets (numbers, `Target`s, CSV rows) are read once, only by the starter that
        creates the run; invalid ones are recorded as failed and duplicates as skipped,
        so every target read has exactly one final result. Joining a run of another
        operation or other parameters raises `InvalidInputError`. A load that did not
        commit left nothing: a sequence (list, tuple) is loaded again after a dropped
        connection, another iterable (read once only) raises `FleetBackendError`.
        """
        if not isinstance(chunk_size, int) or not 1 <= chunk_size <= 1_000_000:
            raise InvalidInputError("chunk_size", chunk_size, "must be from 1 to 1000000")
        params_json = json.dumps(params, sort_keys=True, default=str)
        consumed = False

        async def attempt() -> RunInfo:
            nonlocal consumed
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))",
                                   _LOCK_NS, self.run)
                info = await self._info(conn)
                if info is not None:
                    self._check_same(info, operation, params_json)
                    return info
                if consumed and not isinstance(targets, Sequence):
                    raise FleetBackendError("postgresql", self._url,
                                            "the connection dropped while loading the targets")
                consumed = True
                return await self._load(conn, operation, params_json, targets, chunk_size)

        return await self._retrying("load the run", attempt)

    async def join(self) -> RunInfo:
        """The run as loaded by its starter (for a worker that joins from anywhere);
        waits for a load in progress. `InvalidInputError` if there is no such run."""
        async def attempt() -> RunInfo | None:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock_shared($1, hashtext($2))",
                                   _LOCK_NS, self.run)
                return await self._info(conn)

        info = await self._retrying("join the run", attempt)
        if info is None:
            raise InvalidInputError("run", self.run, "no such run in the ledger")
        return info

    async def _info(self, conn: Any) -> RunInfo | None:
        row = await conn.fetchrow(
            f"SELECT operation, params::text AS params, total, chunks, duplicates, invalid "
            f"FROM {self._runs} WHERE run = $1", self.run)
        if row is None:
            return None
        return RunInfo(self.run, row["operation"], json.loads(row["params"]), row["total"],
                       row["chunks"], row["duplicates"], row["invalid"], created=False)

    def _check_same(self, info: RunInfo, operation: str, params_json: str) -> None:
        if info.operation != operation or info.params != json.loads(params_json):
            raise InvalidInputError(
                "run", self.run,
                f"the ledger holds this run as {info.operation}({_show(info.params)}), "
                f"not {operation}({_show(json.loads(params_json))}); use another run name",
            )

    async def _load(self, conn: Any, operation: str, params_json: str,
                    targets: Iterable[Any] | AsyncIterable[Any], chunk_size: int) -> RunInfo:
        await conn.execute(
            f"INSERT INTO {self._runs} (run, operation, params, chunk_size) "
            f"VALUES ($1, $2, $3::jsonb, $4)", self.run, operation, params_json, chunk_size)
        counts = {"total": 0, "duplicates": 0, "invalid": 0}
        run = self.run

        async def rows() -> AsyncIterator[tuple[Any, ...]]:
            seen = NumberSet()
            seq = 0
            async for value in _aiter(targets):
                chunk = seq // chunk_size
                try:
                    target = parse_target(value)
                except InvalidInputError as exc:
                    counts["invalid"] += 1
                    yield (run, seq, _shown(value), None, None, chunk, False, _DONE, FAILED,
                           "InvalidInputError", exc.message[:300])
                else:
                    if seen.add(target.number):
                        yield (run, seq, target.number, target.iccid, target.imsi, chunk, True,
                               _PENDING, None, None, None)
                    else:
                        counts["duplicates"] += 1
                        yield (run, seq, target.number, target.iccid, target.imsi, chunk,
                               False, _DONE, SKIPPED, "duplicate", None)
                seq += 1
            counts["total"] = seq

        await conn.copy_records_to_table(
            "simapi_targets", schema_name=self.schema, records=rows(),
            columns=("run", "seq", "number", "iccid", "imsi", "chunk", "valid", "state",
                     "outcome", "reason", "error"))
        chunks = math.ceil(counts["total"] / chunk_size)
        await conn.execute(
            f"INSERT INTO {self._chunks} (run, chunk) "
            f"SELECT $1, g FROM generate_series(0, $2 - 1) AS g", self.run, chunks)
        await conn.execute(
            f"UPDATE {self._runs} SET total = $2, chunks = $3, duplicates = $4, invalid = $5 "
            f"WHERE run = $1", self.run, counts["total"], chunks, counts["duplicates"],
            counts["invalid"])
        log.info("ledger: run %r loaded, %d targets in %d chunks", self.run, counts["total"],
                 chunks)
        return RunInfo(self.run, operation, json.loads(params_json), counts["total"], chunks,
                       counts["duplicates"], counts["invalid"], created=True)

    # -- claiming and leases -------------------------------------------------------------

    async def claim(self, worker: str, lease_seconds: float) -> Chunk | None:
        """Lease the first chunk not done whose lease is free or expired, or None.

        Targets a previous owner had started become outcome unknown here (never handed
        out again); its pending ones are in `Chunk.targets`. A chunk with nothing
        pending left is marked done and the next one tried. Retrying after a dropped
        answer may leave a chunk leased to nobody who knows it: it is taken over once
        its lease expires (nothing was started in it).
        """
        if not lease_seconds > 0:
            raise InvalidInputError("lease_seconds", lease_seconds, "must be > 0")

        async def attempt() -> Chunk | None:
            async with self._pool.acquire() as conn, conn.transaction():
                chunk = await take(conn)
                await self._seen(conn, worker)  # after the chunk's lock: see `_seen`
                return chunk

        async def take(conn: Any) -> Chunk | None:
            while True:
                row = await conn.fetchrow(f"""
                    UPDATE {self._chunks} AS k
                       SET lease_owner = $2, epoch = k.epoch + 1,
                           lease_until = now() + make_interval(secs => $3)
                      FROM (SELECT chunk FROM {self._chunks}
                             WHERE run = $1 AND NOT done
                               AND (lease_until IS NULL OR lease_until < now())
                             ORDER BY chunk LIMIT 1
                             FOR UPDATE SKIP LOCKED) AS free
                     WHERE k.run = $1 AND k.chunk = free.chunk
                 RETURNING k.chunk, k.epoch""", self.run, worker, float(lease_seconds))
                if row is None:
                    return None
                index, epoch = row["chunk"], row["epoch"]
                status = await conn.execute(f"""
                    UPDATE {self._targets}
                       SET state = 'done', outcome = 'unknown', reason = $3,
                           error = 'in flight on ' || coalesce(worker, '?')
                               || ' when its lease ended; not repeated (not idempotent)',
                           updated_at = now()
                     WHERE run = $1 AND chunk = $2 AND state = 'started'""",
                    self.run, index, _LEASE_LOST)
                unknown = int(status.split()[-1])
                pending = await conn.fetch(f"""
                    SELECT seq, number, iccid, imsi FROM {self._targets}
                     WHERE run = $1 AND chunk = $2 AND state = 'pending'
                     ORDER BY seq""", self.run, index)
                if unknown:
                    log.warning("ledger: chunk %d of run %r taken over: %d target(s) in "
                                "flight on the previous owner are now unknown",
                                index, self.run, unknown)
                if pending:
                    return Chunk(self.run, index, worker, epoch, float(lease_seconds),
                                 [Target(r["number"], r["iccid"], r["imsi"])
                                  for r in pending],
                                 unknown, {r["number"]: r["seq"] for r in pending})
                await conn.execute(
                    f"UPDATE {self._chunks} SET done = true, lease_until = NULL "
                    f"WHERE run = $1 AND chunk = $2", self.run, index)

        return await self._retrying("claim a chunk", attempt)

    async def next_chunk(self, worker: str, lease_seconds: float, *,
                         poll: float | None = None) -> Chunk | None:
        """`claim()`, waiting while every chunk left is leased by a live worker; None
        once the run is complete. `poll` defaults to a quarter lease (at most 1 s)."""
        interval = poll if poll is not None else min(lease_seconds / 4, 1.0)
        while True:
            chunk = await self.claim(worker, lease_seconds)
            if chunk is not None:
                return chunk
            if await self.complete():
                return None
            await asyncio.sleep(interval)

    async def complete(self) -> bool:
        """Whether every chunk of the run is done."""
        async def attempt() -> bool:
            async with self._pool.acquire() as conn:
                left = await conn.fetchval(
                    f"SELECT count(*) FROM {self._chunks} WHERE run = $1 AND NOT done",
                    self.run)
                return int(left) == 0

        return await self._retrying("read the run", attempt)

    async def renew(self, chunk: Chunk, lease_seconds: float | None = None) -> bool:
        """Heartbeat: extend the lease; False if it was lost (another worker took the
        chunk): then stop sending its targets."""
        seconds = float(lease_seconds if lease_seconds is not None else chunk.lease_seconds)

        async def attempt() -> bool:
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(f"""
                    UPDATE {self._chunks} SET lease_until = now() + make_interval(secs => $5)
                     WHERE run = $1 AND chunk = $2 AND lease_owner = $3 AND epoch = $4
                       AND NOT done
                 RETURNING chunk""", self.run, chunk.index, chunk.worker, chunk.epoch, seconds)
                await self._seen(conn, chunk.worker)
                return row is not None

        return await self._retrying("renew a lease", attempt)

    def keep_lease(self, chunk: Chunk, *, every: float | None = None) -> LeaseKeeper:
        """`async with ledger.keep_lease(chunk) as lease:` renews the lease in the
        background every `every` seconds (a third of the lease by default); `lease.lost`
        is set when it is gone: stop sending the chunk's targets then."""
        return LeaseKeeper(self, chunk, every if every is not None else chunk.lease_seconds / 3)

    async def _seen(self, conn: Any, worker: str) -> None:
        """The worker's heartbeat row. Every transaction locks a chunk row before the
        worker's row (claim, renew, record_many, finish): one order, no deadlock."""
        await conn.execute(f"""
            INSERT INTO {self._workers} (run, worker) VALUES ($1, $2)
            ON CONFLICT (run, worker) DO UPDATE SET last_seen = now()""", self.run, worker)

    def _fence(self, chunk: int, owner: int, epoch: int) -> str:
        """The lease check of every write: (owner, epoch) still hold the chunk; the
        row lock (FOR SHARE) keeps a concurrent claim out until the write commits.
        The arguments are the numbers of the query's parameters ($1 is the run)."""
        return (f"SELECT 1 FROM {self._chunks} WHERE run = $1 AND chunk = ${chunk} "
                f"AND lease_owner = ${owner} AND epoch = ${epoch} FOR SHARE")

    # -- writing -------------------------------------------------------------------------

    async def mark_started(self, chunk: Chunk, target: Target) -> bool:
        """Write-ahead, committed when this returns True: `target` of a non-idempotent
        operation is about to be sent. False: the lease is lost (or the target was
        started elsewhere); do not send it. Idempotent for the same worker."""
        seq = _seq(chunk, target)

        async def attempt() -> bool:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(f"""
                    WITH lease AS ({self._fence(3, 4, 5)})
                    UPDATE {self._targets} SET state = 'started', worker = $4,
                                               updated_at = now()
                     WHERE run = $1 AND seq = $2 AND EXISTS (SELECT 1 FROM lease)
                       AND (state = 'pending' OR (state = 'started' AND worker = $4))
                 RETURNING seq""", self.run, seq, chunk.index, chunk.worker, chunk.epoch)
                return row is not None

        return await self._retrying("write a started mark", attempt)

    async def mark_started_many(self, chunk: Chunk, targets: Iterable[Target]) -> set[str]:
        """`mark_started` for several targets in one statement: the numbers marked
        (none when the lease is lost)."""
        seqs = {_seq(chunk, t): t.number for t in targets}
        if not seqs:
            return set()

        async def attempt() -> set[str]:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(f"""
                    WITH lease AS ({self._fence(3, 4, 5)})
                    UPDATE {self._targets} SET state = 'started', worker = $4,
                                               updated_at = now()
                     WHERE run = $1 AND seq = ANY($2::int[]) AND EXISTS (SELECT 1 FROM lease)
                       AND (state = 'pending' OR (state = 'started' AND worker = $4))
                 RETURNING seq""", self.run, list(seqs), chunk.index, chunk.worker,
                    chunk.epoch)
                return {seqs[r["seq"]] for r in rows}

        return await self._retrying("write started marks", attempt)

    async def unmark_started(self, chunk: Chunk, targets: Iterable[Target]) -> int:
        """Undo `mark_started` for targets whose request never left (cancelled or refused
        before sending): pending again, for whoever holds the chunk next. How many."""
        seqs = [_seq(chunk, t) for t in targets]
        if not seqs:
            return 0

        async def attempt() -> int:
            async with self._pool.acquire() as conn:
                status = await conn.execute(f"""
                    WITH lease AS ({self._fence(3, 4, 5)})
                    UPDATE {self._targets} SET state = 'pending', worker = NULL,
                                               updated_at = now()
                     WHERE run = $1 AND seq = ANY($2::int[]) AND EXISTS (SELECT 1 FROM lease)
                       AND state = 'started' AND worker = $4""",
                    self.run, seqs, chunk.index, chunk.worker, chunk.epoch)
                return int(status.split()[-1])

        return await self._retrying("undo started marks", attempt)

    async def record(self, chunk: Chunk, result: ItemResult) -> bool:
        """Store one target's final result; False if the lease was lost (nothing
        written: the new owner decides, an in-flight non-idempotent target is unknown)."""
        return await self.record_many(chunk, [result]) == 1

    async def record_many(self, chunk: Chunk, results: Iterable[ItemResult]) -> int:
        """Store several results of `chunk` in one transaction; how many were written
        (0 if the lease was lost). Idempotent: storing a result again changes nothing."""
        rows = [self._result_row(chunk, r) for r in results]
        if not rows:
            return 0

        columns = list(zip(*rows, strict=True))[1:7]  # seq, outcome, ..., elapsed

        async def attempt() -> int:
            # One statement (one round trip, one transaction): the fence and the
            # results. No worker row: concurrent writes of one worker do not queue on it
            # (`status()` counts each worker's results from the targets).
            async with self._pool.acquire() as conn:
                written = await conn.fetchval(f"""
                    WITH lease AS ({self._fence(2, 3, 4)}),
                    done AS (
                        UPDATE {self._targets} AS t
                           SET state = 'done', outcome = u.outcome, reason = u.reason,
                               error = u.error, attempts = u.attempts, elapsed = u.elapsed,
                               worker = $3, updated_at = now()
                          FROM unnest($5::int[], $6::text[], $7::text[], $8::text[],
                                      $9::int[], $10::float8[])
                               AS u(seq, outcome, reason, error, attempts, elapsed)
                         WHERE t.run = $1 AND t.seq = u.seq AND EXISTS (SELECT 1 FROM lease)
                     RETURNING 1)
                    SELECT count(*) FROM done""",
                    self.run, chunk.index, chunk.worker, chunk.epoch, *map(list, columns))
                return int(written)

        return await self._retrying("record results", attempt)

    def _result_row(self, chunk: Chunk, result: ItemResult) -> tuple[Any, ...]:
        seq = _seq(chunk, result.target)
        outcome = result.outcome
        reason: str | None = None
        error: str | None = None
        if result.skipped is not None:
            outcome, reason = SKIPPED, result.skipped
        elif not result.ok:
            if outcome == OK:  # ItemResult's default: a failure is never stored as ok
                outcome = FAILED
            reason = error_reason(result.error)
            if isinstance(result.error, SimApiError):
                error = f"{reason}: {result.error.message}"[:300]
        return (self.run, seq, outcome, reason, error, int(result.attempts),
                float(result.elapsed), chunk.worker)

    async def finish(self, chunk: Chunk) -> bool:
        """Done with `chunk`: marked done when every target of it has its result, else
        let go at once (its pending targets go to the next claimer, started ones become
        unknown). False if the lease was lost already."""
        async def attempt() -> bool:
            async with self._pool.acquire() as conn, conn.transaction():
                held = await conn.fetchrow(f"""
                    SELECT done FROM {self._chunks} WHERE run = $1 AND chunk = $2
                       AND lease_owner = $3 AND epoch = $4 FOR UPDATE""",
                    self.run, chunk.index, chunk.worker, chunk.epoch)
                if held is None:
                    return False
                if held["done"]:
                    return True
                left = await conn.fetchval(
                    f"SELECT count(*) FROM {self._targets} "
                    f"WHERE run = $1 AND chunk = $2 AND state <> 'done'", self.run, chunk.index)
                if left:
                    await conn.execute(
                        f"UPDATE {self._chunks} SET lease_owner = NULL, lease_until = NULL "
                        f"WHERE run = $1 AND chunk = $2", self.run, chunk.index)
                else:
                    await conn.execute(
                        f"UPDATE {self._chunks} SET done = true, lease_until = NULL "
                        f"WHERE run = $1 AND chunk = $2", self.run, chunk.index)
                    await conn.execute(
                        f"UPDATE {self._workers} SET chunks_done = chunks_done + 1 "
                        f"WHERE run = $1 AND worker = $2", self.run, chunk.worker)
                return True

        return await self._retrying("finish a chunk", attempt)

    async def requeue(self, outcomes: Iterable[str] = (UNKNOWN,)) -> int:
        """Hand out again the targets whose final outcome is in `outcomes` (e.g.
        `["unknown"]` for `retry_unknown`, `["failed"]` to retry failures); invalid and
        duplicate targets stay as they are. How many were requeued."""
        wanted = sorted(set(outcomes))

        async def attempt() -> int:
            async with self._pool.acquire() as conn, conn.transaction():
                chunks = await conn.fetch(f"""
                    UPDATE {self._targets}
                       SET state = 'pending', outcome = NULL, reason = NULL, error = NULL
                     WHERE run = $1 AND state = 'done' AND valid AND outcome = ANY($2::text[])
                 RETURNING chunk""", self.run, wanted)
                indexes = sorted({r["chunk"] for r in chunks})
                await conn.execute(
                    f"UPDATE {self._chunks} SET done = false "
                    f"WHERE run = $1 AND chunk = ANY($2::int[])", self.run, indexes)
                return len(chunks)

        return await self._retrying("requeue targets", attempt)

    # -- reading -------------------------------------------------------------------------

    async def status(self) -> RunStatus:
        """Counts by outcome, failures by reason, workers and their leases, the rate."""
        async def attempt() -> RunStatus:
            async with self._pool.acquire() as conn, conn.transaction(
                    isolation="repeatable_read", readonly=True):
                info = await self._info(conn)
                if info is None:
                    raise InvalidInputError("run", self.run, "no such run in the ledger")
                states = await conn.fetch(f"""
                    SELECT state, outcome, count(*) AS n FROM {self._targets}
                     WHERE run = $1 GROUP BY state, outcome""", self.run)
                reasons = await conn.fetch(f"""
                    SELECT coalesce(reason, 'unknown') AS reason, count(*) AS n
                      FROM {self._targets}
                     WHERE run = $1 AND state = 'done' AND outcome IN ('failed', 'unknown')
                     GROUP BY 1 ORDER BY 2 DESC, 1""", self.run)
                chunks = await conn.fetchrow(f"""
                    SELECT count(*) AS n, count(*) FILTER (WHERE done) AS done,
                           count(*) FILTER (WHERE NOT done AND lease_until > now()) AS leased
                      FROM {self._chunks} WHERE run = $1""", self.run)
                workers = await conn.fetch(f"""
                    SELECT w.worker, extract(epoch FROM now() - w.last_seen) AS ago,
                           w.chunks_done, (SELECT count(*) FROM {self._targets} t
                                            WHERE t.run = w.run AND t.worker = w.worker
                                              AND t.state = 'done') AS results,
                           coalesce(array_agg(k.chunk ORDER BY k.chunk)
                                    FILTER (WHERE k.chunk IS NOT NULL), '{{}}') AS held,
                           extract(epoch FROM max(k.lease_until) - now()) AS lease_left
                      FROM {self._workers} w
                      LEFT JOIN {self._chunks} k ON k.run = w.run AND k.lease_owner = w.worker
                           AND NOT k.done AND k.lease_until > now()
                     WHERE w.run = $1 GROUP BY w.run, w.worker, w.last_seen, w.chunks_done
                     ORDER BY w.worker""", self.run)
                recent = await conn.fetchval(f"""
                    SELECT count(*) FROM {self._targets} WHERE run = $1 AND state = 'done'
                       AND updated_at > now() - interval '60 seconds'""", self.run)
            outcomes: dict[str, int] = {}
            pending = in_flight = 0
            for r in states:
                if r["state"] == _DONE:
                    outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + int(r["n"])
                elif r["state"] == _STARTED:
                    in_flight += int(r["n"])
                else:
                    pending += int(r["n"])
            return RunStatus(
                run=self.run, operation=info.operation, params=info.params, total=info.total,
                outcomes=outcomes, pending=pending, in_flight=in_flight,
                reasons={r["reason"]: int(r["n"]) for r in reasons},
                chunks=int(chunks["n"]), chunks_done=int(chunks["done"]),
                chunks_leased=int(chunks["leased"]),
                workers=tuple(WorkerStatus(
                    w["worker"], float(w["ago"]), tuple(w["held"]),
                    None if w["lease_left"] is None else float(w["lease_left"]),
                    int(w["chunks_done"]), int(w["results"])) for w in workers),
                rate=int(recent) / 60.0,
                complete=int(chunks["done"]) == int(chunks["n"]),
            )

        return await self._retrying("read the run's status", attempt)

    async def outcomes(self) -> dict[str, str | None]:
        """number → final outcome (None while not final) of every valid target: for
        reports and tests (a run's worth of rows: use `status()` for counts)."""
        async def attempt() -> dict[str, str | None]:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT number, outcome FROM {self._targets} WHERE run = $1 AND valid",
                    self.run)
                return {r["number"]: r["outcome"] for r in rows}

        return await self._retrying("read the outcomes", attempt)


def _seq(chunk: Chunk, target: Target) -> int:
    try:
        return chunk.seqs[target.number]
    except KeyError:
        raise InvalidInputError("target", target.number,
                                f"is not a pending target of chunk {chunk.index}") from None


def _is_connection_error(exc: BaseException) -> bool:
    """A lost connection or a server (re)starting: worth another try."""
    import asyncpg

    if isinstance(exc, OSError | asyncio.TimeoutError | asyncpg.PostgresConnectionError
                  | asyncpg.exceptions.OperatorInterventionError
                  | asyncpg.exceptions.ConnectionDoesNotExistError
                  # rolled back whole: the same call again is safe (each is idempotent)
                  | asyncpg.exceptions.DeadlockDetectedError
                  | asyncpg.exceptions.SerializationError
                  # the protocol cut mid-operation by a server shutting down
                  | asyncpg.exceptions.InternalClientError):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


async def _aiter(values: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(values, AsyncIterable):
        async for value in values:
            yield value
    else:
        for i, value in enumerate(values):
            yield value
            if i % 4096 == 4095:
                await asyncio.sleep(0)  # a long list: let the COPY write


def _shown(value: Any) -> str:
    try:
        text = str(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text[:64]


def _show(params: Any) -> str:
    if not isinstance(params, dict):
        return ""
    return ", ".join(f"{k}={v!r}" for k, v in params.items())
