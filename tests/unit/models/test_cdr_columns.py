"""The column-by-column structuring of CDR lists gives exactly what the per-record hook gives."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simapi_async import _rows
from simapi_async._converter import _cdr_columns, structure_internet_cdr, structure_list
from simapi_async._exceptions import ResponseFormatError
from simapi_async.models import InternetCdr

FAST = settings(max_examples=300, deadline=None)


@pytest.fixture(scope="module", autouse=True, params=["compiled", "python"])
def rows_steps(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here twice: with the compiled `_rows` steps and with the Python ones
    (a machine without a C compiler). CI builds the extension: there it must be built."""
    if request.param == "compiled" and not _rows.COMPILED:
        if os.environ.get("CI") == "true":
            pytest.fail("simapi_async._cmodels is not built (pip install -e . builds it)")
        pytest.skip("simapi_async._cmodels is not built (no C compiler at install time)")
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "python":
            patch.setattr(_rows, "columns", _rows.py_columns)
            patch.setattr(_rows, "fill", _rows.py_fill)
        yield request.param

#: Every key the hook reads, and some it does not.
KEYS = ("number", "msisdn", "started_at", "start", "date", "ended_at", "end", "volume_bytes",
        "volume", "bytes", "upload_bytes", "upload", "download_bytes", "download", "apn",
        "imsi", "iccid", "cell_id", "roaming")

