"""`api.cdr.internet` over a fake requester: windows, batches, order, bounds, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

import pytest

from simapi_async._exceptions import InvalidInputError, ServerError
from simapi_async.models import InternetCdr

START = dt.date(2024, 3, 1)


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _records_for(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Three records per day of the window, listed newest first (the SDK must sort them)."""
    out = []
    day = _day(params["from"])
    while day <= _day(params["to"]):
        for hour in (23, 7, 12):
            out.append({"msisdn": 79180000000 + day.day, "start": f"{day}T{hour:02d}:00:00Z",
                        "bytes": hour})
        day += dt.timedelta(days=1)
    return out


class ReverseGroups:
    """Answers requests in groups of four, newest first: window 4k+3 is answered before
    4k+2, before 4k+1, before 4k (each waits for the next one of its group)."""

    def __init__(self, windows: int) -> None:
        self.windows = windows
        self.answered = [asyncio.Event() for _ in range(windows)]
        self.order: list[int] = []

    async def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        w = (_day(params["from"]) - START).days
        nxt = w + 1
        if nxt % 4 and nxt < self.windows:
            await self.answered[nxt].wait()
        self.order.append(w)
        self.answered[w].set()
        return {"data": _records_for(params)}


async def test_forty_days_come_out_once_each_in_date_order(fake, cdr):
    """40 one-day windows answered out of order still yield every record once, sorted."""
    server = ReverseGroups(40)
    fake.on("cdr_internet", server)
    async with asyncio.timeout(10):  # a guard against a hang, not a timing assertion
        got = [r async for r in cdr.internet(START, "2024-04-09", concurrency=4)]
    assert server.order[:4] == [3, 2, 1, 0]
    assert len(got) == 120
    assert [r.started_at for r in got] == sorted(r.started_at for r in got)
    assert len({(r.number, r.started_at) for r in got}) == 120
    assert [(p["from"], p["to"]) for p in fake.sent("cdr_internet")] == [
        ((START + dt.timedelta(days=i)).isoformat(),) * 2 for i in range(40)
    ]


async def test_windows_of_several_days_cover_the_range_exactly(fake, cdr):
    """window_days=7 over 40 days gives six 7-day windows and a 5-day one, in order."""
    fake.on("cdr_internet", lambda p: {"data": _records_for(p)})
    got = [r async for r in cdr.internet("2024-03-01", "2024-04-09", window_days=7)]
    windows = [(p["from"], p["to"]) for p in fake.sent("cdr_internet")]
    assert windows[0] == ("2024-03-01", "2024-03-07")
    assert windows[-1] == ("2024-04-05", "2024-04-09")
    assert len(windows) == 6
    assert len(got) == 120
    assert [r.started_at for r in got] == sorted(r.started_at for r in got)


async def test_numbers_are_split_into_batches_and_merged_back(fake, cdr):
    """120 numbers at batch_size=50 make 3 requests per window; records merge in time order."""
    numbers = [f"8918{i:07d}" for i in range(120)]

    def answer(p: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"number": n, "date": p["from"], "start": f"{p['from']}T{int(n[-2:]) % 24:02d}:00"}
                for n in p["numbers[]"]]

    fake.on("cdr_internet", answer)
    got = [r async for r in cdr.internet("2024-03-01", "2024-03-02", numbers=numbers,
                                         inn="7707083893")]
    sent = fake.sent("cdr_internet")
    assert [len(p["numbers[]"]) for p in sent] == [50, 50, 20, 50, 50, 20]
    assert {p["inn"] for p in sent} == {"7707083893"}
    assert sorted(n for p in sent[:3] for n in p["numbers[]"]) == sorted(
        "7" + n[1:] for n in numbers
    )
    assert len(got) == 240
    assert [r.started_at for r in got] == sorted(r.started_at for r in got)


async def test_no_more_than_concurrency_requests_are_in_flight(fake, cdr):
    """With concurrency=3, never more than three requests wait at once."""
    in_flight, peak = 0, 0

    async def answer(p: dict[str, Any]) -> list[Any]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)  # yield once, so the others get a chance to start
        in_flight -= 1
        return []

    fake.on("cdr_internet", answer)
    got = [r async for r in cdr.internet("2024-03-01", "2024-03-20", concurrency=3)]
    assert got == []
    assert peak == 3
    assert len(fake.calls) == 20


def _pending_fetches() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks()
            if t.get_name().startswith("simapi cdr") and not t.done()]


