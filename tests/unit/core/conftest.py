"""Fixtures for the HTTP-layer unit tests (aioresponses: no sockets)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aioresponses import aioresponses

import simapi_async as sa

BASE = "https://portal.example"
NUMBER = "79181111111"
ICCID = "8970199220150123456"
PASSWORD = "S3ntinel-Pa55word"
TOKEN = "tok-SENTINEL-1234567890"


def url_re(path: str) -> re.Pattern[str]:
    """A pattern for `path` under the base URL, with any query string."""
    return re.compile("^" + re.escape(f"{BASE}/{path}") + r"(\?.*)?$")


LOGIN = url_re("api/v2/login")
BLOCK = url_re(f"api/v2/sim/block/{NUMBER}")
SMS = url_re(f"api/v2/sim/send-sms/{NUMBER}")


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def api() -> AsyncIterator[sa.AsyncSession]:
    async with sa.AsyncSession(BASE, login="user", password=PASSWORD) as session:
        yield session


def login_ok(m: aioresponses, token: str = TOKEN, repeat: bool = False, **extra: Any) -> None:
    m.post(LOGIN, payload={"token": token, **extra}, repeat=repeat)


def block(api: sa.AsyncSession) -> Any:
    return api.request("block", {"number": NUMBER, "iccid": ICCID})


def sent_queries(m: aioresponses, method: str, pattern: re.Pattern[str]) -> list[list[Any]]:
    """The query (name, value) pairs of each recorded call to URLs matching `pattern`."""
    return [list(url.query.items()) for (meth, url), items in m.requests.items()
            if meth == method and pattern.match(str(url)) for _ in items]


def calls(m: aioresponses, method: str, pattern: re.Pattern[str]) -> list[Any]:
    """The recorded calls to URLs matching `pattern`."""
    out: list[Any] = []
    for (meth, url), items in m.requests.items():
        if meth == method and pattern.match(str(url)):
            out.extend(items)
    return out
