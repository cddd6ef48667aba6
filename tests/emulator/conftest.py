"""Fixtures of the emulator tests: a started emulator and a raw aiohttp client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import attrs
import pytest

from simapi_async.testing import Emulator


@attrs.frozen
class Reply:
    """What came back: status, parsed JSON (or text), headers."""

    status: int
    body: Any
    headers: Mapping[str, str]
    text: str


class Client:
    """Raw aiohttp requests to the emulator, with a bearer token unless told otherwise."""

    def __init__(self, http: aiohttp.ClientSession, token: str | None) -> None:
        self.http = http
        self.token = token

    async def __call__(
        self, method: str, path: str, *, params: Any = None, json: Any = None,
        auth: bool = True, headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if auth and self.token is not None:
            sent["Authorization"] = f"Bearer {self.token}"
        async with self.http.request(method, path.lstrip("/"), params=params, json=json,
                                     headers=sent) as r:
            text = await r.text()
            body: Any = text
            if r.content_type == "application/json" and text:
                body = await r.json()
            return Reply(r.status, body, r.headers, text)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A started emulator: 200 SIM cards, seed 1, default shapes and no faults."""
    async with Emulator(sims=200, seed=1) as e:
        yield e


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[aiohttp.ClientSession]:
    """One raw aiohttp session pointed at `emu`."""
    async with aiohttp.ClientSession(emu.base_url + "/") as s:
        yield s


@pytest.fixture
def anon(http: aiohttp.ClientSession) -> Client:
    """A client without a token."""
    return Client(http, None)


@pytest.fixture
def api(emu: Emulator, http: aiohttp.ClientSession) -> Client:
    """A client holding a token issued by `emu` (no login request made)."""
    return Client(http, emu.issue_token())


@pytest.fixture
def creds(emu: Emulator) -> dict[str, str]:
    """The query parameters of a successful login."""
    return {"login": emu.login, "password": emu.password}
