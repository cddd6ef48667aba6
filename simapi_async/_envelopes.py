"""Answer envelopes: a decoded body taken apart before (or instead of) models are made.

`unwrap_object` (the object itself or under ``data``), `unwrap_list` (a bare array,
``{"data": [...]}``, a Laravel paginator with ``meta``/``links`` or with the same fields at
top level, and what it says about further pages as `PageInfo`), `make_page` and
`operation_result` (what a write answered). An answer that does not fit raises
`ResponseFormatError` naming the place, as the converter's field readers do.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Final, TypeVar

import attrs

from ._converter import _bad, _bool, _final, _int, _text
from ._exceptions import ResponseFormatError
from .models import OperationResult, Page

__all__ = [
    "PageInfo",
    "PageRepeats",
    "make_page",
    "operation_result",
    "unwrap_list",
    "unwrap_object",
]

T = TypeVar("T")


@attrs.frozen(slots=True)
class PageInfo:
    """What a list answer says about pagination (None: not said).

    `where` is where the items were found (``""`` for a bare array, ``"data"``).
    `next_known` is True when the answer carried a next-page link (even a null one).
    """

    where: str = ""
    page: int | None = None
    last_page: int | None = None
    total: int | None = None
    per_page: int | None = None
    next_url: str | None = None
    next_known: bool = False

    @property
    def more_pages(self) -> bool | None:
        """True/False when the paginator says whether a next page exists, else None."""
        if self.last_page is not None:
            return (self.page or 1) < self.last_page
        if self.next_known:
            return self.next_url is not None
        return None


class PageRepeats:
    """The pages read so far, to tell when a server that ignores ``page`` answers one again
    (instead of reading it over and over). Models hash by value; the last page is also
    compared in full, earlier ones by hash only."""

    __slots__ = ("_previous", "_seen")

    def __init__(self) -> None:
        self._previous: tuple[Hashable, ...] | None = None
        self._seen: set[int] = set()

    def repeats(self, items: tuple[Hashable, ...]) -> bool:
        """True when `items` is a page seen before; else it is remembered."""
        fingerprint = hash(items)
        if items == self._previous or fingerprint in self._seen:
            return True
        self._seen.add(fingerprint)
        self._previous = items
        return False


_ENVELOPE_KEYS: Final = frozenset(
    {"data", "success", "message", "status", "code", "meta", "links", "errors"}
)


def _refuse_failure(body: dict[str, Any]) -> None:
    """Raise when a read was answered ``"success": false``: the server's own refusal, not
    an empty object or list to be read as data. An unreadable flag is left alone."""
    if "success" not in body:
        return
    try:
        failed = _bool(body["success"], "success") is False
    except ResponseFormatError:
        return
    if failed:
        message = body.get("message")
        shown = f": {message}" if type(message) is str and message else ""
        raise ResponseFormatError(
            f"the API answered success=false{shown}", field="success", body=body
        )


def unwrap_object(body: Any) -> dict[str, Any]:
    """The object of a single-object answer: the body itself, or the object under ``data``.

    ``data`` is unwrapped only when nothing but envelope keys (``success``, ``message``,
    ``meta``, ...) sits beside it, so a model with a field named ``data`` stays whole.
    An answer saying ``"success": false`` raises `ResponseFormatError` with its message.
    """
    if type(body) is not dict:
        raise _final(_bad("", "expected a JSON object", body), "", body)
    _refuse_failure(body)
    inner = body.get("data")
    if type(inner) is dict and body.keys() <= _ENVELOPE_KEYS:
        return inner
    return body


def unwrap_list(body: Any) -> tuple[list[Any], PageInfo]:
    """The items of a list answer and what it says about pagination.

    Accepts a bare array, ``{"data": [...]}`` (``null`` counts as empty), and Laravel's
    paginators: ``meta.current_page``/``meta.last_page``/``meta.total``/``meta.per_page``
    with ``links.next``, or the same fields at top level with ``next_page_url``.
    An answer saying ``"success": false`` raises `ResponseFormatError` with its message.
    """
    if type(body) is list:
        return body, PageInfo()
    if type(body) is dict:
        _refuse_failure(body)
    if type(body) is not dict or "data" not in body:
        raise _final(
            _bad("", "expected a JSON array or an object with `data`", body), "", body
        )
    items = body["data"]
    if items is None:
        items = []
    elif type(items) is not list:
        raise _final(_bad("data", "expected an array", items), "", body)
    meta = body.get("meta")
    try:
        fields = {
            name: _paginator_int(body, meta, name)
            for name in ("current_page", "last_page", "total", "per_page")
        }
        next_known, next_url = _next_link(body)
    except ResponseFormatError as exc:
        raise _final(exc, "", body) from exc
    return items, PageInfo(
        where="data",
        page=fields["current_page"],
        last_page=fields["last_page"],
        total=fields["total"],
        per_page=fields["per_page"] or None,
        next_url=next_url,
        next_known=next_known,
    )


def _paginator_int(body: dict[str, Any], meta: Any, name: str) -> int | None:
    if type(meta) is dict and meta.get(name) is not None:
        return _int(meta[name], f"meta.{name}")
    return _int(body.get(name), name)


def _next_link(body: dict[str, Any]) -> tuple[bool, str | None]:
    links = body.get("links")
    if type(links) is dict and "next" in links:
        return True, _text(links["next"], "links.next")
    if "next_page_url" in body:
        return True, _text(body["next_page_url"], "next_page_url")
    return False, None


def make_page(items: Sequence[T], info: PageInfo, *, page: int, limit: int) -> Page[T]:
    """A `Page` of `items` (asked for as `page`/`limit`), deciding `has_next`.

    No next page after an empty page; else the paginator decides when there is one; else
    (a bare array, or ``data`` alone) a page shorter than the limit is the last.
    """
    size = info.per_page or limit
    if not items:
        has_next = False
    else:
        said = info.more_pages
        has_next = len(items) >= size if said is None else said
    return Page(
        items=tuple(items),
        page=info.page or page,
        limit=size,
        total=info.total,
        last_page=info.last_page,
        next_url=info.next_url,
        has_next=has_next,
    )


def operation_result(body: Any) -> OperationResult:
    """What a write answered: an empty body is success, ``"success": false`` is not.

    The message is ``message`` (or ``data.message``). An answer that is not an object
    (an array, a bare string) still counts as success and is kept in `raw` under ``data``.
    """
    if body is None or body == "" or body == {}:
        return OperationResult(ok=True, message=None, raw={})
    if type(body) is not dict:
        message = body if type(body) is str else None
        return OperationResult(ok=True, message=message, raw={"data": body})
    try:
        success = body.get("success")
        ok = True if success is None else _bool(success, "success")
        message, key = body.get("message"), "message"
        data = body.get("data")
        if message is None and type(data) is dict:
            message, key = data.get("message"), "data.message"
        return OperationResult(ok=ok, message=_text(message, key), raw=body)
    except ResponseFormatError as exc:
        raise _final(exc, "", body) from exc
