"""The shared login: one token per account in Redis, one login per token lifetime.

    store = RedisTokenStore("redis://cache:6379/0", base_url=URL, login=LOGIN)
    token = await store.login_once(do_login)                       # no token yet
    token = await store.login_once(do_login, stale_generation=g)   # g got a 401

Keys (`PREFIX:{HASH}:…`, see `scope_key`): `token` (a hash: token, generation; its
TTL is the token's lifetime, or `unknown_lifetime` when the server gave none), `gen`
(the generation counter; a new or emptied Redis starts it at its clock in µs, so a
generation is never handed out twice, even across a restart), `lock` (the login lock)
and `failed` (a failed login, kept a few seconds so the waiters raise it instead of
each trying their own login).

Single flight across processes: the process that takes the lock (`SET NX PX` with a
random owner) logs in and stores the token, bumps the generation and drops the lock in
one Lua script, and only while it still owns the lock; the others poll (10 ms growing
to 200 ms) until the token is there. A lock holder that dies leaves the lock to expire
(`lock_ttl`), then another process logs in. `stale_generation`: the token of that
generation was rejected; it is replaced only while it is still the stored one, so a
revoked token is replaced once for everybody.

The token is stored in clear: anyone who can read these keys can use the account
until the token expires (see the README on scoping and securing the Redis database).
The token and the Redis password never appear in logs, reprs or errors.

Failures of Redis raise `FleetBackendError`: the caller falls back to its own login
(a login made just before Redis failed is not shared: one extra login).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._auth import LoginResult
from .._exceptions import AuthenticationError, InvalidInputError
from .._tokens import StoredToken
from ._errors import FleetBackendError
from ._redis import RedisBackend, scope_key, text

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisTokenStore"]

log = logging.getLogger("simapi_async")

# KEYS: token, lock, failed -> {token, gen, has_lifetime, pttl, locked, failed} (token nil)
_PEEK = """
local h = redis.call('HMGET', KEYS[1], 'token', 'gen', 'life')
local locked = redis.call('EXISTS', KEYS[2])
local failed = redis.call('GET', KEYS[3])
return {h[1], h[2], h[3], redis.call('PTTL', KEYS[1]), locked, failed}
"""
# KEYS: token, gen, lock; ARGV: owner, token, ttl_ms, has_lifetime, gen_ttl_ms
_STORE = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return false end
if redis.call('EXISTS', KEYS[2]) == 0 then
    -- a new (or restarted, emptied) Redis: start past every generation handed out before
    local t = redis.call('TIME')
    redis.call('SET', KEYS[2], string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2])))
end
local g = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'gen', g, 'life', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[3])
return g
"""
# KEYS: lock, failed; ARGV: owner, failure ('' for none), failure_ttl_ms
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return 1
"""
_GEN_TTL = 7 * 24 * 3600.0


class RedisTokenStore:
    """A `TokenStore` in Redis shared by every session of `base_url` + `login`.

    `client` is a `redis://` / `rediss://` URL or a `redis.asyncio.Redis`. `lock_ttl`
    bounds how long a dead lock holder blocks the others; `wait_timeout` how long a
    waiter waits for another process's login before giving up (`FleetBackendError`).
    A stored token with less than `min_remaining` seconds left counts as missing.
    """

    def __init__(self, client: Redis | str, *, base_url: str, login: str,
                 prefix: str = "simapi", lock_ttl: float = 30.0,
                 wait_timeout: float | None = None, unknown_lifetime: float = 3600.0,
                 min_remaining: float = 1.0, failure_ttl: float = 5.0) -> None:
        for name, value in (("lock_ttl", lock_ttl), ("unknown_lifetime", unknown_lifetime),
                            ("failure_ttl", failure_ttl)):
            if not value > 0:
                raise InvalidInputError(name, value, "must be > 0")
        self._redis = RedisBackend(client)
        scope = scope_key(base_url, login, prefix)
        self._token_key, self._gen_key = f"{scope}:token", f"{scope}:gen"
        self._lock_key, self._failed_key = f"{scope}:lock", f"{scope}:failed"
        self.lock_ttl = lock_ttl
        self.wait_timeout = wait_timeout if wait_timeout is not None else lock_ttl + 30.0
        self.unknown_lifetime = unknown_lifetime
        self.min_remaining = min_remaining
        self.failure_ttl = failure_ttl
        self.logins = 0  # logins made by this store (this process)
        c = self._redis.client
        self._peek_script = c.register_script(_PEEK)
        self._store_script = c.register_script(_STORE)
        self._release_script = c.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"<RedisTokenStore {self._redis!r} key={self._token_key!r}>"

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def _peek(self) -> tuple[StoredToken | None, bool, str | None]:
        """(the stored token, whether a login is in progress, the failure marker)."""
        reply: Any = await self._redis.call("read the token", lambda: self._peek_script(
            keys=[self._token_key, self._lock_key, self._failed_key]))
        token, gen, life, pttl, locked, failed = reply
        stored = None
        token_text = text(token)
        if token_text is not None and int(pttl) > 0:
            has_lifetime = text(life) == "1"
            expires_at = time.time() + int(pttl) / 1000.0 if has_lifetime else None
            stored = StoredToken(token_text, expires_at, int(text(gen) or 0))
        return stored, bool(int(locked)), text(failed)

    async def load(self) -> StoredToken | None:
        """The stored token, or None."""
        stored, _, _ = await self._peek()
        return stored

    def _usable(self, stored: StoredToken | None, stale: int | None) -> bool:
        if stored is None or (stale is not None and stored.generation == stale):
            return False
        return stored.expires_at is None or stored.expires_at - time.time() > self.min_remaining

    async def login_once(self, do_login: Callable[[], Awaitable[LoginResult]], *,
                         stale_generation: int | None = None) -> StoredToken:
        """The stored token, or one login among every caller sharing the key."""
        deadline = time.monotonic() + self.wait_timeout
        delay = 0.01
        failure_before: str | None = None
        first = True
        while True:
            stored, locked, failure = await self._peek()
            if first:
                failure_before, first = failure, False
            elif failure is not None and failure != failure_before:
                _, status, message = failure.split("|", 2)
                raise AuthenticationError(f"login failed (in another process): {message}",
                                          status=int(status))
            if self._usable(stored, stale_generation):
                assert stored is not None
                return stored
            if not locked:
                owner = secrets.token_hex(16)
                if await self._take_lock(owner):
                    result = await self._login_as(owner, do_login, stale_generation)
                    if result is not None:
                        return result
                    continue  # our lock expired during the login: take what is stored
            if time.monotonic() > deadline:
                raise FleetBackendError(
                    "redis", self._redis.url,
                    f"waited {self.wait_timeout:g}s for another process's login")
            await asyncio.sleep(delay)  # another process logs in: poll for its token
            delay = min(delay * 1.5, 0.2)

    async def _take_lock(self, owner: str) -> bool:
        taken = await self._redis.call("take the login lock", lambda: self._redis.client.set(
            self._lock_key, owner, nx=True, px=_ms(self.lock_ttl)))
        return bool(taken)

    async def _login_as(self, owner: str, do_login: Callable[[], Awaitable[LoginResult]],
                        stale: int | None) -> StoredToken | None:
        """Holding the lock: log in and store the token (None if the lock was lost)."""
        try:
            stored, _, _ = await self._peek()  # stored between our look and the lock?
            if self._usable(stored, stale):
                await self._release(owner, "")
                return stored
            result = await do_login()
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(owner, ""))
            raise
        except Exception as exc:
            message = str(getattr(exc, "message", "") or type(exc).__name__)[:300]
            status = getattr(exc, "status", 0)
            marker = f"{secrets.token_hex(4)}|{status if isinstance(status, int) else 0}|{message}"
            with contextlib.suppress(FleetBackendError):
                await self._release(owner, marker)
            raise
        self.logins += 1
        has_lifetime = result.lifetime is not None
        ttl = result.lifetime if result.lifetime is not None else self.unknown_lifetime
        gen: Any = await self._redis.call("store the token", lambda: self._store_script(
            keys=[self._token_key, self._gen_key, self._lock_key],
            args=[owner, result.token, max(_ms(ttl), 1), "1" if has_lifetime else "0",
                  _ms(max(ttl, _GEN_TTL))]))
        if gen is None:
            log.warning("shared login: the login took longer than the lock (%gs); "
                        "using the token another process stored", self.lock_ttl)
            return None
        log.debug("shared login: logged in (token generation %s)", gen)
        return StoredToken(result.token, time.time() + ttl if has_lifetime else None, int(gen))

    async def _release(self, owner: str, failure: str) -> None:
        await self._redis.call("release the login lock", lambda: self._release_script(
            keys=[self._lock_key, self._failed_key],
            args=[owner, failure, _ms(self.failure_ttl)]))


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