VALUES = st.one_of(
    st.none(),
    st.sampled_from(["2026-10-01T05:00:00+03:00", "2026-10-01 05:00:00", "2026-10-01",
                     "2026-10-01T05:00:00Z", "", " ", "yesterday", "2024-02-30",
                     "79181111111", "m2m.operator.ru", "12", " 7 ", "1e3"]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


TIMES = st.sampled_from(["2026-10-01T05:00:00+03:00", "2026-10-01 05:00:00", "2026-10-01",
                         "2026-10-01T05:00:00.123456Z", "2026-10-01T05:00:00-01:30"])
GOOD = {"number": st.just("79181111111"), "msisdn": st.just("79181111112"),
        "started_at": TIMES, "start": TIMES, "date": TIMES, "ended_at": TIMES, "end": TIMES,
        "volume_bytes": st.integers(0, 2**40), "volume": st.integers(0, 2**40),
        "bytes": st.integers(0, 9), "upload_bytes": st.integers(0, 9),
        "upload": st.integers(0, 9), "download_bytes": st.integers(0, 9),
        "download": st.integers(0, 9), "apn": st.just("m2m"), "imsi": st.just("25001"),
        "iccid": st.just("8970199"), "cell_id": VALUES, "roaming": st.booleans()}


def _value(data: st.DataObject, key: str) -> Any:
    """Mostly what a server sends for `key`; sometimes null or anything else."""
    odd = data.draw(st.integers(0, 9))
    if odd == 0:
        return None
    return data.draw(VALUES if odd == 1 else GOOD[key])


def _canonical(i: int) -> dict[str, Any]:
    return {"number": f"7918{i:07d}", "date": "2026-10-01",
            "start": f"2026-10-01T05:{i % 60:02d}:00+03:00",
            "end": f"2026-10-01T06:{i % 60:02d}:00+03:00", "volume": 1000 + i,
            "apn": "m2m.operator.ru", "imsi": f"25001{i:010d}", "iccid": f"8970199{i:012d}",
            "session_id": f"{i:016x}", "roaming": False}


def _outcome(run: Any) -> Any:
    try:
        return ("ok", run())
    except ResponseFormatError as exc:
        return ("error", exc.field, exc.message)


def _same_models(got: list[InternetCdr], want: list[InternetCdr]) -> None:
    assert got == want
    for a, b in zip(got, want, strict=True):
        assert a.raw is b.raw
        for t, u in ((a.started_at, b.started_at), (a.ended_at, b.ended_at)):
            assert type(t) is type(u)
            assert getattr(t, "tzinfo", None) == getattr(u, "tzinfo", None)
        for x, y in zip(attrs_values(a), attrs_values(b), strict=True):
            assert type(x) is type(y)


def attrs_values(r: InternetCdr) -> tuple[Any, ...]:
    return (r.number, r.started_at, r.ended_at, r.volume_bytes, r.upload_bytes,
            r.download_bytes, r.apn, r.imsi, r.iccid)


def test_the_usual_answer_is_structured_by_columns():
    """A list of records of one usual shape takes the column path (not the hook per record)."""
    items = [_canonical(i) for i in range(50)]
    got = _cdr_columns(items)
    assert got is not None
    _same_models(got, [structure_internet_cdr(x) for x in items])
    assert got[3].started_at == dt.datetime(2026, 10, 1, 5, 3,
                                            tzinfo=dt.timezone(dt.timedelta(hours=3)))
    assert got[3].volume_bytes == 1003
    assert got[3].upload_bytes is None


def test_the_alternative_spelling_is_structured_by_columns_too():
    """msisdn, started_at without offset and upload + download give the hook's totals."""
    items = [{"msisdn": "79181111111", "started_at": "2026-10-01 05:00:00",
              "ended_at": None if i % 2 else "2026-10-01 06:00:00", "upload": i,
              "download": None if i == 3 else 10, "apn": None} for i in range(20)]
    got = _cdr_columns(items)
    assert got is not None
    _same_models(got, [structure_internet_cdr(x) for x in items])
    assert got[3].volume_bytes is None
    assert got[4].volume_bytes == 14


@FAST
@given(st.lists(st.sampled_from(KEYS), min_size=1, max_size=8, unique=True),
       st.data(), st.integers(min_value=8, max_value=20))
def test_any_list_gives_the_hooks_records_or_the_hooks_error(keys, data, n):
    """Records of random keys and values: structure_list equals the hook record by record,
    or raises the same error (field and message) for the same record."""
    template = {k: _value(data, k) for k in keys}
    items: list[Any] = []
    vary = data.draw(st.booleans())
    for _ in range(n):
        record = dict(template)
        if vary and data.draw(st.integers(0, 3)) == 0:  # some differ in a value, a key or a type
            key = data.draw(st.sampled_from(KEYS))
            if data.draw(st.booleans()):
                record.pop(key, None)
            else:
                record[key] = _value(data, key)
        items.append(record)
    if vary and data.draw(st.integers(0, 9)) == 0:
        items[data.draw(st.integers(0, n - 1))] = data.draw(VALUES)  # not an object

    def by_hook() -> list[InternetCdr]:
        out = []
        for i, x in enumerate(items):
            try:
                out.append(structure_internet_cdr(x))
            except ResponseFormatError as exc:
                raise ResponseFormatError(
                    f"unexpected API answer at data[{i}]"
                    f"{'.' + exc.field if exc.field else ''}: {exc.message}",
                    field=f"data[{i}]{'.' + exc.field if exc.field else ''}") from None
        return out

    got = _outcome(lambda: structure_list(items, InternetCdr, where="data"))
    want = _outcome(by_hook)
    assert got[0] == want[0]
    if got[0] == "ok":
        _same_models(got[1], want[1])
    else:
        assert got[1:] == want[1:]


@pytest.mark.parametrize(("bad", "field"), [
    ({"start": "03/01/2024"}, "data[11].start"),
    ({"volume": "lots"}, "data[11].volume"),
    ({"number": 1.5}, "data[11].number"),
    ({"start": None, "date": "2024-02-30"}, "data[11].date"),
])
def test_a_bad_record_in_a_long_list_is_named_by_its_index(bad, field):
    """In a list long enough for the column path, the bad record is still named by index."""
    items = [_canonical(i) for i in range(30)]
    items[11] = {**items[11], **bad}
    with pytest.raises(ResponseFormatError) as info:
        structure_list(items, InternetCdr, where="data")
    assert info.value.field == field
    assert info.value.body == items  # (scrubbed of known secrets: maybe a copy)


def test_a_null_with_another_spelling_present_reads_that_spelling():
    """``start: null`` next to ``date`` starts at the date, as the hook reads it."""
    items = [_canonical(i) for i in range(10)]
    items[4] = {**items[4], "start": None}
    got = structure_list(items, InternetCdr)
    assert got[4].started_at == dt.datetime(2026, 10, 1)
    assert got[5].started_at.tzinfo is not None


def test_a_null_total_next_to_both_directions_is_their_sum():
    """``volume: null`` with upload and download gives their sum, as the hook does."""
    items = [{"number": "79181111111", "volume": None if i == 2 else 7, "upload": 1,
              "download": 2} for i in range(10)]
    got = structure_list(items, InternetCdr)
    assert [r.volume_bytes for r in got[:4]] == [7, 7, 3, 7]


def test_records_built_slot_by_slot_equal_those_built_by_init(monkeypatch):
    """The slot-by-slot construction gives what InternetCdr's own __init__ gives."""
    items = [_canonical(i) for i in range(20)]
    fast = _cdr_columns(items)
    monkeypatch.setattr("simapi_async._converter._CDR_SLOTS", None)
    by_init = _cdr_columns(items)
    assert fast is not None
    assert by_init is not None
    _same_models(fast, by_init)
    assert {type(r) for r in fast} == {InternetCdr}


@FAST
@given(st.lists(st.sampled_from(KEYS), min_size=1, max_size=8, unique=True),
       st.data(), st.integers(min_value=8, max_value=20))
def test_the_decoders_shortcuts_give_what_the_checked_path_gives(keys, data, n):
    """`exact=True` (items straight from a JSON decoder) checks string and date-time
    columns by reading them (``"".join``, `fromisoformat` through the time cache) instead
    of by their types: on lists of exact JSON types it gives the same records, or the same
    error for the same record, as the checked path and the hook."""
    template = {k: _value(data, k) for k in keys}
    items: list[Any] = []
    for _ in range(n):
        record = dict(template)
        if data.draw(st.integers(0, 3)) == 0:
            key = data.draw(st.sampled_from(KEYS))
            record[key] = _value(data, key)
        items.append(record)
    if data.draw(st.integers(0, 9)) == 0:
        items[data.draw(st.integers(0, n - 1))] = data.draw(VALUES)  # not an object
    got = _outcome(lambda: structure_list(items, InternetCdr, where="data", exact=True))
    want = _outcome(lambda: structure_list(items, InternetCdr, where="data"))
    assert got[0] == want[0]
    if got[0] == "ok":
        _same_models(got[1], want[1])
    else:
        assert got[1:] == want[1:]


def test_repeated_times_are_parsed_once_and_shared(monkeypatch):
    """The same text of a time in many records (a big fleet: many sessions a second) is
    parsed once; the records share the (immutable) datetime, and each is still right."""
    from simapi_async import _converter

    monkeypatch.setattr(_converter, "_times", {})
    parsed: list[str] = []
    real = dt.datetime.fromisoformat

    class Counting(dt.datetime):
        @classmethod
        def fromisoformat(cls, text: str) -> dt.datetime:  # type: ignore[override]
            parsed.append(text)
            return real(text)

    monkeypatch.setattr(_converter, "datetime", Counting)
    items = [{**_canonical(i), "start": "2026-10-01T05:00:00+03:00"} for i in range(40)]
    got = structure_list(items, InternetCdr, exact=True)
    assert parsed.count("2026-10-01T05:00:00+03:00") == 1
    assert {id(r.started_at) for r in got} == {id(got[0].started_at)}
    assert got[7].started_at == dt.datetime(2026, 10, 1, 2, 0, tzinfo=dt.UTC)
    assert got[7].ended_at == real(items[7]["end"])
    again = structure_list(items, InternetCdr, exact=True)  # a later batch: still cached
    assert parsed.count("2026-10-01T05:00:00+03:00") == 1
    assert again[0].started_at is got[0].started_at


def test_the_time_cache_stays_bounded(monkeypatch):
    """Past `_TIMES_MAX` distinct texts the cache starts over instead of growing."""
    from simapi_async import _converter

    monkeypatch.setattr(_converter, "_times", {})
    monkeypatch.setattr(_converter, "_TIMES_MAX", 50)
    for batch in range(10):
        items = [{**_canonical(i), "start": f"2026-10-01T05:{batch:02d}:{i:02d}+03:00"}
                 for i in range(30)]
        got = structure_list(items, InternetCdr, exact=True)
        assert got[29].started_at.second == 29
        assert len(_converter._times) <= 50 + 60  # the bound, plus one batch's two columns


def test_plans_look_keys_up_by_the_records_own_key_objects():
    """The column getter uses the decoded records' key objects (the same objects, not
    equal strings of ours), so a lookup in a decoder's dict is found by identity."""
    import orjson

    from simapi_async._converter import _cdr_plan

    items = orjson.loads(b"[" + b",".join(orjson.dumps(_canonical(i)) for i in range(10)) + b"]")
    plan = _cdr_plan(items[0])
    assert plan is not None
    first = next(iter(items[0]))
    assert first == "number"
    assert any(k is first for k in plan.order)
