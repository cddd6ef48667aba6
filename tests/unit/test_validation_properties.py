"""Property tests (hypothesis) of the input normalisers in `simapi_async._validation`."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simapi_async import _validation as v
from simapi_async._exceptions import InvalidInputError

FAST = settings(max_examples=200, deadline=None)
DIGITS = "0123456789"


def _full(pattern: str) -> Callable[[object], bool]:
    compiled = re.compile(pattern)
    return lambda out: isinstance(out, str) and compiled.fullmatch(out) is not None


def _int_in(low: int, high: float) -> Callable[[object], bool]:
    return lambda out: type(out) is int and low <= out <= high


#: name -> (normaliser, "is this a canonical output?")
NORMALISERS: dict[str, tuple[Callable[[object], object], Callable[[object], bool]]] = {
    "number": (v.normalize_number, _full(r"7[0-9]{10}")),
    "numbers": (
        v.normalize_numbers,  # type: ignore[dict-item]
        lambda out: isinstance(out, list) and all(map(_full(r"7[0-9]{10}"), out)),
    ),
    "iccid": (v.normalize_iccid, _full(r"[0-9]{19,20}")),
    "iccid-strict": (
        functools.partial(v.normalize_iccid, strict=True),
        lambda out: _full(r"[0-9]{19,20}")(out) and v.luhn_ok(str(out)),
    ),
    "imsi": (v.normalize_imsi, _full(r"[0-9]{6,15}")),
    "inn": (v.normalize_inn, lambda out: _full(r"[0-9]{10}|[0-9]{12}")(out)
            and v.inn_check_ok(str(out))),
    "date": (v.normalize_date, _full(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")),
    "to_date": (v.to_date, lambda out: type(out) is dt.date),
    "service": (v.normalize_service, _full(r"internet|sms|call")),
    "sms_type": (v.normalize_sms_type, _full(r"internet|call")),
    "status": (v.normalize_status, _full(r"[a-z0-9_\-]{1,32}")),
    "positive_int": (
        functools.partial(v.check_positive_int, field="packet_id"), _int_in(1, float("inf"))
    ),
    "limit": (v.check_limit, _int_in(1, 1000)),
    "page": (v.check_page, _int_in(1, 1_000_000)),
}

_SEPARATORS = st.sampled_from(["", " ", "-", ".", " - ", "  ", ". "])
_PREFIXES = st.sampled_from(["+7", "8", "7", ""])
_PADDING = st.sampled_from(["", " ", "\t", " \n"])


@st.composite
def number_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """A canonical number and one human spelling of it (10 digits without a prefix only
    where they cannot be a one-digit-short 11-digit number: 9xx, 3xx, 4xx)."""
    prefix = draw(_PREFIXES)
    first = draw(st.sampled_from("349" if not prefix else DIGITS))
    national = first + draw(st.text(alphabet=DIGITS, min_size=9, max_size=9))
    cuts = sorted(draw(st.sets(st.integers(1, 9), max_size=5)))
    groups = [national[a:b] for a, b in zip([0, *cuts], [*cuts, 10], strict=True)]
    tokens = [prefix] if prefix else []
    for index, group in enumerate(groups):
        # A spelling may not start or end with a parenthesis: wrap only inner groups.
        inner = bool(tokens) and index < len(groups) - 1
        tokens.append(f"({group})" if inner and draw(st.booleans()) else group)
    text = tokens[0] + "".join(draw(_SEPARATORS) + token for token in tokens[1:])
    return "7" + national, draw(_PADDING) + text + draw(_PADDING)


#: Characters that reach the deeper branches of the parsers, plus a few that must fail.
NEAR_ALPHABET = DIGITS + " +-.()T:Z_aSMSdt\n\t\u0667\uff17\u00a0"
ANY_INPUT = st.one_of(
    st.text(),
    st.text(alphabet=NEAR_ALPHABET, max_size=30),
    st.from_regex(r"\A\s?[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.+Z\-]{0,20})?\Z"),
    st.sampled_from(["internet", " DATA ", "Sms", "call", "active", "Blocked-2"]),
    number_spellings().map(lambda case: case[1]),
    st.text(alphabet=DIGITS, min_size=9, max_size=11).map(v.make_inn),
    st.text(alphabet=DIGITS, min_size=18, max_size=19).map(lambda p: p + v.luhn_check_digit(p)),
    st.text(alphabet=DIGITS, min_size=5, max_size=21),
    st.lists(number_spellings().map(lambda case: case[1]), max_size=4),
    st.integers(),
    st.integers(min_value=0, max_value=10**21),
    st.floats(),
    st.none(),
    st.booleans(),
    st.binary(),
    st.dates(),
    st.datetimes(timezones=st.none() | st.timezones()),
)


def _run(func: Callable[[object], object], value: object) -> InvalidInputError | tuple[object]:
    """The InvalidInputError `func(value)` raises, or its result in a 1-tuple."""
    try:
        return (func(value),)
    except InvalidInputError as error:
        return error


@FAST
@given(value=ANY_INPUT)
def test_normalisers_return_canonical_or_raise_invalid_input(value: object) -> None:
    """On any input every normaliser returns a canonical value or raises InvalidInputError only."""
    for name, (func, canonical) in NORMALISERS.items():
        outcome = _run(func, value)
        if isinstance(outcome, InvalidInputError):
            assert outcome.value is value, name
            assert outcome.reason, name
        else:
            assert canonical(outcome[0]), (name, outcome[0])


@FAST
@given(value=ANY_INPUT)
def test_normalisers_are_idempotent(value: object) -> None:
    """Normalising an already-normalised value gives it back unchanged, for every normaliser."""
    for name, (func, _) in NORMALISERS.items():
        outcome = _run(func, value)
        if not isinstance(outcome, InvalidInputError):
            assert func(outcome[0]) == outcome[0], name


# --------------------------------------------------------------------------- spellings

@FAST
@given(case=number_spellings())
def test_every_spelling_gives_the_same_canonical_number(case: tuple[str, str]) -> None:
    """A number in any mix of separators and +7/8/no prefix normalises to one canonical value."""
    canonical, spelling = case
    assert v.normalize_number(spelling) == canonical
    assert v.normalize_number(canonical) == canonical
    assert v.normalize_number(int(canonical)) == canonical
    assert v.normalize_number(v.normalize_number(spelling)) == canonical


@FAST
@given(case=number_spellings(), junk=st.sampled_from("/%?#&=a\u0667\uff17+"))
def test_a_spelling_with_a_foreign_character_is_rejected(case: tuple[str, str], junk: str) -> None:
    """Inserting a forbidden character (or a second '+') into any spelling makes it invalid."""
    _, spelling = case
    text = spelling.strip()
    middle = len(text) // 2
    bad = text[:middle] + junk + text[middle:]
    with pytest.raises(InvalidInputError) as info:
        v.normalize_number(bad, "to")
    assert (info.value.field, info.value.value) == ("to", bad)


# --------------------------------------------------------------------------- check digits

_W10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_W11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_W12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _residues(inn: str) -> list[int]:
    """The weighted sums mod 11 that the INN's check digits are taken from."""
    def weighted(weights: tuple[int, ...]) -> int:
        return sum(w * int(d) for w, d in zip(weights, inn, strict=False)) % 11

    return [weighted(_W10)] if len(inn) == 10 else [weighted(_W11), weighted(_W12)]


