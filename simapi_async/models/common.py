"""Models shared by every resource: a page of a listing and the result of a write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["OperationResult", "Page"]

T = TypeVar("T")


@attrs.frozen(slots=True)
class Page(Generic[T]):
    """One page of a listing.

    `page` and `limit` are the server's own `current_page`/`per_page` when it reports
    them, else the values asked for. `total`, `last_page` and `next_url` are None when the
    server does not say. `has_next` is the SDK's verdict: there is no next page after an
    empty page, at the paginator's last page, and (when the server gives no paginator) after
    a page shorter than `limit`. A page iterates over its items::

        page = await api.sims.list(status="active")
        for sim in page: ...
    """

    items: tuple[T, ...]
    page: int
    limit: int
    total: int | None = None
    last_page: int | None = None
    next_url: str | None = None
    has_next: bool = False

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@attrs.frozen(slots=True)
class OperationResult:
    """What a write answered: `ok` is False only when the server said ``"success": false``.

    An empty answer counts as success. `raw` is the answer as received (``{}`` for an
    empty one); it takes no part in comparisons.
    """

    ok: bool = True
    message: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
