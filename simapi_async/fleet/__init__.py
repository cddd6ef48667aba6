"""Many processes, one account: the engine-backed pieces (extra `fleet`).

- `_redis_limiter.RedisQuota`: a request rate shared through Redis (GCRA in one Lua
  script), and what one process learned of the quota, seen by all.
- `_redis_tokens.RedisTokenStore`: one login per token lifetime across processes.
- `_pg_ledger.PgLedger`: a bulk run's targets in PostgreSQL, drained by any number of
  workers under leases.

Nothing here imports `redis` or `asyncpg` until an object is opened, so the core SDK
imports without the extra installed.
"""

from __future__ import annotations

from ._errors import FleetBackendError

__all__ = ["FleetBackendError"]
