"""The shared login in a real Redis: one login among processes, stale tokens, dead holders."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from simapi_async._auth import LoginResult
from simapi_async._exceptions import AuthenticationError
from simapi_async._tokens import TokenStore
from simapi_async.fleet import FleetBackendError
from simapi_async.fleet._redis import scope_key
from simapi_async.fleet._redis_tokens import RedisTokenStore

from ._servers import RedisServer

BASE_URL = "https://sim.example/api/v2"


class Server:
    """A login endpoint that counts logins and can hold them until released."""

    def __init__(self, lifetime: float | None = 300.0) -> None:
        self.logins = 0
        self.lifetime = lifetime
        self.release = asyncio.Event()
        self.release.set()
        self.entered = asyncio.Event()

    async def login(self) -> LoginResult:
        self.logins += 1
        self.entered.set()
        await self.release.wait()
        return LoginResult(f"token-{self.logins}", self.lifetime)


@pytest.fixture
async def stores(redis_url: str, redis_prefix: str
                 ) -> AsyncIterator[Callable[..., RedisTokenStore]]:
    made: list[RedisTokenStore] = []

    def make(**kw: object) -> RedisTokenStore:
        store = RedisTokenStore(redis_url, base_url=BASE_URL, login="acme",
                                prefix=redis_prefix, **kw)  # type: ignore[arg-type]
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


async def test_eight_clients_at_once_log_in_exactly_once(
        stores: Callable[..., RedisTokenStore]) -> None:
    """8 sessions with their own Redis clients asking at once: one login, one token."""
    server = Server()
    server.release.clear()
    clients = [stores() for _ in range(8)]
    assert all(isinstance(c, TokenStore) for c in clients)
    tasks = [asyncio.ensure_future(c.login_once(server.login)) for c in clients]
    await server.entered.wait()
    server.release.set()
    tokens = await asyncio.gather(*tasks)
    assert server.logins == 1
    assert len({(t.token, t.generation) for t in tokens}) == 1
    assert tokens[0].token == "token-1"
    assert sum(c.logins for c in clients) == 1
    loaded = await clients[3].load()
    assert loaded is not None
    assert loaded.token == "token-1"
    assert loaded.expires_at is not None


async def test_stale_generation_is_replaced_once_for_everybody(
        stores: Callable[..., RedisTokenStore]) -> None:
    """4 clients reporting the same rejected token at once: exactly one new login."""
    server = Server()
    first = await stores().login_once(server.login)
    server.release.clear()
    clients = [stores() for _ in range(4)]
    tasks = [asyncio.ensure_future(c.login_once(server.login, stale_generation=first.generation))
             for c in clients]
    await server.entered.wait()
    server.release.set()
    tokens = await asyncio.gather(*tasks)
    assert server.logins == 2
    assert {(t.token, t.generation) for t in tokens} == {("token-2", first.generation + 1)}
    # a late 401 for the first token changes nothing now
    late = await stores().login_once(server.login, stale_generation=first.generation)
    assert (late.token, server.logins) == ("token-2", 2)


async def test_dead_lock_holder_blocks_only_until_the_lock_expires(
        stores: Callable[..., RedisTokenStore], redis_url: str, redis_prefix: str) -> None:
    """A holder that died without releasing the lock: another logs in after its TTL."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    lock = scope_key(BASE_URL, "acme", redis_prefix) + ":lock"
    assert await client.set(lock, "dead-owner", nx=True, px=300)
    server = Server()
    token = await stores(lock_ttl=0.3).login_once(server.login)
    assert (token.token, server.logins) == ("token-1", 1)
    assert await client.exists(lock) == 0
    await client.aclose()


async def test_cancelled_login_gives_the_lock_back(stores: Callable[..., RedisTokenStore]) -> None:
    """A caller cancelled while logging in releases the lock: the next logs in at once."""
    server = Server()
    server.release.clear()
    task = asyncio.ensure_future(stores().login_once(server.login))
    await server.entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    server.release.set()
    token = await stores(lock_ttl=60.0, wait_timeout=5.0).login_once(server.login)
    assert token.token == "token-2"


