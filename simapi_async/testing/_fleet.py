"""The emulator's in-memory fleet: SIM cards, numbers, clients (INNs), packets, CDR.

Everything is derived from one seed, so two emulators built with the same `sims` and
`seed` hold the same fleet. CDR records are not stored: they are a hash of
(seed, number, day), so any date range can be asked for.

>>> fleet = build_fleet(sims=100, seed=1)
>>> len(fleet.sims), len(fleet.packets)
(100, 5)
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import hashlib
import random
from collections.abc import Iterator
from typing import Final

import attrs

from .._validation import make_inn

__all__ = [
    "STATUSES",
    "CdrRecord",
    "Fleet",
    "Packet",
    "SimState",
    "SmallPacket",
    "SpareSim",
    "build_fleet",
]

STATUSES: Final = ("active", "blocked", "inactive")
SERVICES: Final = ("internet", "sms", "call")
ICCID_PREFIX: Final = "8970199"
IMSI_PREFIX: Final = "25001"
APNS: Final = ("m2m.operator.ru", "iot.operator.ru", "internet")


@attrs.frozen(slots=True)
class SmallPacket:
    """A top-up packet that can be added on top of a tariff packet."""

    id: int
    name: str
    price: float
    volume_mb: int


@attrs.frozen(slots=True)
class Packet:
    """A tariff packet, with the small packets that can be added to it."""

    id: int
    name: str
    price: float
    volume_mb: int
    small_packets: tuple[SmallPacket, ...] = ()


@attrs.frozen(slots=True)
class SpareSim:
    """A SIM card in stock: no number is bound to it (yet)."""

    iccid: str
    imsi: str


# Bumped whenever any SIM's status changes, so cached `Fleet.select` results go stale
# even when a test edits a `SimState` by hand.
_status_epoch = [0]


@attrs.define(slots=True, eq=False)
class SimState:
    """The server-side state of one subscriber number and the SIM it is bound to."""

    number: str
    iccid: str
    imsi: str
    inn: str | None
    _status: str = "active"  # `status` below; the constructor argument is `status`
    packet_id: int | None = None
    blocked: bool = False
    blocked_services: set[str] = attrs.field(factory=set)
    finance_blocked: bool = False
    scheduled_packet: tuple[int, dt.date] | None = None
    small_packets: list[int] = attrs.field(factory=list)
    sms_sent: list[str] = attrs.field(factory=list)
    call_forwarding: bool = True
    status_before_block: str = "active"

    @property
    def status(self) -> str:
        """"active", "blocked" or "inactive"."""
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value
        _status_epoch[0] += 1

    def block(self) -> None:
        """Full block; repeating it changes nothing."""
        if not self.blocked:
            self.status_before_block = self.status if self.status != "blocked" else "active"
            self.blocked = True
            self.status = "blocked"

    def unblock(self) -> None:
        """Lift the full block; repeating it changes nothing."""
        if self.blocked:
            self.blocked = False
            self.status = self.status_before_block

    def activate(self, packet_id: int) -> None:
        """Activate on a tariff; a fully blocked SIM stays blocked until unblocked."""
        self.packet_id = packet_id
        if self.blocked:
            self.status_before_block = "active"
        else:
            self.status = "active"


@attrs.frozen(slots=True)
class CdrRecord:
    """One internet session of one number."""

    number: str
    iccid: str
    imsi: str
    start: dt.datetime
    end: dt.datetime
    upload: int
    download: int
    apn: str

    @property
    def volume(self) -> int:
        return self.upload + self.download


MSK: Final = dt.timezone(dt.timedelta(hours=3))


@attrs.define(slots=True, eq=False)
class Fleet:
    """All SIM cards of the emulator: `sims` by number (in number order), spares, packets."""

    seed: int
    sims: dict[str, SimState]
    packets: list[Packet]
    _spares: dict[str, SpareSim]
    _by_inn: dict[str, list[str]]
    _by_iccid: dict[str, str] = attrs.field(init=False)
    _by_imsi: dict[str, str] = attrs.field(init=False)
    _sorted: list[str] | None = attrs.field(init=False, default=None)
    _packets_by_id: dict[int, Packet] = attrs.field(init=False)
    _selections: dict[tuple[str | None, str | None], tuple[int, list[str]]] = attrs.field(
        init=False, factory=dict)
    _late: dict[tuple[str, dt.date], list[CdrRecord]] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self._by_iccid = {s.iccid: n for n, s in self.sims.items()}
        self._by_imsi = {s.imsi: n for n, s in self.sims.items()}
        self._packets_by_id = {p.id: p for p in self.packets}

    @property
    def numbers(self) -> list[str]:
        """Every bound number, sorted."""
        if self._sorted is None:
            self._sorted = sorted(self.sims)
        return self._sorted

    @property
    def inns(self) -> list[str]:
        """The client companies' INNs, sorted."""
        return sorted(self._by_inn)

    @property
    def spare_sims(self) -> list[SpareSim]:
        """SIM cards with no number, usable by `bind_number` and `rebind_number`."""
        return list(self._spares.values())

    def numbers_of(self, inn: str) -> list[str]:
        """The numbers of one client, sorted (empty for an unknown INN)."""
        return list(self._by_inn.get(inn, ()))

    def select(self, inn: str | None = None, status: str | None = None) -> list[str]:
        """The numbers of client `inn` (or all) with `status` (or any), sorted; cached."""
        key = (inn, status)
        hit = self._selections.get(key)
        if hit is not None and hit[0] == _status_epoch[0]:
            return hit[1]
        numbers = self.numbers if inn is None else self._by_inn.get(inn, [])
        if status is not None:
            numbers = [n for n in numbers if self.sims[n].status == status]
        self._selections[key] = (_status_epoch[0], numbers)
        return numbers

    def packet(self, packet_id: int | None) -> Packet | None:
        return None if packet_id is None else self._packets_by_id.get(packet_id)

    def by_iccid(self, iccid: str) -> SimState | None:
        number = self._by_iccid.get(iccid)
        return None if number is None else self.sims[number]

    def by_imsi(self, imsi: str) -> SimState | None:
        number = self._by_imsi.get(imsi)
        return None if number is None else self.sims[number]

    def spare(self, *, iccid: str | None = None, imsi: str | None = None) -> SpareSim | None:
        """The spare SIM with this iccid and/or imsi (both must fit when both are given)."""
        if iccid is not None:
            found = self._spares.get(iccid)
            if found is None or (imsi is not None and found.imsi != imsi):
                return None
            return found
        for s in self._spares.values():
            if s.imsi == imsi:
                return s
        return None

    def bind(self, number: str, spare: SpareSim, *, call_forwarding: bool) -> SimState:
        """Bind a free number to a spare SIM: a new, inactive subscriber."""
        del self._spares[spare.iccid]
        sim = SimState(number, spare.iccid, spare.imsi, None, status="inactive",
                       call_forwarding=call_forwarding)
        self.sims[number] = sim
        self._by_iccid[spare.iccid] = number
        self._by_imsi[spare.imsi] = number
        self._sorted = None
        self._selections.clear()
        return sim

    def move(self, sim: SimState, spare: SpareSim) -> None:
        """Move `sim`'s number to `spare`; its old SIM card becomes a spare."""
        del self._spares[spare.iccid]
        del self._by_iccid[sim.iccid]
        del self._by_imsi[sim.imsi]
        self._spares[sim.iccid] = SpareSim(sim.iccid, sim.imsi)
        sim.iccid, sim.imsi = spare.iccid, spare.imsi
        self._by_iccid[sim.iccid] = sim.number
        self._by_imsi[sim.imsi] = sim.number

    def cdr(self, number: str, day: dt.date) -> list[CdrRecord]:
        """The internet sessions of `number` on `day`: 0-3, the same for every call."""
        sim = self.sims[number]
        h = hashlib.blake2b(f"{self.seed}|{number}|{day.toordinal()}".encode(),
                            digest_size=64).digest()
        count = h[0] % 4
        starts = sorted(int.from_bytes(h[1 + 3 * i: 4 + 3 * i]) % 82_800 for i in range(count))
        midnight = dt.datetime.combine(day, dt.time(), MSK)
        out = []
        for i, start in enumerate(starts):
            b = h[10 + 12 * i: 22 + 12 * i]
            duration = 30 + int.from_bytes(b[0:2]) % 3_570
            up = 1_000 + int.from_bytes(b[2:5]) % 2_000_000
            down = 5_000 + int.from_bytes(b[5:9]) % 50_000_000
            out.append(CdrRecord(
                number, sim.iccid, sim.imsi,
                midnight + dt.timedelta(seconds=start),
                midnight + dt.timedelta(seconds=start + duration),
                up, down, APNS[b[9] % len(APNS)],
            ))
        late = self._late.get((number, day))
        return out + late if late else out

    def add_late_cdr(self, number: str, day: dt.date, count: int = 1) -> list[CdrRecord]:
        """Add `count` sessions to `number`'s `day` (records that reach the billing late,
        as real usage records do 24-48 h after the day); `cdr` answers them from now on.
        Returns the new records (deterministic: the n-th late record of a day is always
        the same)."""
        sim = self.sims[number]
        have = self._late.setdefault((number, day), [])
        midnight = dt.datetime.combine(day, dt.time(), MSK)
        added = []
        for _ in range(count):
            i = len(have)
            h = hashlib.blake2b(f"{self.seed}|late|{number}|{day.toordinal()}|{i}".encode(),
                                digest_size=16).digest()
            start = midnight + dt.timedelta(seconds=int.from_bytes(h[0:3]) % 86_000)
            record = CdrRecord(number, sim.iccid, sim.imsi, start,
                               start + dt.timedelta(seconds=30 + h[3]),
                               1_000 + int.from_bytes(h[4:7]), 5_000 + int.from_bytes(h[7:10]),
                               APNS[h[10] % len(APNS)])
            have.append(record)
            added.append(record)
        return added


