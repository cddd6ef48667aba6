"""The endpoint table: all 18 operations, placement, validation of path values, overrides."""

from __future__ import annotations

import pytest

import simapi_async as sa
from simapi_async._endpoints import ENDPOINTS, Endpoint, In, Param, with_overrides


def test_table_has_the_18_documented_operations() -> None:
    """Every operation of API.md is in the table, with its documented method and path."""
    expected = {
        "login": ("POST", "api/v2/login"),
        "cdr_internet": ("GET", "api/v2/cdr/internet"),
        "list_sims": ("GET", "api/v2/sim/list"),
        "list_packets": ("GET", "api/v2/sim/packets"),
        "activate": ("POST", "api/v2/sim/{number}"),
        "get_sim": ("GET", "api/v2/sim/{number}"),
        "get_sim_by_iccid": ("GET", "api/v2/sim/info/{iccid}"),
        "change_packet": ("POST", "api/v2/sim/packet/{number}"),
        "block": ("POST", "api/v2/sim/block/{number}"),
        "unblock": ("POST", "api/v2/sim/unblock/{number}"),
        "block_service": ("POST", "api/v2/sim/block-service/{number}"),
        "unblock_service": ("POST", "api/v2/sim/unblock-service/{number}"),
        "block_finance": ("POST", "api/v2/sim/block-finance/{number}"),
        "unblock_finance": ("POST", "api/v2/sim/unblock-finance/{number}"),
        "bind_number": ("POST", "api/v2/sim/set/{number}"),
        "rebind_number": ("POST", "api/v2/sim/refresh/{number}"),
        "add_small_packet": ("POST", "api/v2/sim/small-packet/{number}"),
        "send_sms": ("POST", "api/v2/sim/send-sms/{number}"),
    }
    assert {name: (e.method, e.path) for name, e in ENDPOINTS.items()} == expected


def test_only_sms_and_small_packet_are_unsafe_to_retry() -> None:
    """send_sms and add_small_packet are the non-idempotent operations."""
    assert {n for n, e in ENDPOINTS.items() if not e.retry_safe} == {"send_sms", "add_small_packet"}


def test_build_places_parameters_as_documented() -> None:
    """Path, query and body parameters go where the table says; bools in query as 1/0."""
    path, query, body = ENDPOINTS["change_packet"].build(
        {"number": "79181111111", "packet_id": 3, "date": "2026-12-01", "iccid": "123"}
    )
    assert path == "api/v2/sim/packet/79181111111"
    assert query == [("packet_id", "3"), ("date", "2026-12-01"), ("iccid", "123")]
    assert body is None
    path, query, body = ENDPOINTS["bind_number"].build(
        {"number": "79181111111", "imsi": "250011234567890", "cf": False}
    )
    assert query == []
    assert body == {"imsi": "250011234567890", "cf": False}
    _, query, _ = ENDPOINTS["cdr_internet"].build(
        {"from": "2026-01-01", "to": "2026-01-02", "numbers[]": ["79181111111", "79181111112"]}
    )
    assert query[-2:] == [("numbers[]", "79181111111"), ("numbers[]", "79181111112")]


@pytest.mark.parametrize("bad", ["7918/../../x", "79181111111?x=1", "abc", "", "7918 111", "٧٩"])
def test_path_values_must_be_digit_strings(bad: str) -> None:
    """Nothing but a validated digit string is ever written into a URL path."""
    with pytest.raises(sa.InvalidInputError) as info:
        ENDPOINTS["block"].build({"number": bad, "iccid": "1"})
    assert info.value.field == "number"


def test_missing_required_and_one_of_groups_are_refused() -> None:
    """A missing required parameter or an empty imsi/iccid group is InvalidInputError."""
    with pytest.raises(sa.InvalidInputError, match="imsi or iccid"):
        ENDPOINTS["block"].build({"number": "79181111111"})
    with pytest.raises(sa.InvalidInputError, match="type"):
        ENDPOINTS["send_sms"].build({"number": "79181111111"})
    with pytest.raises(sa.InvalidInputError, match="not a parameter"):
        ENDPOINTS["block"].build({"number": "79181111111", "iccid": "1", "bogus": "x"})


def test_overrides_replace_method_and_path_only() -> None:
    """with_overrides changes one endpoint and leaves the shared table untouched."""
    table = with_overrides(ENDPOINTS, {"block": {"method": "PUT", "path": "v3/block/{number}"}})
    assert (table["block"].method, table["block"].path) == ("PUT", "v3/block/{number}")
    assert ENDPOINTS["block"].method == "POST"
    with pytest.raises(sa.InvalidInputError):
        with_overrides(ENDPOINTS, {"nope": {"method": "GET"}})
    with pytest.raises(sa.InvalidInputError):
        with_overrides(ENDPOINTS, {"block": {"params": ()}})
    with pytest.raises(sa.InvalidInputError):
        with_overrides(ENDPOINTS, {"block": {"path": "v3/block/{msisdn}"}})


def test_path_placeholders_must_match_path_parameters() -> None:
    """An endpoint whose template and path parameters disagree cannot be declared."""
    with pytest.raises(ValueError, match="placeholders"):
        Endpoint("x", "GET", "a/{id}", (Param("number", In.PATH, True),))
