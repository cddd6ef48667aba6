"""Table-driven tests of the input normalisers in `simapi_async._validation`."""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Iterator

import pytest

from simapi_async import _validation as v
from simapi_async._exceptions import InvalidInputError

CANONICAL = "79181111111"
DOCS_ICCID = "8970199220150123456"  # the API docs' example: fails Luhn
LUHN_ICCID = "8970199220150123454"  # same prefix, correct check digit


@pytest.fixture(autouse=True)
def _forget_luhn_warnings() -> Iterator[None]:
    v._LUHN_FAILURES.clear()
    yield
    v._LUHN_FAILURES.clear()


def _rejects(func: object, value: object, name: str, **kwargs: object) -> InvalidInputError:
    """Call func(value, **kwargs), expecting an InvalidInputError naming `name` and `value`."""
    with pytest.raises(InvalidInputError) as info:
        func(value, **kwargs)  # type: ignore[operator]
    assert info.value.field == name
    assert info.value.value is value
    assert info.value.reason
    return info.value


class _Code(enum.IntEnum):
    NUMBER = 79181111111


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "value",
    [
        "+7 (918) 111-11-11",
        "8 918 1111111",
        "7-918-111-11-11",
        "8(918)111.11.11",
        "9181111111",
        79181111111,
        89181111111,
        9181111111,
        _Code.NUMBER,
        "79181111111",
        "  +79181111111\t\n",
        "+7(918)1111111",
        "8 (918) 111 - 11 - 11",
        "7.918.111.11.11",
    ],
)
def test_number_spellings_normalise_to_canonical(value: object) -> None:
    """Every documented spelling of a number normalises to 11 digits starting with 7."""
    result = v.normalize_number(value)
    assert result == CANONICAL
    assert type(result) is str


@pytest.mark.parametrize(
    "value",
    [
        "7918111111a",
        "79181111111/",
        "7918/1111111",
        "7918%1111111",
        "7918?1111111",
        "7918#1111111",
        "7918&1111111",
        "7918=1111111",
        "\u06679181111111",  # Arabic-Indic seven
        "\uff179181111111",  # fullwidth seven
        "",
        "   ",
        None,
        True,
        False,
        79181111111.0,
        b"79181111111",
        "+89181111111",
        "+9181111111",
        "++79181111111",
        "+7+9181111111",
        "+ 79181111111",
        "69181111111",
        "918111111",
        "791811111111",
        "-79181111111",
        "79181111111-",
        "(918) 111-11-11",
        "8 (918 111-11-11",
        "8 918) 111-11-11",
        "8 ((918)) 111-11-11",
        "7 918\n111 11 11",
        -79181111111,
        10**11,
        pytest.param(10**5000, id="int-of-5001-digits"),
        "7" * 100,
    ],
)
def test_number_rejects_everything_else(value: object) -> None:
    """Letters, URL metacharacters, non-ASCII digits, wrong lengths and prefixes are refused."""
    error = _rejects(v.normalize_number, value, "number")
    assert "11 digits starting with 7" in error.reason
    assert isinstance(error, ValueError)


def test_number_error_names_the_given_field() -> None:
    """The error carries the caller's field name."""
    _rejects(v.normalize_number, "abc", "msisdn", field="msisdn")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("\u06679181111111", "non-ASCII digit"),
        ("7918a111111", "'a'"),
        ("+89181111111", "+7"),
        ("+ 79181111111", "followed directly by 7"),
        ("69181111111", "start with 7 or 8"),
        ("918111111", "9 digits"),
        ("(918)1111111", "start and end with a digit"),
    ],
)
def test_number_reason_says_what_is_wrong(value: str, fragment: str) -> None:
    """The reason names the specific problem before the expected shape."""
    assert fragment in _rejects(v.normalize_number, value, "number").reason


@pytest.mark.parametrize("value", ["7918111111", "8918111111", "7 918 111-11-1",
                                   "791-811-11-11", 7918111111, 8121234567])
