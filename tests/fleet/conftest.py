"""Fixtures of the fleet tests: a real `redis-server` and a real PostgreSQL.

Both are started once per test session on free loopback ports (see `_servers.py`).
Each test gets its own namespace in them: a fresh database (`pg_url`) or a fresh key
prefix (`redis_prefix`). Without the binaries or the Python clients the tests skip
with an install hint; with `CI=true` that is a failure instead (CI must run them).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Iterator

import pytest

from ._servers import PostgresServer, RedisServer, find_postgres, find_redis

_ids = itertools.count(1)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the fleet tests must run)", pytrace=False)
    pytest.skip(reason)


def _need_module(name: str) -> None:
    if importlib.util.find_spec(name) is None:
        _unavailable(f"the {name} package is not installed: pip install -e '.[fleet]'")


def _start_redis() -> RedisServer:
    binary = find_redis()
    if binary is None:
        _unavailable("redis-server not found: apt-get install redis-server")
        raise AssertionError("unreachable")
    server = RedisServer(binary)
    server.start()
    return server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One `redis-server` for the whole test session."""
    _need_module("redis")
    server = _start_redis()
    yield server
    server.close()


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A `redis-server` of this test alone (for tests that stop or restart it)."""
    _need_module("redis")
    server = _start_redis()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses."""
    return f"simapi-test-{os.getpid()}-{next(_ids)}"


def _start_postgres() -> PostgresServer:
    _need_module("asyncpg")
    bindir = find_postgres()
    if bindir is None:
        _unavailable("PostgreSQL binaries (initdb, postgres) not found: "
                     "apt-get install postgresql")
        raise AssertionError("unreachable")
    server = PostgresServer(bindir)
    server.start()
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole test session."""
    server = _start_postgres()
    yield server
    server.close()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of this test alone (for tests that stop or restart it)."""
    server = _start_postgres()
    yield server
    server.close()


@pytest.fixture
async def pg_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database of this test."""
    import asyncpg

    name = f"t{os.getpid()}_{next(_ids)}"
    conn = await asyncpg.connect(postgres_server.url())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return postgres_server.url(name)