class Hanging:
    """Answers the first window at once; every later request waits forever and records
    its cancellation."""

    def __init__(self) -> None:
        self.cancelled = 0
        self.waiting = 0
        self.all_cancelled = asyncio.Event()

    async def __call__(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if params["from"] == "2024-03-01":
            return _records_for(params)
        self.waiting += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            if self.cancelled == self.waiting:
                self.all_cancelled.set()
            raise
        return []  # pragma: no cover


async def test_closing_the_iterator_cancels_requests_in_flight(fake, cdr):
    """Leaving an aclosing() block early cancels every request still in flight."""
    server = Hanging()
    fake.on("cdr_internet", server)
    async with contextlib.aclosing(cdr.internet("2024-03-01", "2024-03-31")) as it:
        async for _ in it:
            break
    assert server.waiting >= 3
    assert server.cancelled == server.waiting
    assert _pending_fetches() == []


async def test_breaking_out_of_the_loop_cancels_requests_in_flight(fake, cdr):
    """A plain `break` (no aclosing) also ends the in-flight requests once the iterator goes."""
    server = Hanging()
    fake.on("cdr_internet", server)
    async for _ in cdr.internet("2024-03-01", "2024-03-31"):
        break
    async with asyncio.timeout(10):  # a guard against a hang, not a timing assertion
        await server.all_cancelled.wait()
    assert server.cancelled == server.waiting >= 3


async def test_a_failed_request_ends_the_stream_and_cancels_the_rest(fake, cdr):
    """The first failure propagates to the consumer; the other requests are cancelled."""
    server = Hanging()

    async def answer(p: dict[str, Any]) -> Any:
        if p["from"] == "2024-03-03":
            raise ServerError("boom", status=500)
        return await server(p)

    fake.on("cdr_internet", answer)
    with pytest.raises(ServerError):
        [r async for r in cdr.internet("2024-03-02", "2024-03-31")]
    assert server.cancelled == server.waiting == 3
    assert _pending_fetches() == []


@pytest.mark.parametrize("kwargs", [
    {"date_from": "2024-03-02", "date_to": "2024-03-01"},
    {"date_from": "yesterday", "date_to": "2024-03-01"},
    {"window_days": 0}, {"batch_size": 0}, {"batch_size": 201}, {"concurrency": 0},
    {"numbers": ["7918"]}, {"inn": "1234567890"},
])
def test_arguments_are_checked_when_called(fake, cdr, kwargs):
    """Bad dates, sizes, numbers or INN raise at the call, before any request."""
    args = {"date_from": "2024-03-01", "date_to": "2024-03-05", **kwargs}
    with pytest.raises(InvalidInputError):
        cdr.internet(args.pop("date_from"), args.pop("date_to"), **args)
    assert fake.calls == []


async def test_an_empty_numbers_list_yields_nothing_and_sends_nothing(fake, cdr):
    """numbers=[] means no numbers: no request, no record."""
    assert [r async for r in cdr.internet("2024-03-01", "2024-03-05", numbers=[])] == []
    assert fake.calls == []


async def test_records_without_start_and_mixed_time_zones_still_sort(fake, cdr):
    """Naive and aware times are ordered together; records without a start come last."""
    fake.on("cdr_internet", [
        {"number": "79180000001"},
        {"number": "79180000002", "start": "2024-03-01T10:00:00+03:00"},  # 07:00 UTC
        {"number": "79180000003", "start": "2024-03-01T08:00:00"},
        {"number": "79180000004", "start": "2024-03-01T06:00:00Z"},
    ])
    got = [r.number async for r in cdr.internet("2024-03-01", "2024-03-01")]
    assert got == ["79180000004", "79180000002", "79180000003", "79180000001"]


def _paged(pages: list[list[dict[str, Any]]], *, honour_page: bool = True,
           flat: bool = False) -> Any:
    """A server paginating its CDR answer: `pages` served by the `page` asked for (or page 1
    over and over when it ignores `page`), as `meta`+`links` or flat with `next_page_url`."""

    def answer(params: dict[str, Any]) -> dict[str, Any]:
        page = params.get("page", 1) if honour_page else 1
        last = len(pages)
        nxt = f"https://api.example/api/v2/cdr/internet?page={page + 1}" if page < last else None
        if flat:  # only a next link: no page numbers at all
            return {"data": pages[page - 1], "next_page_url": nxt}
        return {"data": pages[page - 1], "meta": {"current_page": page, "last_page": last},
                "links": {"next": nxt}}

    return answer


def _rec(n: int) -> dict[str, Any]:
    return {"number": f"7918000{n:04d}", "start": f"2024-03-01T{n % 24:02d}:00:00Z"}


@pytest.mark.parametrize("flat", [False, True])
async def test_a_paginated_cdr_answer_is_read_to_its_last_page(fake, cdr, flat):
    """A window answered as a paginator is read on with `page` until the last page."""
    pages = [[_rec(5), _rec(1)], [_rec(3), _rec(4)], [_rec(2)]]
    fake.on("cdr_internet", _paged(pages, flat=flat))
    got = [r.number async for r in cdr.internet("2024-03-01", "2024-03-01")]
    assert got == [f"7918000{n:04d}" for n in (1, 2, 3, 4, 5)]  # all of them, sorted
    assert [p.get("page") for p in fake.sent("cdr_internet")] == [None, 2, 3]
    assert {p["from"] for p in fake.sent("cdr_internet")} == {"2024-03-01"}


@pytest.mark.parametrize("flat", [False, True])
async def test_a_server_ignoring_page_is_read_once_with_a_warning(fake, cdr, caplog, flat):
    """A server answering page 1 whatever `page` says: its records come once, a warning
    says the rest was not read, and the reading stops (no loop, no repeats)."""
    fake.on("cdr_internet", _paged([[_rec(1), _rec(2)], [_rec(3)]], honour_page=False,
                                   flat=flat))
    with caplog.at_level(logging.WARNING, logger="simapi_async"):
        got = [r.number async for r in cdr.internet("2024-03-01", "2024-03-01")]
    assert got == ["79180000001", "79180000002"]
    assert len(fake.sent("cdr_internet")) == 2
    assert "repeats an earlier page" in caplog.text


async def test_an_empty_page_ends_a_paginated_window(fake, cdr):
    """A paginator that promises more but then answers an empty page ends the window."""
    answers = iter([
        {"data": [_rec(1)], "meta": {"current_page": 1, "last_page": 5}},
        {"data": [], "meta": {"current_page": 2, "last_page": 5}},
    ])
    fake.on("cdr_internet", lambda _params: next(answers))
    got = [r.number async for r in cdr.internet("2024-03-01", "2024-03-01")]
    assert got == ["79180000001"]
    assert len(fake.sent("cdr_internet")) == 2


async def test_records_are_internet_cdr_models(fake, cdr):
    """Each yielded item is an InternetCdr with the mapped fields."""
    fake.on("cdr_internet", {"data": [{"msisdn": 79181111111, "date": "2024-03-01",
                                       "upload": 1, "download": 2, "apn": "m2m"}]})
    got = [r async for r in cdr.internet("2024-03-01", "2024-03-01")]
    assert got == [InternetCdr(number="79181111111", started_at=dt.datetime(2024, 3, 1),
                               volume_bytes=3, upload_bytes=1, download_bytes=2, apn="m2m")]


def _sorted_as_before(records: list[InternetCdr]) -> list[InternetCdr]:
    """The window order as first written: sort by started_at, on a TypeError by UTC."""
    from simapi_async.resources.cdr import _robust_start

    out = list(records)
    try:
        out.sort(key=lambda r: r.started_at)
    except TypeError:
        out.sort(key=_robust_start)
    return out


@pytest.mark.parametrize("kinds", ["aware", "naive", "mixed", "with_none", "utc_only"])
def test_a_window_sorts_as_comparing_its_times_does(kinds):
    """Sorting a window by UTC keys gives the order (ties kept) of comparing the times."""
    import random

    from simapi_async.resources.cdr import _merged

    rng = random.Random(kinds)
    records = []
    for i in range(400):
        t = dt.datetime(2026, 10, 1) + dt.timedelta(minutes=rng.randrange(300))
        offset = dt.timedelta(hours=rng.choice((-5, 0, 3, 3, 3)))
        kind = {"aware": "a", "naive": "n", "utc_only": "u"}.get(
            kinds, rng.choice("anN" if kinds == "with_none" else "an"))
        if kind == "a":
            start = (t + offset).replace(tzinfo=dt.timezone(offset))  # a tzinfo object each
        elif kind == "u":
            start = t.replace(tzinfo=dt.UTC)
        else:
            start = None if kind == "N" else t
        records.append(InternetCdr(number=str(i), started_at=start))
    got = _merged([list(records)])
    assert [r.number for r in got] == [r.number for r in _sorted_as_before(records)]
