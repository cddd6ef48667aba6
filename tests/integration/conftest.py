"""Integration fixtures: the emulator on loopback and a session logged in to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

import simapi_async as sa
from simapi_async.testing import Emulator

Connect = Callable[..., Any]


@asynccontextmanager
async def connected(emu: Emulator, **kwargs: Any) -> AsyncIterator[sa.AsyncSession]:
    """A session on `emu` with its credentials."""
    async with sa.AsyncSession(emu.base_url, login=emu.login, password=emu.password,
                               **kwargs) as api:
        yield api


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(sims=300, seed=7) as emulator:
        yield emulator


def targets_of(emu: Emulator, count: int | None = None) -> list[sa.Target]:
    """Targets with their ICCIDs (no lookups), first `count` of the fleet."""
    numbers = emu.fleet.numbers if count is None else emu.fleet.numbers[:count]
    return [sa.Target(n, iccid=emu.fleet.sims[n].iccid) for n in numbers]