def test_ten_digits_starting_with_7_or_8_are_ambiguous(value: object) -> None:
    """Ten digits starting with 7 or 8 (an 11-digit number one digit short) are refused
    with a reason saying why, instead of becoming 77918111111 and reaching a stranger."""
    error = _rejects(v.normalize_number, value, "number")
    assert "ambiguous" in error.reason
    assert "one digit short" in error.reason


@pytest.mark.parametrize("value", ["0918111111", "1918111111", "5918111111", "6918111111"])
def test_ten_digits_starting_with_no_russian_code_are_refused(value: str) -> None:
    """Ten digits whose first digit begins no Russian code (0, 1, 2, 5, 6) are refused."""
    assert "no Russian code starts with" in _rejects(v.normalize_number, value, "number").reason


@pytest.mark.parametrize(("value", "expected"), [
    ("9181111111", "79181111111"),   # mobile (DEF 9xx)
    ("4951234567", "74951234567"),   # Moscow
    ("3432123456", "73432123456"),   # Yekaterinburg
    (9181111111, "79181111111"),
])
def test_ten_digits_of_a_russian_code_get_the_country_code(value: object, expected: str) -> None:
    """Ten digits starting with 9 (mobile) or 3/4 (area codes) are the number without +7."""
    assert v.normalize_number(value) == expected


def test_numbers_dedupes_keeping_first_seen_order() -> None:
    """Repeats (in any spelling) are dropped and first-seen order is kept."""
    values = ["8 900 000-00-02", CANONICAL, "+7 900 000 00 02", 79181111111, "9000000003"]
    assert v.normalize_numbers(values) == ["79000000002", CANONICAL, "79000000003"]


def test_numbers_consumes_any_iterable() -> None:
    """A generator is accepted and fully consumed."""
    assert v.normalize_numbers(n for n in ("9181111111",)) == [CANONICAL]


def test_numbers_treats_a_bare_str_as_one_number() -> None:
    """A str is one number, not a sequence of one-character numbers."""
    assert v.normalize_numbers("+7 918 111-11-11") == [CANONICAL]
    _rejects(v.normalize_numbers, "7", "numbers")


def test_numbers_error_names_the_index() -> None:
    """A bad item's error names `numbers[i]` and carries that item."""
    with pytest.raises(InvalidInputError) as info:
        v.normalize_numbers([CANONICAL, "x"])
    assert (info.value.field, info.value.value) == ("numbers[1]", "x")


@pytest.mark.parametrize("values", [None, 79181111111, b"79181111111", bytearray(b"7")])
def test_numbers_rejects_non_iterables_and_bytes(values: object) -> None:
    """None, a bare int and bytes are refused as a whole, naming `numbers`."""
    _rejects(v.normalize_numbers, values, "numbers")


# --------------------------------------------------------------------------- ICCID


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (LUHN_ICCID, LUHN_ICCID),
        (" 8970 1992 2015 0123 454 ", LUHN_ICCID),
        ("8970-1992-2015-0123-454", LUHN_ICCID),
        (int(LUHN_ICCID), LUHN_ICCID),
        ("89701992201501234562", "89701992201501234562"),
    ],
)
def test_iccid_accepted(value: object, expected: str, caplog: pytest.LogCaptureFixture) -> None:
    """19-20 digits with spaces or hyphens between them give the bare digits, unlogged."""
    with caplog.at_level(logging.WARNING, logger="simapi_async"):
        assert v.normalize_iccid(value, strict=True) == expected
    assert not caplog.records


@pytest.mark.parametrize(
    "value",
    [
        "897019922015012345",  # 18 digits
        "897019922015012345612",  # 21 digits
        "8970199220150123456a",
        "8970.1992.2015.0123.454",
        "-8970199220150123454",
        "8970199220150123454-",
        "\uff18970199220150123454",
        "",
        None,
        True,
        8.970199220150123e18,
        10**20,
        -int(LUHN_ICCID),
    ],
)
def test_iccid_rejected(value: object) -> None:
    """Wrong lengths, letters, dots, edge separators, non-ASCII and non-str/int are refused."""
    _rejects(v.normalize_iccid, value, "iccid")


