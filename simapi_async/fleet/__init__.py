"""Many processes, one account: the engine-backed pieces (extra `fleet`).

- `_redis_limiter.RedisQuota`: a request rate shared through Redis (GCRA in one Lua
  script), and what one process learned of the quota, seen by all.
- `_redis_tokens.RedisTokenStore`: one login per token lifetime across processes.
- `_pg_ledger.PgLedger`: a bulk run's targets in PostgreSQL, drained by any number of
  workers under leases.

`RedisQuota` and `RedisTokenStore` are what `AsyncSession(redis_url=...)` makes; build
them yourself for another key prefix (`prefix=`) or other lock and lease times, and
pass them as `limiter=` / `token_store=`.

Nothing here imports `redis` or `asyncpg` until an object is opened, so the core SDK
imports without the extra installed.
"""

from __future__ import annotations

from ._errors import FleetBackendError
from ._redis_limiter import RedisQuota
from ._redis_tokens import RedisTokenStore

__all__ = ["FleetBackendError", "RedisQuota", "RedisTokenStore"]
