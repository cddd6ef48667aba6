"""What the Redis pieces share: the client, the key scope, the error wrapping."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .._exceptions import InvalidInputError
from ._errors import FleetBackendError, redact_dsn, require

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisBackend", "check_redis_url", "scope_key"]

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


def check_redis_url(url: object, field: str = "redis_url") -> str:
    """`url` if it is a `redis://`, `rediss://` (TLS) or `unix://` URL Redis can be
    reached at; else `InvalidInputError` (the value shown without its password)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError(field, url if not isinstance(url, str) else "",
                                "must be a redis://host:port/db (or rediss://, unix://) URL")
    shown = redact_dsn(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidInputError(field, shown, "is not a URL (a bad port?)") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise InvalidInputError(field, shown, "must start with redis://, rediss:// or unix://")
    if parts.scheme == "unix":
        if not parts.path:
            raise InvalidInputError(field, shown, "must name the socket: unix:///path")
        return url.strip()
    if not parts.hostname:
        raise InvalidInputError(field, shown, "must name a host: redis://host:6379/0")
    if port == 0:
        raise InvalidInputError(field, shown, "must not have port 0")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise InvalidInputError(field, shown, "must end in a database number (/0) or nothing")
    return url.strip()


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