def test_iccid_strict_rejects_failed_luhn() -> None:
    """With strict=True a failed Luhn check raises and says so."""
    error = _rejects(v.normalize_iccid, DOCS_ICCID, "sim_iccid", field="sim_iccid", strict=True)
    assert "Luhn" in error.reason


def test_iccid_failed_luhn_logs_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Without strict, a failed Luhn check is accepted and logged once at WARNING."""
    with caplog.at_level(logging.WARNING, logger="simapi_async"):
        assert v.normalize_iccid(DOCS_ICCID) == DOCS_ICCID
        assert v.normalize_iccid(int(DOCS_ICCID)) == DOCS_ICCID
    records = [r for r in caplog.records if r.name == "simapi_async"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert DOCS_ICCID in records[0].getMessage()


def test_a_fleet_failing_luhn_is_one_warning_and_debug_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """5,000 different ICCIDs failing Luhn give one WARNING for the process, one DEBUG line
    each, and a count (luhn_failures)."""
    base = DOCS_ICCID[:-5]
    failing = [i for i in (f"{base}{n:05d}" for n in range(6000)) if not v.luhn_ok(i)][:5000]
    with caplog.at_level(logging.DEBUG, logger="simapi_async"):
        for iccid in failing:
            v.normalize_iccid(iccid)
    levels = [r.levelno for r in caplog.records if r.name == "simapi_async"]
    assert levels.count(logging.WARNING) == 1
    assert levels.count(logging.DEBUG) == 4999
    assert v.luhn_failures() == 5000


@pytest.mark.parametrize(
    ("digits", "ok"),
    [("79927398713", True), ("79927398710", False), ("0", True), ("", False), ("7a", False),
     (LUHN_ICCID, True), (DOCS_ICCID, False), ("\u0663", False)],
)
def test_luhn_ok(digits: str, ok: bool) -> None:
    """luhn_ok accepts exactly the ASCII digit strings whose Luhn sum is 0 mod 10."""
    assert v.luhn_ok(digits) is ok


@pytest.mark.parametrize(
    ("partial", "digit"), [("7992739871", "3"), ("897019922015012345", "4"), ("0", "0")]
)
def test_luhn_check_digit(partial: str, digit: str) -> None:
    """luhn_check_digit gives the digit that makes partial + digit pass Luhn."""
    assert v.luhn_check_digit(partial) == digit
    assert v.luhn_ok(partial + digit)


def test_luhn_check_digit_rejects_non_digits() -> None:
    """A partial that is empty or has non-digits is refused."""
    _rejects(v.luhn_check_digit, "12a", "partial")
    _rejects(v.luhn_check_digit, "", "partial")


# --------------------------------------------------------------------------- IMSI


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1992002119922", "1992002119922"), (" 250011234567890 ", "250011234567890"),
     (250011234567890, "250011234567890"), ("123456", "123456")],
)
def test_imsi_accepted(value: object, expected: str) -> None:
    """6-15 ASCII digits (or an int) give the digit string."""
    assert v.normalize_imsi(value) == expected


@pytest.mark.parametrize(
    "value",
    ["12345", "1234567890123456", "25001 1234567890", "2500-11234567", "25001123456789a",
     "\uff1250011234567890", "", None, True, 2.5e14, 10**15, -250011234567890],
)
def test_imsi_rejected(value: object) -> None:
    """Wrong lengths, separators, letters, non-ASCII and other types are refused."""
    _rejects(v.normalize_imsi, value, "imsi")


# --------------------------------------------------------------------------- INN


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7707083893", "7707083893"), ("500100732259", "500100732259"),
     (" 7707083893\n", "7707083893"), (7707083893, "7707083893"),
     (500100732259, "500100732259")],
)
def test_inn_accepted(value: object, expected: str) -> None:
    """10- and 12-digit INNs with valid check digits are accepted."""
    assert v.normalize_inn(value) == expected


@pytest.mark.parametrize(
    "value",
    ["7707083894", "500100732250", "500100732269", "770708389", "77070838931", "7707O83893",
     "7707-083893", "\uff17707083893", "", None, True, 7707083893.0, -7707083893],
)
def test_inn_rejected(value: object) -> None:
    """Bad check digits, wrong lengths, letters, separators and other types are refused."""
    _rejects(v.normalize_inn, value, "inn")


def test_inn_int_losing_its_leading_zero_gets_a_hint() -> None:
    """An int INN one digit short suggests passing a str to keep the leading zero."""
    inn = v.make_inn("010101010")
    assert v.normalize_inn(inn) == inn
    assert "leading zeros" in _rejects(v.normalize_inn, int(inn), "inn").reason


@pytest.mark.parametrize(
    ("digits", "ok"),
    [("7707083893", True), ("500100732259", True), ("7707083890", False),
     ("500100732258", False), ("77070838", False), ("", False), ("770708389x", False)],
)
def test_inn_check_ok(digits: str, ok: bool) -> None:
    """inn_check_ok accepts exactly 10/12-digit strings with right check digits."""
    assert v.inn_check_ok(digits) is ok


@pytest.mark.parametrize(
    ("seed", "inn"),
    [("770708389", "7707083893"), ("5001007322", "500100732259"),
     ("50010073220", "500100732259")],
)
def test_make_inn_completes_seeds(seed: str, inn: str) -> None:
    """9 digits complete to a company INN, 10 (or 11, last replaced) to an individual's."""
    assert v.make_inn(seed) == inn


