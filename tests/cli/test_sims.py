"""`simapi sims ...` and `simapi packets` against the emulator: tables, --json, exit codes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from simapi_async.testing import Emulator, SimState
from tests.cli.conftest import Invoke


def test_list_prints_a_table_of_the_first_page(invoke: Invoke, emu: Emulator,
                                               env: dict[str, str]) -> None:
    """`sims list` shows the page's numbers and the total."""
    result = invoke(["sims", "list", "--limit", "5"], env=env)
    assert result.exit_code == 0, result.output
    for number in emu.fleet.numbers[:5]:
        assert number in result.stdout
    assert emu.fleet.numbers[5] not in result.stdout
    assert "300 SIMs in all" in result.stdout


def test_list_json_has_the_page_and_its_items(invoke: Invoke, emu: Emulator,
                                              env: dict[str, str]) -> None:
    """`sims list --json` is one JSON document with items and paging fields."""
    result = invoke(["sims", "list", "--json", "--page", "2", "--limit", "10"], env=env)
    data = json.loads(result.stdout)
    assert [s["number"] for s in data["items"]] == emu.fleet.numbers[10:20]
    assert (data["page"], data["total"], data["has_next"]) == (2, 300, True)
    assert "raw" not in data["items"][0]


def test_list_all_json_streams_every_sim(invoke: Invoke, emu: Emulator,
                                         env: dict[str, str]) -> None:
    """`sims list --all --json` is a JSON array of every SIM of the filter."""
    inn = emu.fleet.inns[0]
    result = invoke(["sims", "list", "--all", "--json", "--inn", inn, "--limit", "7"], env=env)
    assert result.exit_code == 0, result.output
    assert [s["number"] for s in json.loads(result.stdout)] == emu.fleet.numbers_of(inn)


def test_list_all_table_counts_the_sims(invoke: Invoke, emu: Emulator,
                                        env: dict[str, str]) -> None:
    """`sims list --all` prints a row per SIM and the count."""
    result = invoke(["sims", "list", "--all", "--status", "inactive"], env=env)
    inactive = [n for n in emu.fleet.numbers if emu.fleet.sims[n].status == "inactive"]
    assert f"{len(inactive):,} SIMs" in result.stdout
    assert all(n in result.stdout for n in inactive)


def test_get_by_number_and_by_iccid(invoke: Invoke, emu: Emulator, env: dict[str, str]) -> None:
    """`sims get` finds a SIM by any spelling of its number, or by --iccid."""
    number = emu.fleet.numbers[3]
    sim = emu.fleet.sims[number]
    spelled = f"+7 ({number[1:4]}) {number[4:7]}-{number[7:9]}-{number[9:]}"
    table = invoke(["sims", "get", spelled], env=env)
    assert table.exit_code == 0, table.output
    assert sim.iccid in table.stdout
    assert sim.status in table.stdout
    by_iccid = json.loads(invoke(["sims", "get", "--iccid", sim.iccid, "--json"], env=env).stdout)
    assert (by_iccid["number"], by_iccid["imsi"]) == (number, sim.imsi)


def test_get_needs_exactly_one_of_number_and_iccid(invoke: Invoke, env: dict[str, str]) -> None:
    """`sims get` with neither NUMBER nor --iccid is a usage error."""
    assert invoke(["sims", "get"], env=env).exit_code == 2


def test_get_bad_number_exits_2_before_any_request(invoke: Invoke, emu: Emulator,
                                                   env: dict[str, str]) -> None:
    """A number that is no phone number is bad input: exit 2, nothing sent."""
    result = invoke(["sims", "get", "12-ab"], env=env)
    assert result.exit_code == 2
    assert "invalid NUMBER" in result.stderr  # the argument's name, as in --help
    assert emu.stats.total_requests == 0


def test_get_unknown_number_exits_1(invoke: Invoke, env: dict[str, str]) -> None:
    """A number the API does not know is an API failure: exit 1 with the 404."""
    result = invoke(["sims", "get", "79999999999"], env=env)
    assert result.exit_code == 1
    assert "NotFoundError" in result.stderr


Check = Callable[[SimState], bool]
_LATER = (dt.date.today() + dt.timedelta(days=30)).isoformat()

