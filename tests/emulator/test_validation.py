"""Strictness: each documented misuse is rejected with Laravel's status and body."""

from __future__ import annotations

import pytest

from simapi_async.testing import Emulator, SimState

from .conftest import Client


def _sim(emu: Emulator, index: int = 0) -> SimState:
    return emu.fleet.sims[emu.fleet.numbers[index]]


@pytest.mark.parametrize("number", ["123", "89181111111", "7918111111x", "791811111111"])
async def test_bad_number_is_422(api: Client, number: str) -> None:
    """A path number not matching ^7\\d{10}$ answers 422 with errors.number."""
    r = await api("GET", f"api/v2/sim/{number}")
    assert r.status == 422
    assert r.body == {"message": "The number format is invalid.",
                      "errors": {"number": ["The number format is invalid."]}}


async def test_bad_number_on_write_is_422(emu: Emulator, api: Client) -> None:
    """Writes validate the path number too, before anything is looked up."""
    r = await api("POST", "api/v2/sim/block/8918", params={"iccid": _sim(emu).iccid})
    assert r.status == 422
    assert r.body["errors"] == {"number": ["The number format is invalid."]}


async def test_unknown_number_is_404(emu: Emulator, api: Client) -> None:
    """A well-formed number that is not in the fleet answers 404 "SIM card not found."."""
    number = "79999999999"
    assert number not in emu.fleet.sims
    r = await api("POST", f"api/v2/sim/block/{number}", params={"iccid": _sim(emu).iccid})
    assert r.status == 404
    assert r.body == {"message": "SIM card not found."}


async def test_iccid_of_another_sim_is_422(emu: Emulator, api: Client) -> None:
    """An iccid that belongs to another SIM answers 422 errors.iccid and changes nothing."""
    sim, other = _sim(emu, 0), _sim(emu, 1)
    before = (sim.blocked, sim.status)
    r = await api("POST", f"api/v2/sim/block/{sim.number}", params={"iccid": other.iccid})
    assert r.status == 422
    assert r.body["errors"] == {"iccid": ["The iccid does not match the number."]}
    assert (sim.blocked, sim.status) == before
    assert emu.stats.writes.total() == 0


async def test_imsi_of_another_sim_is_422(emu: Emulator, api: Client) -> None:
    """An imsi that belongs to another SIM answers 422 errors.imsi."""
    sim, other = _sim(emu, 0), _sim(emu, 1)
    r = await api("POST", f"api/v2/sim/block-finance/{sim.number}", params={"imsi": other.imsi})
    assert r.status == 422
    assert list(r.body["errors"]) == ["imsi"]
    assert sim.finance_blocked is False


async def test_missing_one_of_is_422(emu: Emulator, api: Client) -> None:
    """Neither iccid nor imsi: 422 with Laravel's required_without message for both."""
    r = await api("POST", f"api/v2/sim/unblock/{_sim(emu).number}")
    assert r.status == 422
    assert r.body["errors"] == {
        "imsi": ["The imsi field is required when iccid is not present."],
        "iccid": ["The iccid field is required when imsi is not present."],
    }


async def test_query_params_sent_in_body_count_as_missing(emu: Emulator, api: Client) -> None:
    """block reads iccid from the query only: the same value in a JSON body is missing."""
    sim = _sim(emu)
    r = await api("POST", f"api/v2/sim/block/{sim.number}", json={"iccid": sim.iccid})
    assert r.status == 422
    assert "iccid" in r.body["errors"]


async def test_body_params_sent_in_query_count_as_missing(emu: Emulator, api: Client) -> None:
    """activate reads packet_id and iccid from the JSON body only: query values are missing."""
    sim = _sim(emu)
    r = await api("POST", f"api/v2/sim/{sim.number}",
                  params={"packet_id": "101", "iccid": sim.iccid})
    assert r.status == 422
    assert r.body["errors"]["packet_id"] == ["The packet id field is required."]
    assert "iccid" in r.body["errors"]


async def test_invalid_json_body_counts_as_empty(emu: Emulator, api: Client) -> None:
    """A body that is not a JSON object is no input at all: 422 for the required type."""
    r = await api("POST", f"api/v2/sim/send-sms/{_sim(emu).number}", json=["call"])
    assert r.status == 422
    assert r.body["errors"] == {"type": ["The type field is required."]}


@pytest.mark.parametrize("value", ["data", "voice", "INTERNET"])
async def test_service_type_outside_allowed_is_422(emu: Emulator, api: Client,
                                                  value: str) -> None:
    """block-service accepts only internet/sms/call (the SDK maps "data" itself)."""
    sim = _sim(emu)
    r = await api("POST", f"api/v2/sim/block-service/{sim.number}",
                  params={"type": value, "iccid": sim.iccid})
    assert r.status == 422
    assert r.body["errors"] == {"type": ["The selected type is invalid."]}


