"""A ledger run and the safe-change options that need a file journal: refused at once,
with a typed error and no password shown, before any connection."""

from __future__ import annotations

import pytest

import simapi_async as sa

LEDGER = "postgresql://fleet:s3cret-pw@127.0.0.1:9/fleet"


@pytest.fixture
async def api() -> sa.AsyncSession:
    return sa.AsyncSession("http://127.0.0.1:9", login="u", password="p",
                           allow_insecure_http=True)


async def test_a_canary_does_not_go_with_a_ledger_run(api: sa.AsyncSession) -> None:
    """The canary counts what is done from a file journal: with a ledger it is refused."""
    with pytest.raises(sa.InvalidInputError) as info:
        await api.bulk.block(["79181111111"], journal=LEDGER, run="night", canary=5)
    assert info.value.field == "canary"
    assert "s3cret-pw" not in str(info.value)


async def test_undoable_does_not_go_with_a_ledger_run(api: sa.AsyncSession) -> None:
    """The ledger keeps no state before: asking for an undoable ledger run is refused
    (and by default a ledger run reads no state for it)."""
    with pytest.raises(sa.InvalidInputError) as info:
        await api.bulk.block(["79181111111"], journal=LEDGER, run="night", undoable=True)
    assert info.value.field == "undoable"
    assert "s3cret-pw" not in str(info.value)


async def test_undo_of_a_ledger_url_is_refused_without_its_password(
        api: sa.AsyncSession) -> None:
    """`undo` reads a file journal; a ledger URL is refused, its password not shown."""
    with pytest.raises(sa.InvalidInputError) as info:
        await api.bulk.undo(LEDGER)
    assert info.value.field == "journal"
    assert "s3cret-pw" not in str(info.value)
    assert "***" in str(info.value)


async def test_a_plan_needs_targets(api: sa.AsyncSession) -> None:
    """`plan` with no targets (a ledger join's None) is a typed error."""
    with pytest.raises(sa.InvalidInputError) as info:
        await api.bulk.plan("block", None)  # type: ignore[arg-type]
    assert info.value.field == "targets"
