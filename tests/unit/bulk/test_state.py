"""What each bulk operation makes of a SIM's state: already so, the state before, changed."""

from __future__ import annotations

from simapi_async.bulk._state import Seen, already_so, before, changed, seen_of
from simapi_async.models import Sim

ACTIVE = Seen("active", 101, ("sms",), False)
BLOCKED = Seen("blocked", 102, (), True)
UNKNOWN = Seen(None, None, None, None)


def test_already_so_gives_the_reason_per_operation() -> None:
    """Each operation names why it would change nothing, or says None."""
    assert already_so("block", {}, BLOCKED) == "already blocked"
    assert already_so("block", {}, ACTIVE) is None
    assert already_so("unblock", {}, ACTIVE) == "not blocked"
    assert already_so("block_service", {"service": "sms"}, ACTIVE) == \
        "service sms already blocked"
    assert already_so("unblock_service", {"service": "call"}, ACTIVE) == \
        "service call not blocked"
    assert already_so("block_finance", {}, BLOCKED) == "already financially blocked"
    assert already_so("change_packet", {"packet_id": 101, "date": "2026-12-01"}, ACTIVE) == \
        "already on packet 101"
    assert already_so("activate", {"packet_id": 101}, ACTIVE) == \
        "already active on packet 101"
    assert already_so("send_sms", {"type": "call"}, ACTIVE) is None


def test_an_unknown_state_is_never_already_so_and_records_nothing() -> None:
    """A state the server did not report is sent (never skipped) and has no state before."""
    for op, kw in (("block", {}), ("block_service", {"service": "sms"}),
                   ("block_finance", {}), ("change_packet", {"packet_id": 1})):
        assert already_so(op, kw, UNKNOWN) is None
        assert before(op, kw, UNKNOWN) is None


def test_before_and_changed() -> None:
    """The state before is the value the operation sets; changed compares it with the
    operation's own target value."""
    assert before("block", {}, ACTIVE) == {"blocked": False}
    assert changed("block", {}, {"blocked": False})
    assert not changed("block", {}, {"blocked": True})
    assert before("change_packet", {"packet_id": 103}, ACTIVE) == {"packet_id": 101}
    assert changed("change_packet", {"packet_id": 103}, {"packet_id": 101})
    assert not changed("change_packet", {"packet_id": 101}, {"packet_id": 101})
    assert before("send_sms", {"type": "call"}, ACTIVE) is None
    assert not changed("block", {}, {})


def test_seen_of_reads_the_financial_block_from_the_raw_object() -> None:
    """finance_blocked is not a model field: it is read from `raw` (bool, 0/1, text)."""
    assert seen_of(Sim(status="active", raw={"finance_blocked": True})).finance_blocked
    assert seen_of(Sim(raw={"finance_blocked": "0"})).finance_blocked is False
    assert seen_of(Sim(raw={})).finance_blocked is None
