"""The one cattrs converter: API answers → models, whatever shape API.md says they may take.

`configure_converter` registers every hook; `make_converter()` builds a converter with
them and `converter` is the module's own. The model hooks are hand-written because the
answers are undocumented: each maps the field-name variants of API.md to one attribute
(``number``/``msisdn`` → `Sim.number`, ``start``/``date`` → `InternetCdr.started_at`, …),
turns JSON ints that are identifiers into strings, parses ISO date-times (``Z``, offsets,
a date alone → midnight; naive stays naive) and keeps the object as received in `raw`.
They are also the fast path for CDR exports (no per-record ``try`` or dispatch).

An answer that does not fit raises `ResponseFormatError` whose `field` names the place,
e.g. ``data[3].start``. Taking a decoded body apart (the object under ``data``, a
paginator, a write's answer) is `_envelopes`' work; its errors come from the field
readers here (`_int`, `_text`, `_bool`, `_final`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from operator import is_
from typing import Any, Final, TypeVar

import attrs
from cattrs import Converter
from cattrs.gen import make_dict_unstructure_fn, override

from . import _rows
from ._exceptions import ResponseFormatError
from ._redact import scrub_known
from .models import InternetCdr, OperationResult, Packet, Sim, SmallPacket

__all__ = [
    "configure_converter",
    "converter",
    "make_converter",
    "structure_list",
    "structure_one",
]

T = TypeVar("T")
_Hook = Callable[[Any, Any], Any]


# --- errors -----------------------------------------------------------------------------

def _bad(field: str, reason: str, value: Any) -> ResponseFormatError:
    """An error about one field; `message` is the bare reason, `field` a relative path."""
    shown = scrub_known(repr(value))  # before the cut: a cut secret would not be found
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ResponseFormatError(f"{reason}, got {shown}", field=field)


def _join(prefix: str, field: str | None) -> str:
    if not field:
        return prefix
    if not prefix or field.startswith("["):
        return prefix + field
    return f"{prefix}.{field}"


def _relocate(exc: ResponseFormatError, prefix: str) -> ResponseFormatError:
    """The same error, one level further out (``price`` → ``small_packets[2].price``)."""
    return ResponseFormatError(exc.message, field=_join(prefix, exc.field))


def _final(exc: ResponseFormatError, prefix: str, body: Any) -> ResponseFormatError:
    """The error as the user sees it: the full path in the message, the body attached."""
    where = _join(prefix, exc.field) or "(the whole body)"
    return ResponseFormatError(
        f"unexpected API answer at {where}: {exc.message}", field=where, body=body
    )


# --- scalars ----------------------------------------------------------------------------

def _text(v: Any, key: str) -> str | None:
    """A string; a JSON integer (an identifier sent as a number) becomes its digits."""
    if v is None or type(v) is str:
        return v
    if type(v) is int:
        return str(v)
    raise _bad(key, "expected a string", v)


def _int(v: Any, key: str) -> int | None:
    """An integer; integral floats and digit strings are accepted."""
    if v is None or type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    if type(v) is str:
        s = v.strip()
        if s.isascii() and s.lstrip("-").isdigit():
            try:
                return int(s)
            except ValueError:  # "--5", or more digits than int() converts
                raise _bad(key, "expected an integer", v) from None
        if not s:
            return None
    raise _bad(key, "expected an integer", v)


def _quantity(v: Any, key: str) -> float | None:
    """A number as sent (int stays int); numeric strings are accepted."""
    if v is None or type(v) is int or (type(v) is float and math.isfinite(v)):
        return v
    if type(v) is str:
        s = v.strip()
        if not s:
            return None
        try:
            n = float(s)
        except ValueError:
            n = math.nan
        if math.isfinite(n):
            return int(n) if n.is_integer() and "." not in s and "e" not in s.lower() else n
    raise _bad(key, "expected a number", v)


def _decimal(v: Any, key: str) -> Decimal | None:
    """Money: a `Decimal` from a JSON number or a numeric string (floats via their repr)."""
    if v is None:
        return None
    if type(v) in (int, float, str):
        text = str(v).strip()
        if not text:
            return None
        try:
            d = Decimal(text)
        except InvalidOperation:
            d = Decimal("NaN")
        if d.is_finite():
            return d
    raise _bad(key, "expected a decimal number", v)


def _datetime(v: Any, key: str) -> datetime | None:
    """ISO 8601 (``Z`` and offsets kept, naive stays naive, a date alone is midnight).

    A JSON number is taken as a Unix timestamp in seconds (UTC).
    """
    if type(v) is str:
        try:
            return datetime.fromisoformat(v)
        except ValueError:
            if not v.strip():
                return None
            raise _bad(key, "expected an ISO 8601 date or date-time", v) from None
    if v is None:
        return None
    if type(v) is int or type(v) is float:
        try:
            return datetime.fromtimestamp(v, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    raise _bad(key, "expected an ISO 8601 date or date-time", v)


def _bool(v: Any, key: str) -> bool:
    if type(v) is bool:
        return v
    if v in (0, 1, "0", "1"):
        return bool(int(v))
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise _bad(key, "expected a boolean", v)


def _services(v: Any, key: str) -> tuple[str, ...] | None:
    """Blocked services: a list, a comma-separated string, or a mapping service → flag."""
    if v is None:
        return None
    if type(v) is list or type(v) is tuple:
        return tuple(
            s for i, x in enumerate(v) if (s := _text(x, f"{key}[{i}]")) is not None
        )
    if type(v) is str:
        return tuple(s for s in (p.strip() for p in v.split(",")) if s)
    if type(v) is dict:
        return tuple(str(k) for k, on in v.items() if on)
    raise _bad(key, "expected a list of services", v)


def _pick(d: dict[str, Any], keys: tuple[str, ...]) -> tuple[Any, str]:
    """The first of `keys` that `d` holds with a non-null value, and that key."""
    for k in keys:
        v = d.get(k)
        if v is not None:
            return v, k
    return None, keys[0]


# --- model hooks ------------------------------------------------------------------------

def _object(d: Any) -> dict[str, Any]:
    if type(d) is not dict:
        raise _bad("", "expected a JSON object", d)
    return d


def structure_sim(d: Any, _: Any = Sim) -> Sim:
    """A `Sim` from one SIM object of any spelling API.md lists."""
    d = _object(d)
    packet_id, pid_key = d.get("packet_id"), "packet_id"
    name, name_key = _pick(d, ("packet_name", "packet"))
    if type(name) is dict:  # `packet` as an object: {"id": .., "name": ..}
        if packet_id is None:
            packet_id, pid_key = name.get("id"), f"{name_key}.id"
        name, name_key = name.get("name"), f"{name_key}.name"
    number, number_key = _pick(d, ("number", "msisdn"))
    return Sim(
        _text(number, number_key),
        _text(d.get("iccid"), "iccid"),
        _text(d.get("imsi"), "imsi"),
        _text(d.get("status"), "status"),
        _int(packet_id, pid_key),
        _text(name, name_key),
        _text(d.get("inn"), "inn"),
        _services(d.get("blocked_services"), "blocked_services"),
        d,
    )


def structure_small_packet(d: Any, _: Any = SmallPacket) -> SmallPacket:
    """A `SmallPacket` from one object (``volume`` or ``traffic``)."""
    d = _object(d)
    volume, volume_key = _pick(d, ("volume", "traffic"))
    return SmallPacket(
        _int(d.get("id"), "id"),
        _text(d.get("name"), "name"),
        _decimal(d.get("price"), "price"),
        _quantity(volume, volume_key),
        d,
    )


def structure_packet(d: Any, _: Any = Packet) -> Packet:
    """A `Packet` with its small packets (``volume`` or ``traffic``)."""
    d = _object(d)
    volume, volume_key = _pick(d, ("volume", "traffic"))
    smalls = d.get("small_packets")
    if smalls is None:
        small: tuple[SmallPacket, ...] = ()
    elif type(smalls) is list:
        small = tuple(_nested(structure_small_packet, smalls, "small_packets"))
    else:
        raise _bad("small_packets", "expected an array", smalls)
    return Packet(
        _int(d.get("id"), "id"),
        _text(d.get("name"), "name"),
        _decimal(d.get("price"), "price"),
        _quantity(volume, volume_key),
        small,
        d,
    )


def structure_internet_cdr(d: Any, _: Any = InternetCdr) -> InternetCdr:
    """An `InternetCdr`; the hot path of CDR exports, so spelled out: no loops over
    spellings, no per-record ``try``, one `dict.get` per key looked at."""
    if type(d) is not dict:
        raise _bad("", "expected a JSON object", d)
    get = d.get
    number, k_number = get("number"), "number"
    if number is None:
        number, k_number = get("msisdn"), "msisdn"
    start, k_start = get("started_at"), "started_at"
    if start is None:
        start, k_start = get("start"), "start"
        if start is None:
            start, k_start = get("date"), "date"
    end, k_end = get("ended_at"), "ended_at"
    if end is None:
        end, k_end = get("end"), "end"
    up, k_up = get("upload_bytes"), "upload_bytes"
    if up is None:
        up, k_up = get("upload"), "upload"
    down, k_down = get("download_bytes"), "download_bytes"
    if down is None:
        down, k_down = get("download"), "download"
    volume, k_volume = get("volume_bytes"), "volume_bytes"
    if volume is None:
        volume, k_volume = get("volume"), "volume"
        if volume is None:
            volume, k_volume = get("bytes"), "bytes"
    if up is not None and type(up) is not int:
        up = _int(up, k_up)
    if down is not None and type(down) is not int:
        down = _int(down, k_down)
    if volume is None:
        volume = up + down if up is not None and down is not None else None
    elif type(volume) is not int:
        volume = _int(volume, k_volume)
    imsi = get("imsi")
    iccid = get("iccid")
    apn = get("apn")
    return InternetCdr(
        number if type(number) is str else _text(number, k_number),
        _datetime(start, k_start),
        None if end is None else _datetime(end, k_end),
        volume,
        up,
        down,
        apn if apn is None or type(apn) is str else _text(apn, "apn"),
        imsi if imsi is None or type(imsi) is str else _text(imsi, "imsi"),
        iccid if iccid is None or type(iccid) is str else _text(iccid, "iccid"),
        d,
    )


# --- CDR lists, column by column --------------------------------------------------------
#
# A CDR answer is thousands of records of one shape. `_cdr_columns` structures such a
# list with the per-field work done for a whole column in C (`map`, `set` of types, the
# columns and the models of `_rows`, compiled when built) instead of per record in Python
# (~1.6-1.8x less CPU a record before `_rows` was compiled: `python -m benchmarks._cdr
# parts`). It gives exactly what `structure_internet_cdr`
# gives, and None (the caller then runs the hook record by record, which raises the usual
# errors) whenever the list is unusual: records with different keys, a type the hook
# would convert or refuse, a null where the hook would fall back to another spelling, a
# time `fromisoformat` does not take.

#: The hook's spellings per field, in the order it tries them.
_CDR_SPELLINGS: Final = (
    ("number", "msisdn"),
    ("started_at", "start", "date"),
    ("ended_at", "end"),
    ("volume_bytes", "volume", "bytes"),
    ("upload_bytes", "upload"),
    ("download_bytes", "download"),
    ("apn",),
    ("imsi",),
    ("iccid",),
)
_NUMBER, _START, _END, _VOLUME, _UP, _DOWN = range(6)
#: Lists shorter than this go through the hook (the columns' setup costs ~2 records).
_COLUMNS_FROM: Final = 8
_STR_OR_NONE: Final = frozenset((str, type(None)))
_INT_OR_NONE: Final = frozenset((int, type(None)))
_STR: Final = frozenset((str,))
_DICT: Final = frozenset((dict,))
#: InternetCdr's slots, in the order of its fields (that of the hook's call), for
#: `_rows.fill`; None if the class ever gets a validator, converter or post-init (then:
#: its __init__).
_CDR_SLOTS: Final = None if hasattr(InternetCdr, "__attrs_post_init__") or any(
    a.validator is not None or a.converter is not None for a in attrs.fields(InternetCdr)
) else tuple(InternetCdr.__dict__[a.name] for a in attrs.fields(InternetCdr))


#: Date-times parsed from their text, shared by every record that repeats a text: a large
#: fleet's answer has many sessions a second, in time order (5,000,000 records a day are
#: ~58 a second), so a time is mostly parsed once, not once a record (a lookup is ~1/6 of
#: `fromisoformat` and what it allocates). Immutable values, so sharing is safe; cleared
#: when it reaches `_TIMES_MAX` texts (a few MB at most).
_times: dict[str, datetime] = {}
_TIMES_MAX: Final = 16_384


_INT_FIELDS: Final = frozenset((_VOLUME, _UP, _DOWN))


def _joined(column: tuple[Any, ...]) -> tuple[Any, ...]:
    """`column` if every value is a string (TypeError if not): ``"".join`` takes only
    strings, and a JSON decoder makes no subclass of str."""
    "".join(column)
    return column


def _times_of(column: tuple[Any, ...]) -> tuple[datetime, ...]:
    """`datetime.fromisoformat` of every text of `column` (TypeError: not all are
    strings; ValueError: one is not a date-time), through `_times`."""
    times = _times
    try:
        return tuple(map(times.__getitem__, column))
    except KeyError:
        pass
    if len(times) >= _TIMES_MAX:
        times.clear()
    new = set(column).difference(times)  # TypeError: a list; then fromisoformat's own
    times.update(zip(new, map(datetime.fromisoformat, new), strict=True))
    try:
        return tuple(map(times.__getitem__, column))
    except KeyError:  # another thread cleared the cache in between
        return tuple(map(datetime.fromisoformat, column))


class _CdrPlan:
    """For one set of keys: which key each field is read from (or none), whether a null
    there would make the hook look at another spelling (then a null means: use the hook),
    and the order the columns are read in: every key, the used ones first (a record
    without one of them has other keys: the hook decides)."""

    __slots__ = ("keys", "order", "size", "strict", "used")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        used: list[int | None] = []
        strict: list[bool] = []
        order: list[str] = []
        # The records' own key objects, not equal strings of ours: a decoder's dicts may
        # have general (not str-only) key tables, where a lookup by an equal string that
        # is not the same object costs a rich comparison (~1,100 instructions a record).
        own = {k: k for k in keys}
        for spellings in _CDR_SPELLINGS:
            present = [own[k] for k in spellings if k in own]
            if present:
                used.append(len(order))
                order.append(present[0])
            else:
                used.append(None)
            strict.append(len(present) > 1)
        order += [k for k in keys if k not in order]
        self.used = tuple(used)
        self.strict = tuple(strict)
        self.size = len(keys)
        self.order = tuple(order)


_plans: dict[tuple[str, ...], _CdrPlan] = {}


def _cdr_plan(first: dict[str, Any]) -> _CdrPlan | None:
    keys = tuple(first)
    if len(keys) < 2:  # one key cannot be a CDR record: the hook decides
        return None
    plan = _plans.get(keys)
    if plan is None or not all(map(is_, plan.keys, keys)):  # new, or other key objects
        if len(_plans) > 64:  # a server with ever new shapes: keep few
            _plans.clear()
        plan = _plans[keys] = _CdrPlan(keys)
    return plan


def _cdr_columns(items: list[Any], *, exact: bool = False) -> list[InternetCdr] | None:
    """`structure_internet_cdr` over `items`, column by column; None: use the hook.

    `exact`: the items come straight from a JSON decoder, so every value is of an exact
    JSON type (``str``, never a subclass of it, which the hook refuses): a string or
    date-time column is then checked by what reads it (``"".join`` takes only strings,
    `fromisoformat` only a string) instead of by the set of its types (~9 ns a value
    instead of ~27).
    """
    if exact:  # no dict subclass: `len` and the getter refuse what is not a dict
        if type(items[0]) is not dict:
            return None
    elif set(map(type, items)) != _DICT:
        return None
    plan = _cdr_plan(items[0])
    try:  # every record has the first one's keys (and as many): the same keys
        if plan is None or set(map(len, items)) != {plan.size}:
            return None
        columns = _rows.columns(items, plan.order)
    except (KeyError, TypeError):  # a key missing; a number, string or list among them
        return None
    n = len(items)
    nones = (None,) * n
    got: list[Any] = []
    for field, (index, strict) in enumerate(zip(plan.used, plan.strict, strict=True)):
        if index is None:
            got.append(nones)
            continue
        column = columns[index]
        timed = field in (_START, _END)
        if exact and field not in _INT_FIELDS:  # read the column, check by what reads it
            try:
                got.append(_times_of(column) if timed else _joined(column))
                continue
            except TypeError:  # a null or another type in it: look at its types
                pass
            except ValueError:  # a time: blank (None to the hook) or wrong (its error)
                return None
        kinds = set(map(type, column))
        if not kinds <= (_INT_OR_NONE if field in _INT_FIELDS else _STR_OR_NONE):
            return None  # bool, float, digit strings, ints for strings: the hook converts
        if strict and type(None) in kinds:
            return None  # the hook would read the next spelling for those
        if timed:
            try:
                column = (tuple(map(datetime.fromisoformat, column)) if kinds == _STR else
                          tuple(None if v is None else datetime.fromisoformat(v)
                                for v in column))
            except ValueError:  # blank (None to the hook) or wrong (its error)
                return None
        got.append(column)
    volume, up, down = got[_VOLUME], got[_UP], got[_DOWN]
    if up is not nones and down is not nones:
        if volume is nones:
            got[_VOLUME] = tuple(u + d if u is not None and d is not None else None
                                 for u, d in zip(up, down, strict=True))
        elif None in volume:
            return None
    got.append(items)  # raw
    if _CDR_SLOTS is None:
        return list(map(InternetCdr, *got))
    # What InternetCdr's own __init__ does (it has no validator, converter or post-init),
    # for all records at once: compiled, or a C call a slot and record (see `_rows`).
    return _rows.fill(InternetCdr, _CDR_SLOTS, got)


def _nested(hook: _Hook, items: list[Any], where: str) -> list[Any]:
    """`hook` over `items`; an error is renamed ``where[i].field``."""
    try:
        return [hook(x, None) for x in items]
    except ResponseFormatError as exc:
        raise _relocate(exc, f"{where}[{_failing_index(hook, items)}]") from exc


def _failing_index(hook: _Hook, items: Sequence[Any]) -> int:
    for i, x in enumerate(items):
        try:
            hook(x, None)
        except ResponseFormatError:
            return i
    return -1  # pragma: no cover - only called after a failure


# --- the converter ----------------------------------------------------------------------

def configure_converter(conv: Converter) -> None:
    """Register every hook of the SDK on `conv`.

    Structuring maps the API's field variants onto the models (see the module docstring).
    Unstructuring gives plain JSON-ready dicts of the canonical fields (ISO date-times,
    money as a string) without `raw`, e.g. for an export.
    """
    conv.register_structure_hook(datetime, lambda v, _: _datetime(v, ""))
    conv.register_structure_hook(Decimal, lambda v, _: _decimal(v, ""))
    conv.register_structure_hook(Sim, structure_sim)
    conv.register_structure_hook(SmallPacket, structure_small_packet)
    conv.register_structure_hook(Packet, structure_packet)
    conv.register_structure_hook(InternetCdr, structure_internet_cdr)
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_unstructure_hook(Decimal, str)
    for cls in (Sim, SmallPacket, Packet, InternetCdr, OperationResult):
        conv.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, conv, raw=override(omit=True))
        )


def make_converter() -> Converter:
    """A new converter with every hook of the SDK registered."""
    conv = Converter()
    configure_converter(conv)
    return conv


converter: Final = make_converter()


def structure_one(obj: Any, cls: type[T], *, where: str = "", body: Any = None) -> T:
    """One model from one object; `where` prefixes the field named by an error."""
    try:
        return converter.structure(obj, cls)
    except ResponseFormatError as exc:
        raise _final(exc, where, obj if body is None else body) from exc


def structure_list(
    items: list[Any], cls: type[T], *, where: str = "data", body: Any = None, start: int = 0,
    exact: bool = False,
) -> list[T]:
    """Models from a list of objects, fast (one hook lookup, no per-item ``try``).

    An error names the item, e.g. ``data[3].started_at`` (`start`: the index of
    ``items[0]`` in the answer, for items decoded a part at a time). `exact`: the items
    are a JSON decoder's output (exact types only), which lets CDR checks take shortcuts.
    """
    hook = converter.get_structure_hook(cls)
    if hook is structure_internet_cdr and len(items) >= _COLUMNS_FROM:
        models = _cdr_columns(items, exact=exact)
        if models is not None:
            return models  # type: ignore[return-value]
    try:
        return [hook(x, cls) for x in items]
    except ResponseFormatError as exc:
        index = _failing_index(hook, items)
        raise _final(exc, f"{where}[{index + start}]", items if body is None else body) from exc
