"""Envelope helpers: single objects, lists and paginators, write answers, `has_next`."""

from __future__ import annotations

from typing import Any

import pytest

from simapi_async._envelopes import (
    PageInfo,
    PageRepeats,
    make_page,
    operation_result,
    unwrap_list,
    unwrap_object,
)
from simapi_async._exceptions import ResponseFormatError
from simapi_async.models import OperationResult

OBJ = {"number": "79181111111"}


@pytest.mark.parametrize("body", [OBJ, {"data": OBJ}, {"success": True, "data": OBJ},
                                  {"data": OBJ, "message": "ok"}])
def test_unwrap_object_finds_the_object_itself_or_under_data(body):
    """A single object comes bare or under `data` (beside envelope keys only)."""
    assert unwrap_object(body) == OBJ


def test_unwrap_object_keeps_a_model_that_has_a_data_field():
    """An object with its own fields beside `data` is the object, not an envelope."""
    body = {"number": "79181111111", "data": {"used_mb": 5}}
    assert unwrap_object(body) is body


@pytest.mark.parametrize("body", [None, [], "text", 5])
def test_unwrap_object_refuses_a_non_object(body):
    """A body that is not a JSON object raises ResponseFormatError."""
    with pytest.raises(ResponseFormatError):
        unwrap_object(body)


ITEMS = [{"id": 1}, {"id": 2}]


@pytest.mark.parametrize(("body", "info"), [
    (ITEMS, PageInfo()),
    ({"data": ITEMS}, PageInfo(where="data")),
    ({"data": ITEMS, "meta": {"current_page": 2, "last_page": 4, "total": 8, "per_page": 2},
      "links": {"next": "https://x/?page=3", "prev": None}},
     PageInfo("data", 2, 4, 8, 2, "https://x/?page=3", True)),
    ({"data": ITEMS, "current_page": "2", "last_page": "4", "total": 8, "per_page": "2",
      "next_page_url": None, "links": [{"url": None}]},
     PageInfo("data", 2, 4, 8, 2, None, True)),
])
def test_unwrap_list_reads_every_envelope(body, info):
    """Bare array, `data`, meta+links paginator and top-level paginator are all read."""
    items, got = unwrap_list(body)
    assert items == ITEMS
    assert got == info


def test_unwrap_list_takes_null_data_as_empty():
    """``{"data": null}`` is an empty list."""
    assert unwrap_list({"data": None})[0] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"items": ITEMS}, "(the whole body)"),
    (None, "(the whole body)"),
    ({"data": {"id": 1}}, "data"),
    ({"data": ITEMS, "meta": {"last_page": "many"}}, "meta.last_page"),
    ({"data": ITEMS, "links": {"next": 5.5}}, "links.next"),
])
def test_unwrap_list_names_what_it_cannot_read(body, field):
    """An unreadable list answer raises ResponseFormatError naming the place."""
    with pytest.raises(ResponseFormatError) as info:
        unwrap_list(body)
    assert info.value.field == field


@pytest.mark.parametrize(("items", "info", "has_next"), [
    ([], PageInfo(page=1, last_page=5), False),              # empty page ends it
    ([1, 2], PageInfo(page=4, last_page=5), True),           # paginator says more
    ([1, 2], PageInfo(page=5, last_page=5), False),          # last page
    ([1], PageInfo(page=4, last_page=5), True),              # paginator beats shortness
    ([1, 2], PageInfo(next_known=True, next_url="u"), True),
    ([1, 2], PageInfo(next_known=True, next_url=None), False),
    ([1, 2], PageInfo(), True),                              # full bare page
    ([1], PageInfo(), False),                                # short bare page
    ([1, 2, 3], PageInfo(per_page=3), True),                 # server's per_page is the limit
])
def test_has_next_follows_the_documented_rules(items, info, has_next):
    """Empty → no; else the paginator decides; else a page shorter than the limit ends it."""
    page = make_page(items, info, page=1, limit=2)
    assert page.has_next is has_next


def test_make_page_prefers_the_servers_page_numbers():
    """`page` and `limit` come from the paginator when it gives them."""
    page = make_page([1], PageInfo(page=3, per_page=25, total=51, last_page=3), page=9, limit=50)
    assert (page.page, page.limit, page.total, page.last_page) == (3, 25, 51, 3)
    assert len(page) == 1


@pytest.mark.parametrize(("body", "ok", "message"), [
    (None, True, None),
    ("", True, None),
    ({}, True, None),
    ({"success": True, "message": "Done"}, True, "Done"),
    ({"success": False, "message": "SIM is blocked"}, False, "SIM is blocked"),
    ({"success": "false"}, False, None),
    ({"success": 1}, True, None),
    ({"message": "Queued"}, True, "Queued"),
    ({"data": {"message": "Queued"}}, True, "Queued"),
    ("OK", True, "OK"),
    ([1], True, None),
])
def test_operation_result_reads_every_write_answer(body, ok, message):
    """Empty → ok; success false → not ok; the message from `message` or `data.message`."""
    result = operation_result(body)
    assert (result.ok, result.message) == (ok, message)


def test_operation_result_keeps_the_answer_in_raw():
    """The write's answer is kept in `raw`, which does not affect equality."""
    body: dict[str, Any] = {"success": True, "request_id": "abc"}
    result = operation_result(body)
    assert result.raw == body
    assert result == OperationResult(ok=True)


def test_operation_result_refuses_an_unreadable_success_flag():
    """A `success` that is not a boolean raises ResponseFormatError naming it."""
    with pytest.raises(ResponseFormatError) as info:
        operation_result({"success": "maybe"})
    assert info.value.field == "success"


def test_page_repeats_knows_every_page_read_so_far() -> None:
    """The last page and any earlier one count as repeats; a new page is remembered."""
    pages = PageRepeats()
    assert [pages.repeats(p) for p in [(1, 2), (3, 4), (3, 4), (1, 2), (5,), (5,)]] == \
        [False, False, True, True, False, True]
