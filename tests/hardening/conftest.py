"""Hardening fixtures: sentinel secrets, tiny hostile servers on loopback, emulator helpers."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
from aiohttp import web

import simapi_async as sa

from ..helpers import connected, targets_of, texts_of

__all__ = ["connected", "targets_of", "texts_of"]

#: Secrets that must never show up in any text the SDK produces.
SENTINEL_PASSWORD = "S3NTINEL-pa55-" + "Qx7vR2"
SENTINEL_TOKEN = "SENTINEL-TOKEN-" + "b9c8d7e6f5"
NUMBER = "79181111111"
ICCID = "8970199220150123456"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.define
class Seen:
    """One request a hostile server received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]


@attrs.define
class Server:
    """A tiny aiohttp.web server on 127.0.0.1 and every request it got."""

    base_url: str
    requests: list[Seen] = attrs.field(factory=list)


async def login_ok(request: web.Request) -> web.StreamResponse:
    """The login answer of every hostile server: the sentinel token."""
    return web.json_response({"token": SENTINEL_TOKEN})


@asynccontextmanager
async def serve(handler: Handler, *, login: Handler | None = login_ok) -> AsyncIterator[Server]:
    """Serve `handler` for every path (login answered by `login` unless None)."""
    server = Server("")

    async def route(request: web.Request) -> web.StreamResponse:
        server.requests.append(Seen(request.method, request.path, request.query_string,
                                    dict(request.headers)))
        if login is not None and request.path.endswith("/api/v2/login"):
            return await login(request)
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                           shutdown_timeout=0.2)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        server.base_url = f"http://{host}:{port}"
        yield server
    finally:
        await runner.cleanup()


@asynccontextmanager
async def session_on(base_url: str, **kwargs: Any) -> AsyncIterator[sa.AsyncSession]:
    """A session logging in with the sentinel password."""
    async with sa.AsyncSession(base_url, login="user", password=SENTINEL_PASSWORD,
                               **kwargs) as api:
        yield api








def assert_no_secret(texts: list[str], *secrets: str) -> None:
    """No text holds any of `secrets` (default: the sentinel password and token)."""
    for secret in secrets or (SENTINEL_PASSWORD, SENTINEL_TOKEN):
        for text in texts:
            assert secret not in text, f"secret leaked into: {text[:300]!r}"


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A seeded RNG; the seed is printed so a failing run can be replayed."""
    seed = random.SystemRandom().randrange(2**32)
    print(f"{request.node.name}: seed {seed}")
    return random.Random(seed)