async def test_failed_login_is_raised_in_every_waiter_not_retried(
        stores: Callable[..., RedisTokenStore]) -> None:
    """A refused login (bad password) reaches the waiters: one attempt, no storm."""
    attempts = 0
    entered = asyncio.Event()
    fail = asyncio.Event()

    async def refused() -> LoginResult:
        nonlocal attempts
        attempts += 1
        entered.set()
        await fail.wait()
        raise AuthenticationError("invalid login or password", status=401)

    clients = [stores() for _ in range(4)]
    peeked = [asyncio.Event() for _ in clients]
    for client, event in zip(clients, peeked, strict=True):
        def spy(real: Callable[[], Awaitable[object]] = client._peek,
                event: asyncio.Event = event) -> Awaitable[object]:
            event.set()
            return real()
        client._peek = spy  # type: ignore[method-assign,assignment]
    tasks = [asyncio.ensure_future(c.login_once(refused)) for c in clients]
    await entered.wait()
    for event in peeked:
        await event.wait()  # every client has looked at the store before the failure
    fail.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert attempts == 1
    assert all(isinstance(r, AuthenticationError) and r.status == 401 for r in results)


async def test_token_key_lives_as_long_as_the_token(
        stores: Callable[..., RedisTokenStore], redis_url: str, redis_prefix: str) -> None:
    """The token's key expires with the token; with no lifetime, after unknown_lifetime."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    key = scope_key(BASE_URL, "acme", redis_prefix) + ":token"
    first = await stores().login_once(Server(lifetime=120.0).login)
    assert 110_000 < await client.pttl(key) <= 120_000
    stored = await stores().login_once(Server(lifetime=None).login,
                                       stale_generation=first.generation)
    assert stored.expires_at is None
    assert 3_500_000 < await client.pttl(key) <= 3_600_000
    await client.aclose()


async def test_token_and_redis_password_never_shown(own_redis_server: RedisServer) -> None:
    """repr of the store and token, and the error of a dead Redis, hold no secret."""
    url = f"redis://:s3cretpw@127.0.0.1:{own_redis_server.port}/0"
    own_redis_server.stop()
    store = RedisTokenStore(url, base_url=BASE_URL, login="acme", wait_timeout=1.0)
    try:
        assert "s3cretpw" not in repr(store)
        with pytest.raises(FleetBackendError) as caught:
            await store.load()
        assert "s3cretpw" not in str(caught.value)
        assert ":***@127.0.0.1" in caught.value.url
    finally:
        await store.aclose()


def test_stored_token_repr_hides_the_token() -> None:
    """StoredToken's repr shows its expiry and generation, never the token."""
    from simapi_async._tokens import StoredToken

    assert "abc123" not in repr(StoredToken("abc123", None, 3))


PROCESS_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    import redis.asyncio
    from simapi_async._auth import LoginResult
    from simapi_async.fleet._redis_tokens import RedisTokenStore

    async def main(url, prefix, logins_file, n, mode):
        client = redis.asyncio.Redis.from_url(url)
        store = RedisTokenStore(url, base_url="https://sim.example/api/v2", login="acme",
                                prefix=prefix, lock_ttl=float(sys.argv[6]))

        async def do_login():
            with open(logins_file, "a") as f:
                f.write("login\\n")
            if mode == "hang":
                print("in login", flush=True)
                await asyncio.sleep(3600)
            while int(await client.get(prefix + ":arrived") or 0) < int(n):
                await asyncio.sleep(0.01)  # every process is asking by now
            return LoginResult("shared-token", 300.0)

        await client.incr(prefix + ":arrived")
        token = await store.login_once(do_login)
        print(token.token, flush=True)

    asyncio.run(main(*sys.argv[1:6]))
