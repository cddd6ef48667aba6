"""Helpers shared by the integration and hardening tests (imported, not fixtures)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import simapi_async as sa
from simapi_async.testing import Emulator


@asynccontextmanager
async def connected(emu: Emulator, **kwargs: Any) -> AsyncIterator[sa.AsyncSession]:
    """A session on `emu` with its credentials."""
    async with sa.AsyncSession(emu.base_url, login=emu.login, password=emu.password,
                               **kwargs) as api:
        yield api


def targets_of(emu: Emulator, count: int | None = None) -> list[sa.Target]:
    """Targets with their ICCIDs (no lookups): the first `count` SIMs of the fleet."""
    numbers = emu.fleet.numbers if count is None else emu.fleet.numbers[:count]
    return [sa.Target(n, iccid=emu.fleet.sims[n].iccid) for n in numbers]


def texts_of(exc: BaseException) -> list[str]:
    """str and repr of an exception and of everything chained under it, with url/body."""
    out: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        out += [str(current), repr(current), str(getattr(current, "url", "")),
                repr(getattr(current, "body", "")), repr(getattr(current, "headers", ""))]
        current = current.__cause__ or current.__context__
    return out


async def take(it: Any, count: int) -> list[Any]:
    """The first `count` items of an async iterator, closing it after."""
    out: list[Any] = []
    async with contextlib.aclosing(it):
        async for item in it:
            out.append(item)
            if len(out) >= count:
                break
    return out