_DOUBLED: Final = tuple((2 * d if d < 5 else 2 * d - 9) for d in range(10))


def _packets() -> list[Packet]:
    def small(pid: int, mb: int, price: float) -> SmallPacket:
        return SmallPacket(pid, f"+{mb} MB", price, mb)

    return [
        Packet(101, "IoT Start 100 MB", 50.0, 100, (small(1011, 50, 20.0), small(1012, 100, 35.0))),
        Packet(102, "IoT 500 MB", 150.0, 500,
               (small(1021, 100, 30.0), small(1022, 500, 120.0), small(1023, 1024, 200.0))),
        Packet(103, "IoT 1 GB", 250.0, 1024, (small(1031, 500, 110.0), small(1032, 1024, 190.0))),
        Packet(104, "IoT 5 GB", 600.0, 5120,
               (small(1041, 1024, 180.0), small(1042, 2048, 320.0), small(1043, 5120, 550.0))),
        Packet(105, "Telemetry 10 MB", 15.0, 10, (small(1051, 10, 8.0), small(1052, 50, 25.0))),
    ]


@functools.cache
def _luhn_table() -> list[int]:
    """Luhn sums of every 4-digit chunk that starts on an even position from the right."""
    return [sum(_DOUBLED[(v // 10**i) % 10] if i % 2 == 0 else (v // 10**i) % 10
                for i in range(4)) for v in range(10_000)]


def _iccids(rng: random.Random, count: int) -> Iterator[str]:
    """`count` distinct 19-digit ICCIDs with a valid Luhn check digit.

    The Luhn sum of the 11-digit serial is taken 4 digits at a time from a table.
    """
    base = rng.randrange(10**10, 9 * 10**10)
    head = sum(d if i % 2 else _DOUBLED[d]
               for i, d in enumerate(int(c) for c in reversed(ICCID_PREFIX + "0" * 11)))
    table = _luhn_table()
    for serial in range(base, base + count):
        total = head + table[serial % 10_000] + table[serial // 10_000 % 10_000] \
            + table[serial // 100_000_000]
        yield f"{ICCID_PREFIX}{serial:011d}{-total % 10}"


def _inns(rng: random.Random, count: int) -> list[str]:
    out: set[str] = set()
    while len(out) < count:
        out.add(make_inn(f"{rng.randrange(1, 99):02d}{rng.randrange(10**7):07d}"))
    return sorted(out)


def build_fleet(sims: int, seed: int, client_sizes: tuple[int, int] = (50, 200)) -> Fleet:
    """The deterministic fleet of `sims` numbered SIM cards (plus ~2 % spare SIMs).

    Clients (INNs) own between `client_sizes[0]` and `client_sizes[1]` SIMs each.
    """
    # Creating 100k small objects triggers many useless full collections: pause the GC.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _build(sims, seed, client_sizes)
    finally:
        if paused:
            gc.enable()


def _build(sims: int, seed: int, client_sizes: tuple[int, int]) -> Fleet:
    rng = random.Random(seed)
    spare_count = max(5, -(-sims // 50))
    numbers = [f"79{s:09d}" for s in sorted(rng.sample(range(10**9), sims))]
    iccids = list(_iccids(rng, sims + spare_count))
    imsi_base = rng.randrange(10**9, 9 * 10**9)
    imsis = [f"{IMSI_PREFIX}{imsi_base + i:010d}" for i in range(sims + spare_count)]

    sizes: list[int] = []
    while sum(sizes) < sims:
        sizes.append(rng.randint(*client_sizes))
    if sizes:  # the last client takes the rest; a small rest joins the one before if it fits
        sizes[-1] = sims - sum(sizes[:-1])
        if len(sizes) > 1 and sizes[-1] < client_sizes[0] \
                and sizes[-2] + sizes[-1] <= client_sizes[1]:
            rest = sizes.pop()
            sizes[-1] += rest
    inns = _inns(rng, len(sizes))
    owner = list(range(sims))
    rng.shuffle(owner)
    inn_of: list[str] = [""] * sims
    by_inn: dict[str, list[str]] = {}
    start = 0
    for inn, size in zip(inns, sizes, strict=True):
        chunk = owner[start:start + size]
        start += size
        for i in chunk:
            inn_of[i] = inn
        by_inn[inn] = sorted(numbers[i] for i in chunk)

    packets = _packets()
    packet_ids = rng.choices([p.id for p in packets], weights=[30, 30, 20, 10, 10], k=sims)
    statuses = rng.choices(STATUSES, weights=[90, 5, 5], k=sims)
    table: dict[str, SimState] = {}
    for i, number in enumerate(numbers):
        sim = SimState(number, iccids[i], imsis[i], inn_of[i], packet_id=packet_ids[i])
        if statuses[i] == "blocked":
            sim.block()
        elif statuses[i] == "inactive":
            sim.status = "inactive"
        table[number] = sim
    spares = {iccids[j]: SpareSim(iccids[j], imsis[j]) for j in range(sims, sims + spare_count)}
    return Fleet(seed, table, packets, spares, by_inn)
