"""The Python API as an editor shows it, and `with_options` (issue 17)."""

from __future__ import annotations

import datetime as dt
import pydoc

import pytest

import simapi_async as sa
from simapi_async.testing import Emulator


def test_help_lists_every_parameter_and_the_sub_clients() -> None:
    """`help(AsyncSession)` names each parameter on a line and the four sub-clients, and
    `max_retries` shows as `<default: 3>`, not an object address."""
    import inspect

    text = pydoc.render_doc(sa.AsyncSession, renderer=pydoc.plaintext)
    doc = sa.AsyncSession.__doc__ or ""
    for name in inspect.signature(sa.AsyncSession).parameters:
        assert any(line.strip().startswith(name + " ") for line in doc.splitlines()), name
    for sub in ("`sims`", "`packets`", "`cdr`", "`bulk`"):
        assert sub in doc
    assert "max_retries: 'int' = <default: 3>" in text
    assert "object object at" not in text


async def test_with_options_shares_the_pool_and_the_token() -> None:
    """A `with_options` view logs in once with its session, uses the same aiohttp pool,
    and its own retry count: max_retries=0 fails on the first 503, the session retries."""
    async with Emulator(sims=10, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        number = emu.fleet.numbers[0]
        await api.sims.get(number)
        quick = api.with_options(max_retries=0, timeout=5.0)
        await quick.sims.get(number)
        assert quick._client() is api._client()
        assert emu.stats.logins == 1
        emu.fail_next(1, status=503, retry_after=None)
        with pytest.raises(sa.ServerError):
            await quick.sims.get(number)
        emu.fail_next(1, status=503, retry_after=None)
        assert (await api.sims.get(number)).number == number
        await quick.aclose()  # a view closes nothing
        assert not api.closed
        await api.sims.get(number)
    assert api.closed
    with pytest.raises(sa.SimApiError, match="closed"):
        await quick.sims.get(number)


async def test_cdr_internet_date_to_defaults_to_date_from() -> None:
    """`cdr.internet(day)` is that one day, as `simapi cdr export --from DAY` is."""
    async with Emulator(sims=20, seed=1) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        day = dt.date(2026, 10, 5)
        one = [r async for r in api.cdr.internet(day)]
        same = [r async for r in api.cdr.internet(day, day)]
    assert one == same
