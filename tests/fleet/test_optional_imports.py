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


LEDGER_CHECK = textwrap.dedent("""
    import asyncio, sys
    sys.modules["asyncpg"] = None
    import simapi_async, simapi_async.cli, simapi_async.bulk
    assert "simapi_async.fleet._ledger_journal" not in sys.modules
    from simapi_async.bulk._journal_protocol import open_journal
    journal = open_journal("postgresql://h/db", "block", {}, targets=[], run="r")
    try:
        asyncio.run(journal.load())
    except ImportError as exc:
        assert "simapi_async[fleet]" in str(exc), exc
    else:
        raise AssertionError("no ImportError")
    print("ok")
""")


def test_ledger_journal_is_imported_only_for_a_postgresql_url() -> None:
    """The core, bulk and CLI import without asyncpg and without the ledger journal; a
    postgresql:// journal then says what to install."""
    done = subprocess.run([sys.executable, "-c", LEDGER_CHECK], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
