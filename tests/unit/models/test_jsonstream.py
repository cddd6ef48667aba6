"""`ListDecoder`: list answers decoded as they arrive, in any chunking, with a per-item bound."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simapi_async._envelopes import unwrap_list
from simapi_async._exceptions import ResponseFormatError
from simapi_async._jsonstream import ListDecoder, loads

RECORDS = [{"number": str(79180000000 + i), "apn": "a}b{" if i % 3 == 0 else "x\"}",
            "nested": {"k": [i, {"z": "}"}]}} for i in range(40)]
SHAPES = [
    RECORDS,
    {"data": RECORDS},
    {"meta": {"data": [1], "current_page": 1, "last_page": 2}, "data": RECORDS,
     "links": {"next": "https://x/?page=2"}},
    {"success": True, "message": "ok", "data": RECORDS},
]


def decode(body: bytes, step: int, **kw: Any) -> tuple[list[Any], list[Any], Any]:
    """(items handed out while feeding, items at close, the envelope)."""
    decoder = ListDecoder(loads, **kw)
    early: list[Any] = []
    for i in range(0, len(body), step):
        early += decoder.feed(body[i:i + step])
    envelope = decoder.close()
    rest, _ = unwrap_list(envelope)
    return early, rest, envelope


@pytest.mark.parametrize("shape", range(len(SHAPES)))
@given(step=st.integers(min_value=1, max_value=5000))
def test_every_item_comes_once_in_order_whatever_the_chunks(shape: int, step: int) -> None:
    """Bare arrays and envelopes (keys before or after `data`, `}` in strings and nested
    objects) give every item once, in order, for any chunk size."""
    body = json.dumps(SHAPES[shape]).encode()
    early, rest, _ = decode(body, step)
    assert early + rest == RECORDS


@given(step=st.integers(min_value=1, max_value=700), spaces=st.sampled_from(["", " ", "\n\t "]))
def test_memoryview_slices_decode_as_bytes_do(step: int, spaces: str) -> None:
    """Fed memoryview slices of a body with whitespace around its commas, the decoder
    hands out the same items as fed bytes (the CDR path feeds views of each chunk)."""
    body = ("[" + spaces + ("," + spaces).join(json.dumps(r) for r in RECORDS) + spaces
            + "]").encode()
    decoder = ListDecoder(loads)
    view = memoryview(body)
    got: list[Any] = []
    for i in range(0, len(body), step):
        got += decoder.feed(view[i:i + step])
    rest, _ = unwrap_list(decoder.close())
    assert got + rest == RECORDS


@pytest.mark.parametrize("shape", range(len(SHAPES)))
@settings(max_examples=60, deadline=None)
@given(piece=st.integers(min_value=1, max_value=9000),
       step=st.integers(min_value=1, max_value=3000),
       spaces=st.sampled_from(["", " ", "\n\t "]))
def test_ranges_of_bytes_read_in_place_decode_as_copies_do(shape: int, piece: int, step: int,
                                                           spaces: str) -> None:
    """Fed ranges of the connection's pieces (``feed(chunk, at, at + step)``, read where
    they are), the decoder hands out the same items, once, in order, as fed copies."""
    text = json.dumps(SHAPES[shape]).replace(", ", "," + spaces)
    body = text.encode()
    decoder = ListDecoder(loads)
    got: list[Any] = []
    for i in range(0, len(body), piece):
        chunk = body[i:i + piece]
        for at in range(0, len(chunk), step):
            got += decoder.feed(chunk, at, at + step)
    rest, _ = unwrap_list(decoder.close())
    assert got + rest == RECORDS


def test_an_item_bigger_than_the_bound_is_refused_when_read_in_place() -> None:
    """The per-item bound holds on the in-place path too: no item end in sight for more
    than `max_item_bytes` is an error, not a growing buffer."""
    body = b'[{"a": 1}, {"b": "' + b"x" * 5000 + b'"}]'
    decoder = ListDecoder(loads, max_item_bytes=1000)

    def feed_all() -> None:
        for at in range(0, len(body), 300):
            decoder.feed(body, at, at + 300)

    with pytest.raises(ResponseFormatError, match="more than 1000 bytes"):
        feed_all()


def test_items_come_out_before_the_body_ends() -> None:
    """Items are handed out as their bytes arrive, not at the end of the body."""
    body = json.dumps({"data": RECORDS}).encode()
    decoder = ListDecoder(loads)
    first = decoder.feed(body[: len(body) // 2])
    assert decoder.streaming
    assert 10 < len(first) < len(RECORDS)


def test_the_envelope_keeps_paging_and_success() -> None:
    """The envelope at close still says what the paginator or `success` said."""
    _, _, envelope = decode(json.dumps(SHAPES[2]).encode(), 100)
    assert unwrap_list(envelope)[1].more_pages is True
    with pytest.raises(ResponseFormatError, match="success=false"):
        decode(json.dumps({"success": False, "message": "no", "data": []}).encode(), 7)


@pytest.mark.parametrize("body", [b'{"data": null}', b"   ", b'{"items": []}', b"[]"])
def test_shapes_that_cannot_stream_are_decoded_whole(body: bytes) -> None:
    """`data: null`, an empty body, an object without `data`: decoded whole at close with
    the usual result or error."""
    decoder = ListDecoder(loads)
    assert decoder.feed(body) == []
    envelope = decoder.close()
    if body == b'{"items": []}':
        with pytest.raises(ResponseFormatError):
            unwrap_list(envelope)
    elif envelope is not None:
        assert unwrap_list(envelope)[0] == []


def test_an_item_over_the_bound_is_refused() -> None:
    """One item larger than max_item_bytes raises instead of being buffered."""
    body = json.dumps({"data": [{"apn": "x" * 50_000}]}).encode()
    with pytest.raises(ResponseFormatError, match="more than 1000 bytes"):
        decode(body, 4096, max_item_bytes=1000)


def test_a_body_that_is_not_a_list_is_bounded_too() -> None:
    """An answer that cannot stream is kept whole only up to max_whole_bytes."""
    with pytest.raises(ResponseFormatError, match="max_response_bytes"):
        decode(b'"' + b"x" * 10_000 + b'"', 1000, max_whole_bytes=5000)