""")


async def _spawn(tmp: Path, *args: str) -> asyncio.subprocess.Process:
    script = tmp / "login.py"
    script.write_text(PROCESS_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return await asyncio.create_subprocess_exec(sys.executable, str(script), *args,
                                                stdout=asyncio.subprocess.PIPE, env=env)


async def test_four_processes_log_in_once(redis_url: str, redis_prefix: str,
                                          tmp_path: Path) -> None:
    """4 OS processes needing a token at once: one login among them, one token."""
    logins = tmp_path / "logins.txt"
    procs = [await _spawn(tmp_path, redis_url, redis_prefix, str(logins), "4", "ok", "30")
             for _ in range(4)]
    outs = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert {out.decode().strip() for out, _ in outs} == {"shared-token"}
    assert logins.read_text().count("login") == 1


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
async def test_sigkilled_lock_holder_process(stores: Callable[..., RedisTokenStore],
                                             redis_url: str, redis_prefix: str,
                                             tmp_path: Path) -> None:
    """A process killed with SIGKILL mid-login: after the lock TTL another process logs in."""
    logins = tmp_path / "logins.txt"
    proc = await _spawn(tmp_path, redis_url, redis_prefix, str(logins), "1", "hang", "0.5")
    assert proc.stdout is not None
    assert await proc.stdout.readline() == b"in login\n"
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    server = Server()
    token = await stores().login_once(server.login)
    assert (token.token, server.logins) == ("token-1", 1)


README_ACL = ("+get +set +del +exists +incr +incrby +pexpire +pttl +hget +hmget +hset +time "
              "+evalsha +eval +script")


async def test_readme_acl_is_enough_for_the_shared_pieces(redis_url: str,
                                                          redis_prefix: str) -> None:
    """The Redis ACL the README gives (key pattern and commands) runs quota and login."""
    import redis.asyncio

    from simapi_async.fleet._redis_limiter import RedisQuota

    admin = redis.asyncio.Redis.from_url(redis_url)
    user = f"u-{redis_prefix}"
    await admin.execute_command("ACL", "SETUSER", user, "reset", "on", ">pw-of-test",
                                f"~{redis_prefix}:*", *README_ACL.split())
    url = redis_url.replace("redis://", f"redis://{user}:pw-of-test@")
    store = RedisTokenStore(url, base_url=BASE_URL, login="acme", prefix=redis_prefix)
    quota = RedisQuota(url, base_url=BASE_URL, login="acme", prefix=redis_prefix)
    other = RedisTokenStore(url, base_url=BASE_URL, login="acme", prefix="elsewhere")
    try:
        assert (await store.login_once(Server().login)).token == "token-1"
        await quota.reserve(10.0)
        await quota.publish(5.0, pause_seconds=0.1)
        assert (await quota.snapshot()).rate == 5.0
        assert (await quota.sync(3, owner="me", lease=1.0, rate=6.0)).leader
        with pytest.raises(FleetBackendError):  # keys outside the prefix are refused
            await other.load()
    finally:
        await store.aclose()
        await quota.aclose()
        await other.aclose()
        await admin.execute_command("ACL", "DELUSER", user)
        await admin.aclose()


async def test_redis_restart_loses_the_token_and_the_next_caller_logs_in(
        own_redis_server: RedisServer) -> None:
    """After a Redis restart (no persistence) the store is empty: one new login, and its
    generation is a new one (a late 401 for the old token cannot discard the new)."""
    store = RedisTokenStore(own_redis_server.url, base_url=BASE_URL, login="acme")
    try:
        server = Server()
        old = await store.login_once(server.login)
        await asyncio.to_thread(own_redis_server.restart)
        assert await store.load() is None
        again = await store.login_once(server.login, stale_generation=old.generation)
        assert (again.token, server.logins) == ("token-2", 2)
        assert again.generation > old.generation
        late = await store.login_once(server.login, stale_generation=old.generation)
        assert (late.token, server.logins) == ("token-2", 2)
    finally:
        await store.aclose()
