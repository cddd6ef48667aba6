"""Hypothesis strategies of hostile input: real values of the emulator's fleet in every
spelling users have, mixed with what no one should send (URL metacharacters, non-ASCII
digits, wrong types, huge numbers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from hypothesis import strategies as st

from simapi_async.testing import Emulator

__all__ = [
    "DATES", "GARBAGE", "ICCIDS", "IMSIS", "INNS", "NUMBERS", "PACKET_IDS", "PAGES",
    "SERVICES", "SMS_TYPES", "STATUSES", "FleetValues",
]

#: Values that are never valid for any parameter, or only by accident.
NASTY_TEXT = [
    "", " ", "\n", "0", "-1", "+", "()", "7918111111/../../login", "79181111111?x=1",
    "79181111111#frag", "79181111111&iccid=1", "%37%39%31%38%31%31%31%31%31%31%31",
    "\uff17\uff19\uff11\uff18\uff11\uff11\uff11\uff11\uff11\uff11\uff11",
    "7918111111\u0663", "79181111111\x00", "null", "None",
    "1e3", "0x10", "١٢٣", "🙂", "a" * 5000, "9" * 5000, "<script>", "' OR 1=1 --",
]
GARBAGE: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.binary(max_size=12),
    st.text(max_size=30), st.sampled_from(NASTY_TEXT),
    st.sampled_from([10**30, -(10**30), 2**63, 2**64, float("nan"), float("inf")]),
    # An int too long for str()/repr(), built lazily so no strategy's repr holds it.
    st.just(5000).map(lambda digits: 10**digits),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2),
    st.just(object()), st.dates(), st.just(dt.timedelta(days=1)),
)


@attrs.frozen
class FleetValues:
    """Real identifiers of the emulator's fleet, for inputs that reach the server."""

    numbers: tuple[str, ...]
    iccids: tuple[str, ...]
    imsis: tuple[str, ...]
    inns: tuple[str, ...]
    packet_ids: tuple[int, ...]

    @classmethod
    def of(cls, emu: Emulator) -> FleetValues:
        fleet = emu.fleet
        sims = [fleet.sims[n] for n in fleet.numbers]
        smalls = [s.id for p in fleet.packets for s in p.small_packets]
        return cls(tuple(fleet.numbers), tuple(s.iccid for s in sims),
                   tuple(s.imsi for s in sims), tuple(fleet.inns),
                   tuple([p.id for p in fleet.packets] + smalls))


def _weighted(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]
              ) -> st.SearchStrategy[Any]:
    """Mostly good values (so that calls reach the wire), often bad ones, and garbage.

    (`one_of` would flatten GARBAGE's many branches and draw garbage most of the time.)
    """
    choices = (good, bad, GARBAGE)
    return st.sampled_from((0, 0, 0, 0, 0, 0, 1, 2)).flatmap(lambda i: choices[i])


def _good_numbers(n: str) -> st.SearchStrategy[Any]:
    ten = n[1:]
    return st.sampled_from([
        n, "+" + n, "8" + ten, ten, int(n), f"+7 ({ten[:3]}) {ten[3:6]}-{ten[6:8]}-{ten[8:]}",
        f"8-{ten[:3]}-{ten[3:]}", f" {n} ", f"7.{ten[:3]}.{ten[3:]}",
    ])


def _bad_numbers(n: str) -> st.SearchStrategy[Any]:
    ten = n[1:]
    return st.sampled_from([f"+7 {ten}x", f"({n})", n + "0", n[:-1], "+8" + ten,
                            n.replace("9", "\u0669"), n + "/", n + "?", "%37" + ten])


def NUMBERS(f: FleetValues) -> st.SearchStrategy[Any]:
    pick = st.sampled_from(f.numbers)
    return _weighted(pick.flatmap(_good_numbers), pick.flatmap(_bad_numbers))


def _good_digits(value: str) -> st.SearchStrategy[Any]:
    return st.sampled_from([value, f" {value} ", int(value)])


def _bad_digits(value: str) -> st.SearchStrategy[Any]:
    return st.sampled_from([
        f"{value[:4]}/{value[4:]}", value[:-1] if len(value) < 19 else value[:10],
        value + "5" * 10, value.replace("1", "\uff11"), value + "/", value + "#",
    ])


def ICCIDS(f: FleetValues) -> st.SearchStrategy[Any]:
    pick = st.sampled_from(f.iccids)
    return _weighted(pick.flatmap(_good_digits), pick.flatmap(_bad_digits))


def IMSIS(f: FleetValues) -> st.SearchStrategy[Any]:
    pick = st.sampled_from(f.imsis)
    return _weighted(pick.flatmap(_good_digits), pick.flatmap(_bad_digits))


def INNS(f: FleetValues) -> st.SearchStrategy[Any]:
    pick = st.sampled_from([*f.inns, "7707083893", "500100732259"])
    return _weighted(pick.flatmap(_good_digits), pick.flatmap(
        lambda inn: st.sampled_from([inn[:-1] + str((int(inn[-1]) + 1) % 10), inn + "0"])))


def PACKET_IDS(f: FleetValues) -> st.SearchStrategy[Any]:
    pick = st.sampled_from(f.packet_ids)
    return _weighted(pick.flatmap(lambda p: st.sampled_from([p, str(p), f" {p} ", p + 10**6])),
                     pick.flatmap(lambda p: st.sampled_from([float(p), -p, f"{p}.0", str(-p)])))


_GOOD_DATES: st.SearchStrategy[Any] = st.one_of(
    st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2024, 1, 9)),
    st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2024, 1, 9)),
    st.sampled_from(["2024-01-02", " 2024-01-03 ", "2024-01-04T10:00:00+03:00",
                     "2024-01-05 23:59"]),
)
DATES: st.SearchStrategy[Any] = _weighted(_GOOD_DATES, st.sampled_from([
    "2024-02-30", "2024-1-1", "2024-01-01T25:00", "\uff12\uff10\uff12\uff14-01-01",
    "2024-01-01/../x", "2024-01-01&to=2030-01-01", "20240101", "01.01.2024",
    "9999-12-31T99"]))
SERVICES: st.SearchStrategy[Any] = _weighted(
    st.sampled_from(["internet", "sms", "call", "data", "INTERNET", " Sms "]),
    st.sampled_from(["fax", "", "internet&type=sms", "\u0131nternet", "sms\n", "call/"]))
SMS_TYPES: st.SearchStrategy[Any] = SERVICES
STATUSES: st.SearchStrategy[Any] = _weighted(
    st.sampled_from(["active", "Blocked", "inactive", "a" * 32, "ACTIVE-1_x"]),
    st.sampled_from(["a" * 33, "act ive", "active&x=1", "", "\u0430\u043a\u0442\u0438\u0432"]))
PAGES: st.SearchStrategy[Any] = _weighted(
    st.sampled_from([1, 2, 3, 50, 1000, "10", " 7 "]),
    st.sampled_from([0, -1, 1001, 1_000_001, "1.5", 2.0, True, "", "1/2"]))