async def test_sms_type_sms_is_422(emu: Emulator, api: Client) -> None:
    """send-sms accepts only call/internet: "sms" is 422."""
    r = await api("POST", f"api/v2/sim/send-sms/{_sim(emu).number}", json={"type": "sms"})
    assert r.status == 422


async def test_to_before_from_is_422(api: Client) -> None:
    """cdr/internet with to < from answers 422 errors.to."""
    r = await api("GET", "api/v2/cdr/internet", params={"from": "2024-03-02", "to": "2024-03-01"})
    assert r.status == 422
    assert r.body["errors"] == {"to": ["The to field must be a date after or equal to from."]}


@pytest.mark.parametrize("value", ["2024/03/01", "01.03.2024", "2024-02-30", "2024-3-1"])
async def test_bad_date_is_422(api: Client, value: str) -> None:
    """Dates must be real YYYY-MM-DD dates."""
    r = await api("GET", "api/v2/cdr/internet", params={"from": value, "to": "2024-03-05"})
    assert r.status == 422
    assert r.body["errors"] == {"from": ["The from field must match the format Y-m-d."]}


async def test_cdr_requires_from_and_to(api: Client) -> None:
    """cdr/internet without dates lists both as required."""
    r = await api("GET", "api/v2/cdr/internet")
    assert r.status == 422
    assert set(r.body["errors"]) == {"from", "to"}


async def test_cdr_bad_numbers_item_is_422(api: Client) -> None:
    """Each numbers[] item is checked; errors are keyed numbers.<index>."""
    r = await api("GET", "api/v2/cdr/internet",
                  params=[("from", "2024-03-01"), ("to", "2024-03-01"),
                          ("numbers[]", "79181111111"), ("numbers[]", "12")])
    assert r.status == 422
    assert r.body["errors"] == {"numbers.1": ["The numbers.1 format is invalid."]}


async def test_unknown_packet_id_is_422(emu: Emulator, api: Client) -> None:
    """activate with a packet id that does not exist answers 422 errors.packet_id."""
    sim = _sim(emu)
    r = await api("POST", f"api/v2/sim/{sim.number}", json={"packet_id": 999, "iccid": sim.iccid})
    assert r.status == 422
    assert r.body["errors"] == {"packet_id": ["The selected packet id is invalid."]}


async def test_non_integer_packet_id_is_422(emu: Emulator, api: Client) -> None:
    """change-packet with packet_id "abc" answers 422 (must be an integer)."""
    sim = _sim(emu)
    r = await api("POST", f"api/v2/sim/packet/{sim.number}",
                  params={"packet_id": "abc", "date": "2030-01-01", "iccid": sim.iccid})
    assert r.status == 422
    assert r.body["errors"] == {"packet_id": ["The packet id field must be an integer."]}


async def test_unknown_small_packet_is_422(emu: Emulator, api: Client) -> None:
    """A small packet that is not offered on the SIM's tariff answers 422."""
    sim = _sim(emu)
    r = await api("POST", f"api/v2/sim/small-packet/{sim.number}",
                  params={"small_packet_id": "9999", "iccid": sim.iccid})
    assert r.status == 422
    assert r.body["errors"] == {"small_packet_id": ["The selected small packet id is invalid."]}
    assert sim.small_packets == []


async def test_get_by_unknown_iccid_is_404(api: Client) -> None:
    """sim/info with a well-formed iccid not in the fleet answers 404."""
    r = await api("GET", "api/v2/sim/info/8970199000000000000")
    assert r.status == 404
    assert r.body == {"message": "SIM card not found."}


async def test_get_by_bad_iccid_is_422(api: Client) -> None:
    """sim/info with a too short iccid answers 422 errors.iccid."""
    r = await api("GET", "api/v2/sim/info/12345")
    assert r.status == 422
    assert r.body["errors"] == {"iccid": ["The iccid format is invalid."]}


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "frozen"}, "status"), ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"),
    ({"page": "x"}, "page"), ({"inn": "12345"}, "inn"),
])
async def test_bad_list_filters_are_422(api: Client, params: dict[str, str], field: str) -> None:
    """sim/list checks status, page, limit (1-1000) and inn format."""
    r = await api("GET", "api/v2/sim/list", params=params)
    assert r.status == 422
    assert list(r.body["errors"]) == [field]


async def test_all_errors_collected(emu: Emulator, api: Client) -> None:
    """Several problems in one request come back together, with "(and N more errors)"."""
    r = await api("POST", f"api/v2/sim/packet/{emu.fleet.numbers[0]}",
                  params={"packet_id": "x", "date": "soon"})
    assert r.status == 422
    assert set(r.body["errors"]) == {"packet_id", "date", "imsi", "iccid"}
    assert r.body["message"].endswith("(and 3 more errors)")


async def test_empty_string_counts_as_missing(emu: Emulator, api: Client) -> None:
    """iccid="" is missing (Laravel converts empty strings to null)."""
    r = await api("POST", f"api/v2/sim/block/{emu.fleet.numbers[0]}", params={"iccid": ""})
    assert r.status == 422
    assert "iccid" in r.body["errors"]
