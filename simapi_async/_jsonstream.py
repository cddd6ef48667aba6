"""A list answer decoded as it arrives: items come out chunk by chunk, never the whole body.

`ListDecoder` is fed the body's bytes. It finds the item array (a bare ``[...]``, or the
``data`` array of an envelope such as a Laravel paginator, whatever keys come before or
after it) and hands out the items completed so far after each chunk. Finding where the
items end costs one ``rfind(b"}")`` and one JSON decode per chunk (many items at once, in
C): a cut is tried after the last ``}`` of the buffer, and a cut that is not at an item
boundary (a ``}`` in a string, in a nested object or in the envelope's tail) cannot decode
as ``[ items ]``, because JSON is read left to right the same way in the prefix as in the
whole; the next ``}`` back is tried then. Memory is the chunk plus one item, and one item
may be at most `max_item_bytes` (a hostile answer cannot make the SDK buffer more).

`close()` decodes what is left together with the envelope (``head + "[" + rest``), so the
caller reads paging and ``success`` from it with `unwrap_list` as for a whole body. An
answer whose shape does not allow streaming (no array, ``"data": null``, not JSON) is
kept whole up to `max_whole_bytes` and decoded at `close()`, with the usual errors.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

from ._exceptions import ResponseFormatError

__all__ = ["BYTES_READ", "DEFAULT_MAX_ITEM_BYTES", "ListDecoder", "loads"]

#: While set (by a CDR sync), streamed answers add their byte counts to it.
BYTES_READ: ContextVar[list[int] | None] = ContextVar("simapi_bytes_read", default=None)

try:
    from orjson import loads
except ImportError:  # pragma: no cover - orjson is the `speedups` extra
    import json

    def loads(data: bytes) -> Any:  # type: ignore[misc]
        """Decode JSON bytes (the standard library, without the `speedups` extra)."""
        return json.loads(data)

#: One CDR record is a few hundred bytes; 1 MiB is far more than any real one.
DEFAULT_MAX_ITEM_BYTES: Final = 1024 * 1024
#: How far the array may start into the body (keys before ``data``).
_MAX_HEAD: Final = 1024 * 1024
#: Cuts tried per chunk before waiting for more bytes (``}`` in strings or in the tail).
_TRIES: Final = 8
_WS: Final = b" \t\r\n"


class ListDecoder:
    """Feed it bytes (`feed`), get the decoded items; `close()` gives the rest and the
    envelope (the body with its item array holding only the last items)."""

    __slots__ = ("_buf", "_head", "_loads", "_max_item", "_max_whole", "_mode")

    def __init__(
        self, loads: Callable[[bytes], Any], *, max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES,
        max_whole_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self._loads = loads
        self._max_item = max_item_bytes
        self._max_whole = max_whole_bytes
        self._mode = "head"  # head -> items, or head -> whole
        self._buf = b""
        self._head = b""

    @property
    def where(self) -> str:
        """Where the items are: ``""`` (a bare array) or ``"data"``."""
        return "data" if self._head else ""

    @property
    def streaming(self) -> bool:
        """True once the item array was found (items come out before `close()`)."""
        return self._mode == "items"

    def feed(self, chunk: bytes | memoryview, start: int = 0, stop: int | None = None
             ) -> list[Any]:
        """Take the next bytes of the body, ``chunk[start:stop]`` (a `memoryview` slice
        too); return the items completed by them.

        Once in the item array, a `bytes` chunk with a range is read where it is: the items
        it completes are copied once, into the text decoded (with what was left of the
        previous bytes, at most one item), not first into a buffer as well.
        """
        stop = len(chunk) if stop is None else min(stop, len(chunk))
        if self._mode == "items" and type(chunk) is bytes:
            return self._cut_in(chunk, start, stop)
        with memoryview(chunk) as view:
            self._buf += view[start:stop]
        if self._mode == "head":
            self._find_array()
        if self._mode == "whole":
            if len(self._buf) > self._max_whole:
                raise ResponseFormatError(
                    f"the answer is more than max_response_bytes={self._max_whole} bytes "
                    "and not a list that can be read as it arrives"
                )
            return []
        if self._mode != "items":
            return []
        return self._cut()

    def close(self) -> Any:
        """The end of the body: the envelope with the remaining items as its array (for
        `unwrap_list`), or the whole decoded body when it could not be streamed."""
        text = self._head + b"[" + self._buf if self._mode == "items" else self._buf
        self._buf = b""
        if not text.strip():
            return None
        try:
            return self._loads(text)
        except (ValueError, RecursionError):
            shown = text[:200].decode("utf-8", "replace")
            raise ResponseFormatError(f"the answer is not JSON: {shown!r}") from None

    def _cut(self) -> list[Any]:
        buf = self._buf
        size = len(buf)
        # Where the first item starts (past whitespace and a comma), found without copying
        # the buffer (`lstrip` gives `buf` itself when there is nothing to strip).
        start = size - len(buf.lstrip(_WS))
        if buf[start:start + 1] == b",":
            start += 1
        end = size
        for _ in range(_TRIES):
            end = buf.rfind(b"}", start, end)
            if end < 0:
                break
            with memoryview(buf) as view:  # one copy of the items' bytes, not three
                text = b"".join((b"[", view[start:end + 1], b"]"))
            try:
                items = self._loads(text)
            except (ValueError, RecursionError):
                continue
            self._buf = buf[end + 1:]
            if len(self._buf) > self._max_item:
                self._too_big()
            return items if type(items) is list else []
        buf = self._buf = buf[start:]
        if len(buf) > self._max_item:  # no item ends in it: one item is that big
            self._too_big()
        return []

    def _cut_in(self, data: bytes, lo: int, hi: int) -> list[Any]:
        """`_cut` of ``self._buf + data[lo:hi]`` without building that buffer: the cuts
        tried are the last ``}`` of ``data[lo:hi]``; when none of them is an item's end,
        the bytes are appended and `_cut` looks further back, as before."""
        head = self._buf
        rest = head.lstrip(_WS)  # what was left: past whitespace and one comma, the
        comma = rest[:1] == b","  # next item's start
        if comma:
            rest = rest[1:]
        p = lo
        if not rest:  # the next item starts in `data`
            while p < hi and data[p] in _WS:
                p += 1
            if not comma and data[p:p + 1] == b",":
                p += 1
        end = hi
        with memoryview(data) as view:
            for _ in range(_TRIES):
                end = data.rfind(b"}", p, end)
                if end < 0:
                    break
                text = b"".join((b"[", rest, view[p:end + 1], b"]"))
                try:
                    items = self._loads(text)
                except (ValueError, RecursionError):
                    continue
                self._buf = data[end + 1:hi]
                if len(self._buf) > self._max_item:
                    self._too_big()
                return items if type(items) is list else []
            self._buf = head + view[lo:hi]
        return self._cut()

    def _too_big(self) -> None:
        raise ResponseFormatError(
            f"an item of the answer is more than {self._max_item} bytes (or the answer is "
            "not a list of objects)"
        )

    def _find_array(self) -> None:
        buf = self._buf
        start = 0
        while start < len(buf) and buf[start] in _WS:
            start += 1
        if start == len(buf):
            return
        first = buf[start]
        if first == 0x5B:  # [
            self._head = b""
            self._buf = buf[start + 1:]
            self._mode = "items"
            return
        if first != 0x7B:  # {
            self._mode = "whole"
            return
        found = _data_array(buf, start)
        if found is None:
            if len(buf) > _MAX_HEAD:
                self._mode = "whole"
            return
        if found < 0:
            self._mode = "whole"
            return
        self._head = buf[:found]
        self._buf = buf[found + 1:]
        self._mode = "items"


def _data_array(buf: bytes, start: int) -> int | None:
    """Where the ``[`` of the top-level ``data`` array is; -1 when the object has no such
    array (``data`` missing, null, not an array); None when more bytes are needed."""
    depth = 0
    i = start
    n = len(buf)
    expect_key = False
    while i < n:
        c = buf[i]
        if c == 0x22:  # "
            j = i + 1
            while True:
                j = buf.find(b'"', j)
                if j < 0:
                    return None
                k = j - 1
                slashes = 0
                while buf[k] == 0x5C:
                    slashes += 1
                    k -= 1
                if slashes % 2 == 0:
                    break
                j += 1
            if depth == 1 and expect_key:
                key = buf[i + 1:j]
                k = j + 1
                while k < n and buf[k] in _WS:
                    k += 1
                if k >= n:
                    return None
                if buf[k] == 0x3A and key == b"data":  # :
                    k += 1
                    while k < n and buf[k] in _WS:
                        k += 1
                    if k >= n:
                        return None
                    return k if buf[k] == 0x5B else -1
                expect_key = False
            i = j + 1
            continue
        if c in (0x7B, 0x5B):
            depth += 1
            expect_key = c == 0x7B and depth == 1
        elif c in (0x7D, 0x5D):
            depth -= 1
            if depth == 0:
                return -1
        elif c == 0x2C and depth == 1:  # ,
            expect_key = True
        i += 1
    return None
