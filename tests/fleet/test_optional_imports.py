"""The fleet modules import without their drivers; using one without it says what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from simapi_async.fleet._errors import redact_dsn

CHECK = textwrap.dedent("""
    import asyncio, sys
    sys.modules["redis"] = None
    sys.modules["asyncpg"] = None
    import simapi_async
    from simapi_async.fleet._pg_ledger import PgLedger
    from simapi_async.fleet._redis_limiter import RedisQuota
    from simapi_async.fleet._redis_tokens import RedisTokenStore
    for make in (lambda: RedisQuota("redis://h", base_url="u", login="l"),
                 lambda: RedisTokenStore("redis://h", base_url="u", login="l"),
                 lambda: asyncio.run(PgLedger.open("postgresql://h/db", run="r")),
                 lambda: simapi_async.AsyncSession("https://h", login="l", password="p",
                                                   redis_url="redis://h:6379/0")):
        try:
            make()
        except ImportError as exc:
            assert "simapi_async[fleet]" in str(exc), exc
        else:
            raise AssertionError("no ImportError")
    print("ok")
""")


def test_core_and_fleet_modules_import_without_redis_or_asyncpg() -> None:
    """Without redis/asyncpg the SDK imports; opening a backend (or a session with
    redis_url=) raises an install hint naming the `fleet` extra."""
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_redact_dsn_hides_only_the_password() -> None:
    """Redis and PostgreSQL URLs are shown with the password as ***, the rest kept."""
    assert redact_dsn("redis://:hunter2@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact_dsn("postgresql://app:pw@[::1]:5432/fleet?sslmode=require") == \
        "postgresql://app:***@[::1]:5432/fleet?sslmode=require"
    assert redact_dsn("rediss://cache/1") == "rediss://cache/1"