@FAST
@given(seed=st.text(alphabet=DIGITS, min_size=9, max_size=11))
def test_generated_inns_are_accepted(seed: str) -> None:
    """make_inn keeps the seed's digits and gives an INN that normalize_inn accepts."""
    inn = v.make_inn(seed)
    assert inn.startswith(seed[:10])
    assert len(inn) == (10 if len(seed) == 9 else 12)
    assert v.normalize_inn(inn) == inn


@FAST
@given(
    seed=st.text(alphabet=DIGITS, min_size=9, max_size=10),
    position=st.integers(0, 11),
    shift=st.integers(1, 9),
)
@example(seed="344978690", position=0, shift=6)  # 3449786900 -> 9449786900: sums 0 and 10
def test_single_digit_changes_to_an_inn_are_rejected(seed: str, position: int, shift: int) -> None:
    """Changing one digit of a valid INN is rejected, save when a sum only moves 0 <-> 10 mod 11."""
    inn = v.make_inn(seed)
    position %= len(inn)
    mutated = inn[:position] + str((int(inn[position]) + shift) % 10) + inn[position + 1 :]
    checks_at = range(len(inn) - len(_residues(inn)), len(inn))
    aliased = position not in checks_at and all(
        {old, new} <= {0, 10} for old, new in zip(_residues(inn), _residues(mutated), strict=True)
    )
    if aliased:  # both sums give check digit 0: the algorithm cannot see this change
        assert v.normalize_inn(mutated) == mutated
    else:
        with pytest.raises(InvalidInputError):
            v.normalize_inn(mutated)


class _Collect(logging.Handler):
    """A handler that keeps the records it is given."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _luhn_warnings() -> Iterator[list[logging.LogRecord]]:
    """Collect WARNING records of the `simapi_async` logger, forgetting earlier reports."""
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    logger = logging.getLogger("simapi_async")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    v._LUHN_FAILURES.clear()
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        v._LUHN_FAILURES.clear()


@FAST
@given(
    partial=st.text(alphabet=DIGITS, min_size=18, max_size=19),
    position=st.integers(0, 19),
    shift=st.integers(1, 9),
)
def test_single_digit_changes_to_an_iccid_fail_luhn(
    partial: str, position: int, shift: int
) -> None:
    """A Luhn-valid ICCID passes strictly; any one-digit change is refused strictly, else logged."""
    iccid = partial + v.luhn_check_digit(partial)
    with _luhn_warnings() as records:
        assert v.normalize_iccid(iccid, strict=True) == iccid
        assert v.normalize_iccid(iccid) == iccid
    assert records == []

    position %= len(iccid)
    mutated = iccid[:position] + str((int(iccid[position]) + shift) % 10) + iccid[position + 1 :]
    with pytest.raises(InvalidInputError, match="Luhn"):
        v.normalize_iccid(mutated, strict=True)
    with _luhn_warnings() as records:
        assert v.normalize_iccid(mutated) == mutated
        assert v.normalize_iccid(mutated) == mutated
    assert [r.levelno for r in records] == [logging.WARNING]
