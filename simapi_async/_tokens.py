"""The token store: where sessions share their bearer token (one login among them).

The default is no store: each `TokenManager` logs in for itself. With a store (the
Redis one in the `fleet` extra: `simapi_async.fleet._redis_tokens.RedisTokenStore`)
every session of the same base URL and login, in any process, uses one token:

- `load()`: the stored token, if any, with its expiry (epoch seconds, None when the
  server gave no lifetime) and its generation (bumped at each login).
- `login_once(do_login, stale_generation=...)`: the stored token, or — when there is
  none, or it is of `stale_generation` (the caller saw it rejected by a 401, or due
  for renewal) — one `do_login()` among all callers everywhere; the others wait for
  its token. A failed login raises its error in the waiters too (no login storm).

A store whose backend cannot be reached raises `simapi_async.fleet.FleetBackendError`;
the session's `TokenManager` then logs in on its own for a while (one warning).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import attrs

from ._auth import LoginResult

__all__ = ["StoredToken", "TokenStore"]


@attrs.frozen(slots=True, repr=False)
class StoredToken:
    """A shared token: the token never shows in `repr`."""

    token: str
    expires_at: float | None
    generation: int

    def __repr__(self) -> str:
        return f"StoredToken(token='***', expires_at={self.expires_at!r}, " \
               f"generation={self.generation})"


@runtime_checkable
class TokenStore(Protocol):
    """A token shared by every session of one account (see the module docstring)."""

    async def load(self) -> StoredToken | None: ...

    async def login_once(self, do_login: Callable[[], Awaitable[LoginResult]], *,
                         stale_generation: int | None = None) -> StoredToken: ...

    async def aclose(self) -> None: ...