@pytest.mark.parametrize("seed", ["", "12345678", "123456789012", "12345678a"])
def test_make_inn_rejects_bad_seeds(seed: str) -> None:
    """Seeds that are not 9-11 ASCII digits are refused."""
    _rejects(v.make_inn, seed, "seed_digits")


# --------------------------------------------------------------------------- dates

_MSK = dt.timezone(dt.timedelta(hours=3))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.date(2024, 1, 31), "2024-01-31"),
        (dt.datetime(2024, 1, 31, 23, 59), "2024-01-31"),
        (dt.datetime(2024, 1, 31, 23, 59, tzinfo=_MSK), "2024-01-31"),
        ("2024-01-31", "2024-01-31"),
        (" 2024-02-29 ", "2024-02-29"),
        ("2024-01-31T23:59:59", "2024-01-31"),
        ("2024-01-31 23:59:59.123456", "2024-01-31"),
        ("2024-01-31T23:30:00+03:00", "2024-01-31"),
        ("2024-01-31T23:30:00Z", "2024-01-31"),
    ],
)
def test_date_accepted(value: object, expected: str) -> None:
    """Dates, datetimes (their own date, no zone conversion) and ISO strings give YYYY-MM-DD."""
    assert v.normalize_date(value) == expected
    assert v.to_date(value) == dt.date.fromisoformat(expected)
    assert type(v.to_date(value)) is dt.date


@pytest.mark.parametrize(
    "value",
    ["2024-13-01", "2023-02-29", "20240131", "2024-W05-3", "31.01.2024", "2024/01/31",
     "2024-01-31x", "2024-01-31x10:00", "2024-01-31T25:00", "2024-1-31",
     "\uff12\uff10\uff12\uff14-01-31", "2024-01-31T", "2024-01-31T10:00:00\u0665", "", None,
     20240131, 1706659200.0, True, b"2024-01-31"],
)
def test_date_rejected(value: object) -> None:
    """Impossible dates, other formats, non-ASCII digits and other types are refused."""
    _rejects(v.normalize_date, value, "date")
    _rejects(v.to_date, value, "start", field="start")


