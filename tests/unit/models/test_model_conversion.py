"""The converter maps every field spelling of API.md onto the models and keeps `raw`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import pytest

from simapi_async._converter import converter, make_converter, structure_list, structure_one
from simapi_async._exceptions import ResponseFormatError
from simapi_async.models import InternetCdr, OperationResult, Packet, Sim, SmallPacket

SIM = Sim(number="79181111111", iccid="8970199220150123456", imsi="250011234567890",
          status="active", packet_id=12, packet_name="M2M 1GB", inn="7707083893",
          blocked_services=("sms",))

SIM_SPELLINGS: list[dict[str, Any]] = [
    {"number": "79181111111", "iccid": "8970199220150123456", "imsi": "250011234567890",
     "status": "active", "packet_id": 12, "packet_name": "M2M 1GB", "inn": "7707083893",
     "blocked_services": ["sms"]},
    {"msisdn": 79181111111, "iccid": 8970199220150123456, "imsi": 250011234567890,
     "status": "active", "packet_id": "12", "packet": "M2M 1GB", "inn": 7707083893,
     "blocked_services": "sms"},
    {"msisdn": "79181111111", "iccid": "8970199220150123456", "imsi": "250011234567890",
     "status": "active", "packet": {"id": 12, "name": "M2M 1GB"}, "inn": "7707083893",
     "blocked_services": {"sms": True, "call": False}, "balance": 10.5},
]


@pytest.mark.parametrize("obj", SIM_SPELLINGS)
def test_every_sim_spelling_gives_the_same_sim(obj):
    """number/msisdn, packet/packet_name/packet object, ints for ids: all one equal Sim."""
    sim = converter.structure(obj, Sim)
    assert sim == SIM
    assert sim.raw is obj


def test_unknown_fields_stay_in_raw_and_missing_ones_are_none():
    """A field the SDK does not map is kept in `raw`; every missing field is None."""
    sim = converter.structure({"number": "79181111111", "tariff_zone": "RU"}, Sim)
    assert sim.raw["tariff_zone"] == "RU"
    assert sim == Sim(number="79181111111")
    assert (sim.iccid, sim.status, sim.packet_id, sim.blocked_services) == (None,) * 4


def test_raw_is_not_in_repr_or_equality():
    """`raw` takes no part in repr or ==, so hashes of equal models match."""
    a = converter.structure({"number": "79181111111", "x": 1}, Sim)
    b = converter.structure({"msisdn": "79181111111", "y": 2}, Sim)
    assert a == b
    assert hash(a) == hash(b)
    assert "raw" not in repr(a)


def test_models_are_frozen_and_slotted():
    """Models cannot be changed after they are made and have no __dict__."""
    sim = Sim(number="79181111111")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        sim.number = "79180000000"  # type: ignore[misc]
    assert not hasattr(sim, "__dict__")


def test_packet_spellings_and_small_packets():
    """volume/traffic map to `volume`; prices become Decimals; small packets are structured."""
    a = converter.structure(
        {"id": 1, "name": "Base", "price": "150.00", "volume": 1024,
         "small_packets": [{"id": 5, "name": "+100MB", "price": 30, "traffic": "100"}]},
        Packet,
    )
    b = converter.structure(
        {"id": "1", "name": "Base", "price": 150, "traffic": 1024.0,
         "small_packets": [{"id": 5, "name": "+100MB", "price": 30.0, "volume": 100}]},
        Packet,
    )
    assert a == b
    assert a.price == Decimal("150.00")
    assert a.small_packets == (SmallPacket(id=5, name="+100MB", price=Decimal(30), volume=100),)


def test_a_packet_without_small_packets_has_an_empty_tuple():
    """Missing or null small_packets give ()."""
    assert converter.structure({"id": 1}, Packet).small_packets == ()
    assert converter.structure({"id": 1, "small_packets": None}, Packet).small_packets == ()


CDR = InternetCdr(number="79181111111", started_at=dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC),
                  ended_at=dt.datetime(2024, 3, 1, 11, tzinfo=dt.UTC), volume_bytes=300,
                  upload_bytes=100, download_bytes=200, apn="m2m", imsi="250011234567890",
                  iccid="8970199220150123456")

CDR_SPELLINGS: list[dict[str, Any]] = [
    {"number": "79181111111", "started_at": "2024-03-01T10:00:00Z",
     "ended_at": "2024-03-01T11:00:00Z", "volume": 300, "upload": 100, "download": 200,
     "apn": "m2m", "imsi": "250011234567890", "iccid": "8970199220150123456"},
    {"msisdn": 79181111111, "start": "2024-03-01T13:00:00+03:00", "end": "2024-03-01T11:00Z",
     "upload": 100, "download": 200, "apn": "m2m", "imsi": 250011234567890,
     "iccid": 8970199220150123456, "cell": 42},
    {"msisdn": "79181111111", "date": "2024-03-01T10:00:00.000000Z", "end": 1709290800,
     "bytes": "300", "upload_bytes": "100", "download_bytes": 200.0, "apn": "m2m",
     "imsi": "250011234567890", "iccid": "8970199220150123456"},
]


@pytest.mark.parametrize("obj", CDR_SPELLINGS)
def test_every_cdr_spelling_gives_the_same_record(obj):
    """number/msisdn, date/start/started_at, end/ended_at, volume/bytes/upload+download."""
    assert converter.structure(obj, InternetCdr) == CDR


def test_a_cdr_date_alone_is_midnight_and_naive_times_stay_naive():
    """``date: 2024-03-01`` starts at naive midnight; a time without offset stays naive."""
    a = converter.structure({"date": "2024-03-01"}, InternetCdr)
    b = converter.structure({"start": "2024-03-01 08:30:00"}, InternetCdr)
    assert a.started_at == dt.datetime(2024, 3, 1)
    assert b.started_at == dt.datetime(2024, 3, 1, 8, 30)
    assert b.started_at.tzinfo is None


def test_a_cdr_with_only_one_direction_has_no_total():
    """upload without download leaves volume_bytes None (the total is unknown)."""
    cdr = converter.structure({"upload": 5}, InternetCdr)
    assert (cdr.volume_bytes, cdr.upload_bytes, cdr.download_bytes) == (None, 5, None)


def test_empty_strings_for_times_are_none():
    """An empty time string is read as absent."""
    assert converter.structure({"start": "", "end": " "}, InternetCdr).started_at is None


@pytest.mark.parametrize(("obj", "cls", "field"), [
    ({"number": ["7918"]}, Sim, "number"),
    ({"msisdn": {"a": 1}}, Sim, "msisdn"),
    ({"packet_id": "twelve"}, Sim, "packet_id"),
    ({"packet": {"id": "x"}}, Sim, "packet.id"),
    ({"blocked_services": 5}, Sim, "blocked_services"),
    ({"price": "cheap"}, Packet, "price"),
    ({"traffic": "10 GB"}, Packet, "traffic"),
    ({"small_packets": [{}, {"price": "NaN"}]}, Packet, "small_packets[1].price"),
    ({"small_packets": {}}, Packet, "small_packets"),
    ({"start": "yesterday"}, InternetCdr, "start"),
    ({"date": "2024-02-30"}, InternetCdr, "date"),
    ({"bytes": 1.5}, InternetCdr, "bytes"),
    ({"upload": True, "download": 1}, InternetCdr, "upload"),
    ("not an object", InternetCdr, ""),
])
def test_a_bad_field_raises_response_format_error_naming_it(obj, cls, field):
    """A value that cannot be read raises ResponseFormatError whose `field` names it."""
    with pytest.raises(ResponseFormatError) as info:
        structure_one(obj, cls, where="data")
    assert info.value.field == ("data." + field if field else "data")
    assert info.value.field in str(info.value)


def test_a_bad_record_in_a_list_is_named_by_its_index():
    """The failing record of a list is named ``data[3].started_at`` (its spelling)."""
    records = [{"started_at": "2024-03-01"}] * 3 + [{"started_at": "03/01/2024"}]
    with pytest.raises(ResponseFormatError) as info:
        structure_list(records, InternetCdr, where="data")
    assert info.value.field == "data[3].started_at"
    assert "03/01/2024" in str(info.value)
    assert not isinstance(info.value.__cause__, KeyError)


def test_a_bare_array_record_is_named_without_prefix():
    """In a bare array the failing record is named ``[1].number``."""
    with pytest.raises(ResponseFormatError) as info:
        structure_list([{}, {"number": 1.5}], Sim, where="")
    assert info.value.field == "[1].number"


def test_unstructure_gives_canonical_json_ready_dicts_without_raw():
    """Unstructuring drops `raw`, writes times as ISO strings and money as strings."""
    cdr = converter.structure(CDR_SPELLINGS[1], InternetCdr)
    out = converter.unstructure(cdr)
    assert out["started_at"] == "2024-03-01T13:00:00+03:00"
    assert "raw" not in out
    packet = converter.unstructure(converter.structure({"id": 1, "price": "9.90"}, Packet))
    assert packet == {"id": 1, "name": None, "price": "9.90", "volume": None,
                      "small_packets": []}
    assert converter.unstructure(OperationResult(ok=False, message="m")) == {
        "ok": False, "message": "m"}


def test_make_converter_builds_an_equivalent_converter():
    """A fresh converter from make_converter() structures like the module's one."""
    assert make_converter().structure(SIM_SPELLINGS[1], Sim) == SIM


def test_the_converter_also_structures_datetimes_and_decimals():
    """datetime and Decimal hooks are registered on the converter itself."""
    assert converter.structure("2024-03-01T00:00:00Z", dt.datetime) == dt.datetime(
        2024, 3, 1, tzinfo=dt.UTC)
    assert converter.structure("1.10", Decimal) == Decimal("1.10")