WRITES: list[tuple[list[str], Check]] = [
    (["block"], lambda s: s.blocked),
    (["block-service", "--service", "sms"], lambda s: "sms" in s.blocked_services),
    (["block-finance"], lambda s: s.finance_blocked),
    (["activate", "--packet-id", "104"], lambda s: s.packet_id == 104),
    (["change-packet", "--packet-id", "105", "--date", _LATER],
     lambda s: s.scheduled_packet == (105, dt.date.fromisoformat(_LATER))),
    (["small-packet"], lambda s: len(s.small_packets) == 1),
    (["send-sms", "--type", "internet"], lambda s: s.sms_sent == ["internet"]),
]


@pytest.mark.parametrize(("args", "check"), WRITES, ids=[w[0][0] for w in WRITES])
def test_write_commands_change_the_sim(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                       args: list[str], check: Check) -> None:
    """Each `sims <write>` command applies its change and says the API's message."""
    number = next(n for n in emu.fleet.numbers if not emu.fleet.sims[n].blocked)
    result = invoke(["sims", args[0], number, *args[1:]], env=env)
    assert result.exit_code == 0, result.output
    assert f"{number}: done" in result.stdout
    assert check(emu.fleet.sims[number])


@pytest.mark.parametrize(("command", "undo", "check"), [
    ("block", "unblock", lambda s: not s.blocked),
    ("block-finance", "unblock-finance", lambda s: not s.finance_blocked),
    ("block-service", "unblock-service", lambda s: not s.blocked_services),
])
def test_unblock_commands_undo_the_block(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                         command: str, undo: str, check: Check) -> None:
    """unblock, unblock-finance and unblock-service lift what the block set."""
    number = next(n for n in emu.fleet.numbers if not emu.fleet.sims[n].blocked)
    service = ["--service", "call"] if "service" in command else []
    iccid = ["--iccid", emu.fleet.sims[number].iccid]
    assert invoke(["sims", command, number, *service, *iccid], env=env).exit_code == 0
    assert invoke(["sims", undo, number, *service, *iccid], env=env).exit_code == 0
    assert check(emu.fleet.sims[number])


def test_bind_and_rebind_move_numbers_between_sims(invoke: Invoke, emu: Emulator,
                                                   env: dict[str, str]) -> None:
    """`sims bind` gives a free number a spare SIM; `sims rebind` moves a number to another."""
    first, second = emu.fleet.spare_sims[:2]
    free = "79990000001"
    assert free not in emu.fleet.sims
    bound = invoke(["sims", "bind", free, "--iccid", first.iccid, "--no-call-forwarding"],
                   env=env)
    assert bound.exit_code == 0, bound.output
    assert emu.fleet.sims[free].iccid == first.iccid
    assert emu.fleet.sims[free].call_forwarding is False
    number = emu.fleet.numbers[0]
    moved = invoke(["sims", "rebind", number, "--imsi", second.imsi, "--json"], env=env)
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["ok"] is True
    assert emu.fleet.sims[number].iccid == second.iccid


def test_write_refused_by_the_api_exits_1(invoke: Invoke, emu: Emulator,
                                          env: dict[str, str]) -> None:
    """An unknown packet is the API's 422: exit 1 with the field's message."""
    result = invoke(["sims", "activate", emu.fleet.numbers[0], "--packet-id", "999"], env=env)
    assert result.exit_code == 1
    assert "UnprocessableEntityError" in result.stderr


def test_write_json_output(invoke: Invoke, emu: Emulator, env: dict[str, str]) -> None:
    """A write with --json prints ok and the API's message as JSON."""
    number = emu.fleet.numbers[1]
    data = json.loads(invoke(["sims", "block-finance", number, "--json"], env=env).stdout)
    assert data == {"number": number, "operation": "block-finance", "ok": True,
                    "message": "SIM card financially blocked."}


def test_packets_table_and_json(invoke: Invoke, emu: Emulator, env: dict[str, str]) -> None:
    """`packets` lists every tariff packet with its small packets, as a table or JSON."""
    table = invoke(["packets"], env=env)
    assert table.exit_code == 0
    for packet in emu.fleet.packets:
        assert packet.name in table.stdout
    data = json.loads(invoke(["packets", "--json"], env=env).stdout)
    assert [p["id"] for p in data] == [p.id for p in emu.fleet.packets]
    assert [s["id"] for s in data[0]["small_packets"]] == \
        [s.id for s in emu.fleet.packets[0].small_packets]