def test_date_range_returns_both_dates() -> None:
    """A range (a single day included) gives both dates as `date` objects."""
    assert v.date_range("2024-01-01", dt.datetime(2024, 1, 31, 5)) == (
        dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert v.date_range("2024-01-01", "2024-01-01") == (dt.date(2024, 1, 1),) * 2


def test_date_range_refuses_end_before_start() -> None:
    """A range ending before it starts raises, naming the end field."""
    with pytest.raises(InvalidInputError) as info:
        v.date_range("2024-01-31", "2024-01-30")
    assert (info.value.field, info.value.value) == ("date_to", "2024-01-30")
    assert "date_from" in info.value.reason
    with pytest.raises(InvalidInputError) as info:
        v.date_range(dt.date(2024, 1, 31), dt.date(2024, 1, 30), from_field="from", to_field="to")
    assert info.value.field == "to"


def test_date_range_names_the_bad_start() -> None:
    """An invalid start is reported under the start field."""
    _rejects(v.date_range, "yesterday", "date_from", date_to="2024-01-30")


# --------------------------------------------------------------------------- choices


@pytest.mark.parametrize(
    ("value", "expected"),
    [("internet", "internet"), ("DATA", "internet"), (" Sms ", "sms"), ("call", "call"),
     ("Internet\n", "internet")],
)
def test_service_accepted(value: str, expected: str) -> None:
    """Service names are case- and whitespace-insensitive; 'data' means internet."""
    assert v.normalize_service(value) == expected


@pytest.mark.parametrize("value", ["voice", "", "s m s", "\u0455ms", None, 1, True, b"sms"])
def test_service_rejected(value: object) -> None:
    """Anything but internet/sms/call/data is refused, naming `service`."""
    _rejects(v.normalize_service, value, "service")


@pytest.mark.parametrize(
    ("value", "expected"), [("internet", "internet"), ("Data", "internet"), (" CALL", "call")]
)
def test_sms_type_accepted(value: str, expected: str) -> None:
    """SMS types are internet or call; 'data' means internet."""
    assert v.normalize_sms_type(value) == expected


@pytest.mark.parametrize("value", ["sms", "", None, 0])
def test_sms_type_rejected(value: object) -> None:
    """'sms' and anything else outside internet/call is refused, naming `type`."""
    _rejects(v.normalize_sms_type, value, "type")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("active", "active"), ("BLOCKED", "blocked"), (" not_active-2 ", "not_active-2"),
     ("a" * 32, "a" * 32)],
)
def test_status_accepted(value: str, expected: str) -> None:
    """Statuses of 1-32 letters, digits, '_' or '-' are lower-cased."""
    assert v.normalize_status(value) == expected


@pytest.mark.parametrize(
    "value", ["", "a" * 33, "active&page=2", "act ive", "активна", "act\nive", None, 1]
)
def test_status_rejected(value: object) -> None:
    """Empty, too long, URL metacharacters, spaces, non-ASCII and non-str are refused."""
    _rejects(v.normalize_status, value, "status")


# --------------------------------------------------------------------------- integers


@pytest.mark.parametrize(
    ("value", "maximum", "expected"),
    [(1, None, 1), ("42", None, 42), (" 007 ", None, 7), (10**30, None, 10**30),
     (5, 5, 5), (_Code.NUMBER, None, 79181111111)],
)
def test_positive_int_accepted(value: object, maximum: int | None, expected: int) -> None:
    """Ints and ASCII digit strings from 1 to the maximum come back as int."""
    result = v.check_positive_int(value, "packet_id", maximum=maximum)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "maximum"),
    [(0, None), (-1, None), ("0", None), ("-1", None), ("+1", None), ("1.0", None),
     (1.0, None), (True, None), (None, None), ("", None), ("\u0663", None), (6, 5),
     pytest.param("9" * 5000, None, id="5000-digit-str")],
)
def test_positive_int_rejected(value: object, maximum: int | None) -> None:
    """Zero, negatives, signs, floats, bools, non-ASCII and values above maximum are refused."""
    _rejects(v.check_positive_int, value, "packet_id", field="packet_id", maximum=maximum)


@pytest.mark.parametrize(("value", "ok"), [(1, True), (1000, True), (0, False), (1001, False)])
def test_limit_bounds(value: int, ok: bool) -> None:
    """limit accepts 1..1000 only."""
    if ok:
        assert v.check_limit(value) == value
    else:
        _rejects(v.check_limit, value, "limit")


@pytest.mark.parametrize(
    ("value", "ok"), [(1, True), (1_000_000, True), (0, False), (1_000_001, False)]
)
def test_page_bounds(value: int, ok: bool) -> None:
    """page accepts 1..1,000,000 only."""
    if ok:
        assert v.check_page(value) == value
    else:
        _rejects(v.check_page, value, "page")
