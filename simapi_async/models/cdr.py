"""Call detail records (CDR) of mobile internet sessions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import attrs

__all__ = ["InternetCdr"]


@attrs.frozen(slots=True)
class InternetCdr:
    """One internet session (or one day of traffic) of one number.

    `started_at`/`ended_at` keep the server's time zone: aware when it sends an offset or
    ``Z``, naive when it sends none; a record that carries only a ``date`` starts at that
    day's midnight. `volume_bytes` is the total (``volume``/``bytes``, else
    ``upload + download`` when both are given).
    """

    number: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    volume_bytes: int | None = None
    upload_bytes: int | None = None
    download_bytes: int | None = None
    apn: str | None = None
    imsi: str | None = None
    iccid: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def date(self) -> date | None:
        """The server's local day of the session: `started_at`'s calendar date in the
        offset the server sent (``2026-11-01T00:03+03:00`` is November 1st, though it is
        October 31st in UTC). Exports and syncs write it as the ``date`` column."""
        return None if self.started_at is None else self.started_at.date()
