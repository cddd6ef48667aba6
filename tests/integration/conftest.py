"""Integration fixtures: the emulator on loopback and a session logged in to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from simapi_async.testing import Emulator

from ..helpers import connected, targets_of

__all__ = ["connected", "targets_of"]



@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(sims=300, seed=7) as emulator:
        yield emulator

