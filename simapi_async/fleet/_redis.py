"""What the Redis pieces share: the client, the key scope, the error wrapping."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._exceptions import InvalidInputError
from ._errors import FleetBackendError, redact_dsn, require

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisBackend", "scope_key"]

T = TypeVar("T")
_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def scope_key(base_url: str, login: str, prefix: str = "simapi") -> str:
    """`PREFIX:{HASH}`: the Redis key prefix of one account (base URL + login).

    The login is hashed, so keys do not show it; the braces are a Redis Cluster hash
    tag (all keys of an account live in one slot, as the Lua scripts need).
    """
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise InvalidInputError("prefix", prefix,
                                "must be 1 to 64 of letters, digits and _.:-")
    digest = hashlib.sha256(f"{base_url.rstrip('/')}|{login}".encode()).hexdigest()[:16]
    return f"{prefix}:{{{digest}}}"


class RedisBackend:
    """A `redis.asyncio` client (made from a URL or given) and the calls' error wrapping.

    Every failure of Redis (unreachable, restarted mid-call, an ACL refusing a command)
    becomes `FleetBackendError`; the URL shown has no password.
    """

    def __init__(self, client: Redis | str, *, timeout: float = 2.0) -> None:
        require("redis")
        if isinstance(client, str):
            import redis.asyncio
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff

            self.url = client
            # Two more tries on a fresh connection: a pooled connection to a Redis that
            # restarted since fails once, then the next one works. (A script run twice
            # because its answer was lost only takes one more slot: slower, never faster.)
            self.client: Redis = redis.asyncio.Redis.from_url(
                client, socket_timeout=timeout, socket_connect_timeout=timeout,
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2))
            self._owned = True
        else:
            kwargs = client.connection_pool.connection_kwargs
            self.url = f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
            self.client = client
            self._owned = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redact_dsn(self.url)}>"

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Await `fn()`; a Redis failure becomes `FleetBackendError`."""
        import redis.exceptions

        try:
            return await fn()
        except (redis.exceptions.RedisError, OSError) as exc:
            raise FleetBackendError("redis", self.url,
                                    f"cannot {what}: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        """Close the client if it was made here from a URL."""
        if self._owned:
            await self.client.aclose()


def text(value: Any) -> str | None:
    """A Redis reply as `str` (the client may or may not decode responses)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
