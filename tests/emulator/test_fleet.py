"""The fleet: deterministic from the seed, valid identifiers, cheap to build, CDR by hash."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter

from simapi_async._validation import inn_check_ok, luhn_ok
from simapi_async.testing._fleet import build_fleet


def _snapshot(sims: int, seed: int) -> list[tuple[object, ...]]:
    fleet = build_fleet(sims, seed)
    return [(s.number, s.iccid, s.imsi, s.inn, s.status, s.packet_id)
            for s in fleet.sims.values()] + [(s.iccid, s.imsi) for s in fleet.spare_sims]


def test_same_seed_same_fleet() -> None:
    """Two builds with the same seed are identical; another seed gives another fleet."""
    assert _snapshot(500, 7) == _snapshot(500, 7)
    assert _snapshot(500, 7) != _snapshot(500, 8)


def test_identifiers_are_valid_and_unique() -> None:
    """Numbers 79xxxxxxxxx, ICCIDs 8970199… with Luhn, IMSIs 25001…, all unique."""
    fleet = build_fleet(2000, 3)
    sims = list(fleet.sims.values())
    cards = [(s.iccid, s.imsi) for s in sims] + [(s.iccid, s.imsi) for s in fleet.spare_sims]
    assert all(re.fullmatch(r"79\d{9}", s.number) for s in sims)
    assert all(re.fullmatch(r"8970199\d{12}", iccid) and luhn_ok(iccid) for iccid, _ in cards)
    assert all(re.fullmatch(r"25001\d{10}", imsi) for _, imsi in cards)
    assert len({c[0] for c in cards}) == len({c[1] for c in cards}) == len(cards)
    assert list(fleet.sims) == sorted(fleet.sims) == fleet.numbers


def test_clients_have_valid_inns_and_50_to_200_sims() -> None:
    """Every INN passes its check digits and owns 50-200 SIMs (the last one absorbs the rest)."""
    fleet = build_fleet(3000, 4)
    sizes = [len(fleet.numbers_of(inn)) for inn in fleet.inns]
    assert all(inn_check_ok(inn) and len(inn) == 10 for inn in fleet.inns)
    assert sum(sizes) == 3000
    assert all(50 <= n <= 249 for n in sizes)
    assert fleet.inns == sorted(fleet.inns)
    assert all(fleet.sims[n].inn == inn for inn in fleet.inns for n in fleet.numbers_of(inn))


def test_small_fleet_has_one_client() -> None:
    """Fewer than 50 SIMs all belong to one client."""
    fleet = build_fleet(10, 1)
    assert len(fleet.inns) == 1
    assert len(fleet.numbers_of(fleet.inns[0])) == 10


def test_statuses_and_packets() -> None:
    """Mostly active SIMs, some blocked and inactive; every SIM has an existing packet."""
    fleet = build_fleet(2000, 1)
    counts = Counter(s.status for s in fleet.sims.values())
    assert counts["active"] > 1600
    assert counts["blocked"] > 0
    assert counts["inactive"] > 0
    assert all(s.blocked == (s.status == "blocked") for s in fleet.sims.values())
    assert len(fleet.packets) == 5
    assert all(2 <= len(p.small_packets) <= 3 for p in fleet.packets)
    assert all(fleet.packet(s.packet_id) is not None for s in fleet.sims.values())


def test_spare_sims() -> None:
    """About 2 % spare SIMs (at least 5), bound to no number."""
    fleet = build_fleet(1000, 1)
    assert len(fleet.spare_sims) == 20
    assert len(build_fleet(10, 1).spare_sims) == 5
    assert all(fleet.by_iccid(s.iccid) is None for s in fleet.spare_sims)


def test_cdr_is_deterministic_and_within_the_day() -> None:
    """CDR per (number, day) is the same on every call and each session lies in that day."""
    fleet = build_fleet(50, 2)
    other = build_fleet(50, 2)
    day = dt.date(2031, 12, 31)
    total = 0
    for n in fleet.numbers:
        records = fleet.cdr(n, day)
        assert records == other.cdr(n, day)
        assert 0 <= len(records) <= 3
        assert [r.start for r in records] == sorted(r.start for r in records)
        assert all(r.start.date() == r.end.date() == day and r.end > r.start for r in records)
        total += len(records)
    assert total > 0


def test_build_100k_is_cheap() -> None:
    """100,000 SIMs build in one go (the time is printed, not asserted)."""
    start = time.perf_counter()
    fleet = build_fleet(100_000, 1)
    print(f"built 100,000 SIMs in {time.perf_counter() - start:.2f}s")
    assert len(fleet.sims) == 100_000
