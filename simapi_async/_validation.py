"""Normalise user input to the API's canonical forms, or raise `InvalidInputError`.

Every function takes the user's value and the parameter's name (`field`, used in the
error) and returns the canonical value. They sit on the hot path of bulk jobs over
millions of numbers, so each has a fast path for input that is already canonical and
uses only precompiled regexes and `str` methods.

>>> normalize_number("+7 (918) 111-11-11")
'79181111111'
>>> normalize_inn(" 7707083893 ")
'7707083893'
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from collections.abc import Iterable
from typing import Final

from ._exceptions import InvalidInputError

__all__ = [
    "check_limit",
    "check_page",
    "check_positive_int",
    "date_range",
    "inn_check_ok",
    "luhn_check_digit",
    "luhn_failures",
    "luhn_ok",
    "make_inn",
    "normalize_date",
    "normalize_iccid",
    "normalize_imsi",
    "normalize_inn",
    "normalize_number",
    "normalize_numbers",
    "normalize_service",
    "normalize_sms_type",
    "normalize_status",
    "to_date",
]

_log = logging.getLogger("simapi_async")


def _invalid(field: str, value: object, reason: str) -> InvalidInputError:
    """The error for `value`, even one whose repr() fails (an int past Python's digit limit)."""
    try:
        return InvalidInputError(field, value, reason)
    except ValueError:
        error = InvalidInputError(field, f"<{type(value).__name__} too large to show>", reason)
        error.value = value
        return error

# --------------------------------------------------------------------------- numbers

_NUMBER_EXPECTED: Final = (
    "expected a Russian mobile number like +7 918 111-11-11 (11 digits starting with 7)"
)
#: Digits with runs of separators strictly between them, after an optional leading `+`.
#: The separator class holds no digit, so matching is linear (no backtracking blow-up).
_NUMBER_SHAPE: Final = re.compile(r"\+?[0-9](?:[ .()\-]*[0-9])*")
_NUMBER_CHARS: Final = frozenset("0123456789 .()-+")
_DROP_SEPARATORS: Final = str.maketrans("", "", " .()-+")
#: Longest spelling looked at: 11 digits with generous separators.
_MAX_SPELLING: Final = 64


def normalize_number(value: object, field: str = "number") -> str:
    """Return the number as 11 digits starting with 7 (regex ``^7\\d{10}$``).

    Accepts ASCII digits with spaces, hyphens, dots or parentheses between them, an
    optional leading ``+`` (then ``+7`` and 10 digits), a leading ``8`` for ``7``, the
    10 digits without country code when they start with 9 (mobile) or 3/4 (geographic
    codes), or a non-negative `int`. Ten digits starting with 7 or 8 are refused as
    ambiguous: ``7918111111`` is an 11-digit number one digit short, not ``77918111111``.
    """
    if type(value) is str and len(value) == 11 and value.startswith("7") and (
        value.isascii() and value.isdigit()
    ):
        return value
    if isinstance(value, str):
        return _number_from_text(value, field)
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 10**11:
            raise _invalid(field, value, _NUMBER_EXPECTED)
        return _number_from_digits(str(int(value)), False, value, field)
    raise _invalid(
        field, value, f"a {type(value).__name__} is not accepted; {_NUMBER_EXPECTED}"
    )


def _stripped(value: str) -> str:
    """`value` without surrounding whitespace or a leading byte-order mark (U+FEFF, the
    invisible first character of a UTF-8 file saved by Excel and read without
    ``encoding="utf-8-sig"``)."""
    text = value.strip()
    return text[1:].lstrip() if text.startswith("\ufeff") else text


def _number_from_text(value: str, field: str) -> str:
    text = _stripped(value)
    if not text:
        raise _invalid(field, value, f"empty; {_NUMBER_EXPECTED}")
    if len(text) > _MAX_SPELLING:
        raise _invalid(field, value, f"too long; {_NUMBER_EXPECTED}")
    if _NUMBER_SHAPE.fullmatch(text) is None:
        raise _invalid(field, value, f"{_number_shape_problem(text)}; {_NUMBER_EXPECTED}")
    if ("(" in text or ")" in text) and not _parentheses_balanced(text):
        raise _invalid(field, value, f"unbalanced parentheses; {_NUMBER_EXPECTED}")
    return _number_from_digits(text.translate(_DROP_SEPARATORS), text[0] == "+", value, field)


def _number_shape_problem(text: str) -> str:
    """Say why `text` does not match `_NUMBER_SHAPE` (only called once it did not)."""
    for char in text:
        if char not in _NUMBER_CHARS:
            if char.isdigit():
                return f"contains the non-ASCII digit {char!r}"
            return f"contains {char!r} (only digits, spaces, hyphens, dots, parentheses)"
    if "+" in text[1:]:
        return "'+' is allowed only once, at the start"
    if text[0] == "+" and len(text) > 1 and not text[1].isdigit():
        return "'+' must be followed directly by 7"
    return "must start and end with a digit (a leading '+' is allowed)"


def _parentheses_balanced(text: str) -> bool:
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
            if depth > 1:
                return False
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _number_from_digits(digits: str, plus: bool, value: object, field: str) -> str:
    count = len(digits)
    if plus:
        if count == 11 and digits[0] == "7":
            return digits
        raise _invalid(
            field, value, f"with a leading '+' it must be +7 and 10 digits; {_NUMBER_EXPECTED}"
        )
    if count == 11:
        if digits[0] == "7":
            return digits
        if digits[0] == "8":
            return "7" + digits[1:]
        raise _invalid(
            field, value, f"11 digits must start with 7 or 8; {_NUMBER_EXPECTED}"
        )
    if count == 10:
        if digits[0] in _NATIONAL_FIRST:
            return "7" + digits
        raise _invalid(field, value, _ten_digit_problem(digits[0]))
    raise _invalid(field, value, f"has {count} digits; {_NUMBER_EXPECTED}")


#: First digits of 10-digit numbers taken as "without country code": Russian mobile (9xx)
#: and geographic (3xx, 4xx) codes, which no 11-digit spelling (7..., 8...) one digit short
#: can look like.
_NATIONAL_FIRST: Final = frozenset("349")


def _ten_digit_problem(first: str) -> str:
    """Why 10 digits starting with `first` are not read as a number without +7."""
    if first in "78":
        return (
            f"10 digits starting with {first} are ambiguous: an 11-digit number "
            f"({first}...) one digit short, or a code without the country code; write "
            f"all 11 digits or +7 and the 10 (e.g. +7 918 111-11-11)"
        )
    return (
        f"10 digits starting with {first}: no Russian code starts with {first} (mobile "
        f"numbers are 9xx); write +7 and the 10 digits if it is right"
    )


def normalize_numbers(values: Iterable[object], field: str = "numbers") -> list[str]:
    """Normalise every number (errors name ``numbers[i]``), dropping repeats, keeping order.

    A bare `str` is one number, not a sequence of characters.
    """
    if isinstance(values, str):
        return [normalize_number(values, field)]
    if isinstance(values, bytes | bytearray | memoryview) or not isinstance(values, Iterable):
        raise _invalid(field, values, "expected an iterable of numbers")
    seen: set[str] = set()
    out: list[str] = []
    for index, item in enumerate(values):
        number = normalize_number(item, f"{field}[{index}]")
        if number not in seen:
            seen.add(number)
            out.append(number)
    return out


# --------------------------------------------------------------------------- digit strings


def _digits_from(
    value: object, field: str, shape: re.Pattern[str] | None, limit: int, expected: str
) -> str:
    """ASCII digits of a str (separators as `shape` allows) or non-negative int below `limit`."""
    if type(value) is str and value.isdigit() and value.isascii():
        return value  # the common case: already plain digits
    if isinstance(value, str):
        text = _stripped(value)
        if text.isascii() and text.isdigit():
            return text
        if not text:
            raise _invalid(field, value, f"empty; {expected}")
        if not text.isascii():
            raise _invalid(field, value, f"contains non-ASCII characters; {expected}")
        if shape is None or len(text) > _MAX_SPELLING or shape.fullmatch(text) is None:
            raise _invalid(field, value, f"contains non-digits; {expected}")
        return text.replace(" ", "").replace("-", "")
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < limit:
            return str(int(value))
        raise _invalid(field, value, expected)
    raise _invalid(
        field, value, f"a {type(value).__name__} is not accepted; {expected}"
    )


# --------------------------------------------------------------------------- ICCID

_ICCID_EXPECTED: Final = "expected 19 or 20 digits (an ICCID like 8970199220150123456)"
_ICCID_SHAPE: Final = re.compile(r"[0-9](?:[ \-]*[0-9])*")
_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_DOUBLED_BYTES: Final = bytes.maketrans(b"0123456789", b"0246813579")


class _LuhnFailures:
    """ICCIDs accepted though they fail Luhn (not `strict`), for the whole process: the
    first is logged at WARNING, each one at DEBUG, and a bulk run logs how many it saw
    (a fleet whose ICCIDs all fail, like the API docs' examples, is one line, not
    40,000)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def clear(self) -> None:
        self.count = 0

    def failed(self, field: str, digits: str) -> None:
        self.count += 1
        if self.count == 1:
            _log.warning(
                "%s %s fails the Luhn check; sent as given (the API docs' own examples "
                "fail it). Further ones are logged at DEBUG only", field, digits,
            )
        elif _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s %s fails the Luhn check; sent as given", field, digits)


_LUHN_FAILURES: Final = _LuhnFailures()


def luhn_failures() -> int:
    """How many ICCIDs failing the Luhn check this process accepted so far."""
    return _LUHN_FAILURES.count


def luhn_ok(digits: str) -> bool:
    """Whether `digits` (ASCII digits, check digit last) passes the Luhn check."""
    if not (digits.isascii() and digits.isdigit()):
        return False
    raw = digits.encode()  # sums of bytes run in C: ~4x faster than a generator
    return (sum(raw[-1::-2]) + sum(raw[-2::-2].translate(_DOUBLED_BYTES))
            - 48 * len(raw)) % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The Luhn check digit to append to `partial` (ASCII digits).

    >>> luhn_check_digit("7992739871")
    '3'
    """
    if not (partial.isascii() and partial.isdigit()):
        raise _invalid("partial", partial, "expected ASCII digits")
    total = sum(_DOUBLED[ord(c) - 48] for c in partial[-1::-2])
    total += sum(ord(c) - 48 for c in partial[-2::-2])
    return str(-total % 10)


def normalize_iccid(value: object, field: str = "iccid", *, strict: bool = False) -> str:
    """Return the ICCID as 19-20 ASCII digits (spaces and hyphens between digits dropped).

    A failed Luhn check raises when `strict`; else the ICCID is sent as given (the API
    docs' own example ICCID fails Luhn): the process's first such ICCID is logged at
    WARNING on the ``simapi_async`` logger, every one at DEBUG (see `luhn_failures`).
    """
    digits = _digits_from(value, field, _ICCID_SHAPE, 10**20, _ICCID_EXPECTED)
    if not 19 <= len(digits) <= 20:
        raise _invalid(field, value, f"has {len(digits)} digits; {_ICCID_EXPECTED}")
    if not luhn_ok(digits):
        if strict:
            raise _invalid(field, value, "the last digit fails the Luhn check")
        _LUHN_FAILURES.failed(field, digits)
    return digits


# --------------------------------------------------------------------------- IMSI

_IMSI_EXPECTED: Final = "expected 6 to 15 digits (an IMSI like 250011234567890)"


def normalize_imsi(value: object, field: str = "imsi") -> str:
    """Return the IMSI as 6-15 ASCII digits."""
    digits = _digits_from(value, field, None, 10**15, _IMSI_EXPECTED)
    if not 6 <= len(digits) <= 15:
        raise _invalid(field, value, f"has {len(digits)} digits; {_IMSI_EXPECTED}")
    return digits


# --------------------------------------------------------------------------- INN

_INN_EXPECTED: Final = "expected an INN of 10 digits (company) or 12 digits (individual)"
_W10: Final = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_W11: Final = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_W12: Final = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _inn_digit(digits: str, weights: tuple[int, ...]) -> str:
    return str(sum(w * (ord(c) - 48) for w, c in zip(weights, digits, strict=False)) % 11 % 10)


def inn_check_ok(digits: str) -> bool:
    """Whether `digits` is a 10- or 12-digit INN whose check digits are right."""
    if not (digits.isascii() and digits.isdigit()):
        return False
    if len(digits) == 10:
        return digits[9] == _inn_digit(digits, _W10)
    if len(digits) == 12:
        return digits[10] == _inn_digit(digits, _W11) and digits[11] == _inn_digit(digits, _W12)
    return False


def make_inn(seed_digits: str) -> str:
    """Complete `seed_digits` into a valid INN (for the emulator and tests).

    9 digits give a 10-digit company INN. 10 digits give a 12-digit individual INN; so
    do 11, whose last digit is replaced (it is the first check digit).
    """
    if not (seed_digits.isascii() and seed_digits.isdigit()) or len(seed_digits) not in (9, 10, 11):
        raise _invalid(
            "seed_digits", seed_digits, "expected 9 digits (company INN) or 10-11 (individual)"
        )
    if len(seed_digits) == 9:
        return seed_digits + _inn_digit(seed_digits, _W10)
    base = seed_digits[:10]
    base += _inn_digit(base, _W11)
    return base + _inn_digit(base, _W12)


def normalize_inn(value: object, field: str = "inn") -> str:
    """Return the INN as 10 or 12 ASCII digits with valid check digits.

    Prefer a `str`: an `int` loses the leading zero of INNs from region 01-09.
    """
    digits = _digits_from(value, field, None, 10**12, _INN_EXPECTED)
    if len(digits) not in (10, 12):
        hint = " (pass INNs as str to keep leading zeros)" if not isinstance(value, str) else ""
        raise _invalid(field, value, f"has {len(digits)} digits{hint}; {_INN_EXPECTED}")
    if not inn_check_ok(digits):
        raise _invalid(field, value, "the check digits are wrong (mistyped INN?)")
    return digits


# --------------------------------------------------------------------------- dates

_DATE_EXPECTED: Final = "expected a date, a datetime or an ISO date string like 2024-01-31"
_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def to_date(value: object, field: str = "date") -> _dt.date:
    """Return a `datetime.date` from a date, a datetime (its own date) or an ISO string."""
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value if type(value) is _dt.date else _dt.date(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise _invalid(
            field, value, f"a {type(value).__name__} is not accepted; {_DATE_EXPECTED}"
        )
    text = value.strip()
    if not text.isascii() or _ISO_DATE.match(text) is None:
        raise _invalid(field, value, _DATE_EXPECTED)
    try:
        if len(text) == 10:
            return _dt.date.fromisoformat(text)
        if text[10] in "Tt ":
            return _dt.datetime.fromisoformat(text).date()
    except (ValueError, OverflowError) as exc:
        raise _invalid(field, value, f"not a real date or time ({exc})") from None
    raise _invalid(field, value, _DATE_EXPECTED)


def normalize_date(value: object, field: str = "date") -> str:
    """Return the date as ``YYYY-MM-DD``."""
    return to_date(value, field).isoformat()


def date_range(
    date_from: object,
    date_to: object,
    *,
    from_field: str = "date_from",
    to_field: str = "date_to",
) -> tuple[_dt.date, _dt.date]:
    """Return both dates; raise (naming `to_field`) when the range ends before it starts."""
    start = to_date(date_from, from_field)
    end = to_date(date_to, to_field)
    if end < start:
        raise _invalid(
            to_field, date_to, f"ends before {from_field} {start.isoformat()}"
        )
    return start, end


# --------------------------------------------------------------------------- choices

_SERVICES: Final = {"internet": "internet", "data": "internet", "sms": "sms", "call": "call"}
_SMS_TYPES: Final = {"internet": "internet", "data": "internet", "call": "call"}


def _choice(value: object, field: str, choices: dict[str, str], expected: str) -> str:
    if isinstance(value, str):
        found = choices.get(value) or choices.get(value.strip().lower())
        if found is not None:
            return found
    raise _invalid(field, value, expected)


def normalize_service(value: object, field: str = "service") -> str:
    """Return ``"internet"``, ``"sms"`` or ``"call"`` (``"data"`` means internet)."""
    return _choice(
        value, field, _SERVICES, "expected 'internet', 'sms' or 'call' ('data' means internet)"
    )


def normalize_sms_type(value: object, field: str = "type") -> str:
    """Return ``"internet"`` or ``"call"`` (``"data"`` means internet)."""
    return _choice(
        value, field, _SMS_TYPES, "expected 'internet' or 'call' ('data' means internet)"
    )


_STATUS: Final = re.compile(r"[A-Za-z0-9_\-]{1,32}")


def normalize_status(value: object, field: str = "status") -> str:
    """Return a SIM status filter: 1-32 ASCII letters, digits, ``_`` or ``-``, lower-cased."""
    if isinstance(value, str):
        text = value.strip()
        if _STATUS.fullmatch(text) is not None:
            return text.lower()
    raise _invalid(
        field, value, "expected 1 to 32 ASCII letters, digits, '_' or '-' (e.g. 'active')"
    )


# --------------------------------------------------------------------------- integers


def check_positive_int(value: object, field: str, *, maximum: int | None = None) -> int:
    """Return `value` as an int from 1 to `maximum`; a str of ASCII digits is accepted."""
    expected = "expected a whole number from 1" + (f" to {maximum}" if maximum is not None else "")
    number: int
    if isinstance(value, bool):
        raise _invalid(field, value, expected)
    if isinstance(value, int):
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise _invalid(field, value, expected)
        try:
            number = int(text)
        except ValueError:  # more digits than int() converts
            raise _invalid(field, value, expected) from None
    else:
        raise _invalid(field, value, f"{expected}, not {type(value).__name__}")
    if number < 1 or (maximum is not None and number > maximum):
        raise _invalid(field, value, expected)
    return number


def check_limit(value: object, field: str = "limit") -> int:
    """Return a page size from 1 to 1000."""
    return check_positive_int(value, field, maximum=1000)


def check_page(value: object, field: str = "page") -> int:
    """Return a page number from 1 to 1,000,000."""
    return check_positive_int(value, field, maximum=1_000_000)
