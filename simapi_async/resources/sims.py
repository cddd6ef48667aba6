"""`api.sims`: read, list and change SIM cards — one thin coroutine per operation.

Each method validates its input (nothing is sent when something is wrong), builds the
operation's parameters by their wire names, sends them through the session and converts
the answer. Writes that need the SIM's `iccid`/`imsi` and get neither look the SIM up by
number once per session (see `SimLookup`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from .._config import DEFAULT_LOOKUP_CACHE_SIZE
from .._converter import structure_list, structure_one
from .._envelopes import PageRepeats, make_page, operation_result, unwrap_list, unwrap_object
from .._exceptions import InvalidInputError, ResponseFormatError, UnprocessableEntityError
from .._validation import (
    check_limit,
    check_page,
    check_positive_int,
    normalize_date,
    normalize_iccid,
    normalize_imsi,
    normalize_inn,
    normalize_number,
    normalize_service,
    normalize_sms_type,
    normalize_status,
)
from ..models import OperationResult, Page, Sim
from ._base import Requester, Resource, SimLookup

__all__ = ["SimsResource"]

log = logging.getLogger("simapi_async")

_Ids = dict[str, str | None]
#: Largest identifier sent (a signed 64-bit integer, what the API's database can hold).
MAX_ID = 2**63 - 1
#: Page sizes `largest_page` tries, largest first: the first one the server accepts is kept.
PAGE_SIZES = (1000, 500, 200, 100, 50)


class SimsResource(Resource):
    """SIM cards: ``api.sims``."""

    __slots__ = ("_lookup", "page_size")

    def __init__(
        self, session: Requester, *, lookup_cache_size: int = DEFAULT_LOOKUP_CACHE_SIZE
    ) -> None:
        super().__init__(session)
        self._lookup = SimLookup(self._get, lookup_cache_size)
        #: The largest page size the server accepted (`largest_page`), None until known.
        self.page_size: int | None = None

    # -- reads ------------------------------------------------------------------------

    async def get(self, number: str | int) -> Sim:
        """The SIM bound to `number` (any common spelling: ``+7 918 111-11-11``)."""
        return await self._get(normalize_number(number))

    async def get_by_iccid(self, iccid: str | int) -> Sim:
        """The SIM with this ICCID."""
        value = normalize_iccid(iccid)
        sim = self._sim(await self._session.request("get_sim_by_iccid", {"iccid": value}))
        if sim.number is not None:
            self._lookup.remember(sim.number, sim.iccid or value, sim.imsi)
        return sim

    async def list(
        self,
        *,
        inn: str | None = None,
        status: str | None = None,
        page: int = 1,
        limit: int = 50,
    ) -> Page[Sim]:
        """One page of the SIM list, optionally of one client (`inn`) or one `status`."""
        return await self._page(self._list_params(inn, status, page, limit))

    async def largest_page(
        self, page: int = 1, *, inn: str | None = None, status: str | None = None
    ) -> Page[Sim]:
        """Page `page` of the SIM list at the largest page size the server accepts.

        Sizes of `PAGE_SIZES` are tried largest first while the server answers `422` for
        ``limit`` (a server with a lower maximum); the size it accepts is kept in
        `page_size` for the session, so only the first call may cost more than one
        request. A `422` about anything else, or for every size, is raised.
        """
        if self.page_size is not None:
            return await self.list(inn=inn, status=status, page=page, limit=self.page_size)
        for size in PAGE_SIZES:
            try:
                result = await self.list(inn=inn, status=status, page=page, limit=size)
            except UnprocessableEntityError as exc:
                if (exc.errors and "limit" not in exc.errors) or size == PAGE_SIZES[-1]:
                    raise
                continue  # too large a page for this server: try the next size
            self.page_size = size
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def iter(
        self, *, inn: str | None = None, status: str | None = None, limit: int = 50
    ) -> AsyncIterator[Sim]:
        """Every SIM of the listing, page after page, in the server's order.

        Stops after the paginator's last page, an empty page, or (with no paginator) a page
        shorter than `limit`; a server that answers a page it already sent (one ignoring
        ``page``) ends the iteration with a warning instead of looping forever.

        The list is paginated by offset. Changing the SIMs you iterate so that they leave
        the filter — blocking while iterating ``status="active"`` — shifts the later pages
        and silently skips SIMs. Collect first, then change::

            numbers = [sim.number async for sim in api.sims.iter(status="active")]
            for number in numbers:
                await api.sims.block(number)

        (or hand the collected numbers to ``api.bulk.block``). Arguments are checked when
        `iter` is called, before any request.
        """
        params = self._list_params(inn, status, 1, limit)
        return self._iterate(params)

    # -- writes -----------------------------------------------------------------------

    async def activate(
        self,
        number: str | int,
        *,
        packet_id: int,
        iccid: str | int | None = None,
        imsi: str | int | None = None,
    ) -> OperationResult:
        """Activate the SIM on tariff packet `packet_id`."""
        n, ids = _target(number, iccid, imsi)
        pid = check_positive_int(packet_id, "packet_id", maximum=MAX_ID)
        return await self._write("activate", n, ids, {"packet_id": pid})

    async def change_packet(
        self,
        number: str | int,
        *,
        packet_id: int,
        date: Any,
        iccid: str | int | None = None,
        imsi: str | int | None = None,
    ) -> OperationResult:
        """Move the SIM to tariff packet `packet_id` from `date` (date, datetime or ISO)."""
        n, ids = _target(number, iccid, imsi)
        extra = {"packet_id": check_positive_int(packet_id, "packet_id", maximum=MAX_ID),
                 "date": normalize_date(date)}
        return await self._write("change_packet", n, ids, extra)

    async def block(
        self, number: str | int, *, iccid: str | int | None = None, imsi: str | int | None = None
    ) -> OperationResult:
        """Block the SIM fully."""
        n, ids = _target(number, iccid, imsi)
        return await self._write("block", n, ids)

    async def unblock(
        self, number: str | int, *, iccid: str | int | None = None, imsi: str | int | None = None
    ) -> OperationResult:
        """Lift a full block."""
        n, ids = _target(number, iccid, imsi)
        return await self._write("unblock", n, ids)

    async def block_service(
        self,
        number: str | int,
        service: str,
        *,
        iccid: str | int | None = None,
        imsi: str | int | None = None,
    ) -> OperationResult:
        """Block one service: ``"internet"`` (alias ``"data"``), ``"sms"`` or ``"call"``."""
        n, ids = _target(number, iccid, imsi)
        return await self._write("block_service", n, ids, {"type": normalize_service(service)})

    async def unblock_service(
        self,
        number: str | int,
        service: str,
        *,
        iccid: str | int | None = None,
        imsi: str | int | None = None,
    ) -> OperationResult:
        """Unblock one service: ``"internet"`` (alias ``"data"``), ``"sms"`` or ``"call"``."""
        n, ids = _target(number, iccid, imsi)
        return await self._write("unblock_service", n, ids, {"type": normalize_service(service)})

    async def block_finance(
        self, number: str | int, *, iccid: str | int | None = None, imsi: str | int | None = None
    ) -> OperationResult:
        """Financial block."""
        n, ids = _target(number, iccid, imsi)
        return await self._write("block_finance", n, ids)

    async def unblock_finance(
        self, number: str | int, *, iccid: str | int | None = None, imsi: str | int | None = None
    ) -> OperationResult:
        """Lift a financial block."""
        n, ids = _target(number, iccid, imsi)
        return await self._write("unblock_finance", n, ids)

    async def bind_number(
        self,
        number: str | int,
        *,
        iccid: str | int | None = None,
        imsi: str | int | None = None,
        call_forwarding: bool = True,
    ) -> OperationResult:
        """Bind `number` to a new SIM, named by its `iccid` or `imsi` (one is required).

        `call_forwarding` (sent as ``cf``) allows call-forwarding options for the subscriber.
        """
        n, ids = _target(number, iccid, imsi)
        _require_new_sim("bind_number", ids)
        if not isinstance(call_forwarding, bool):
            raise InvalidInputError("call_forwarding", call_forwarding, "expected True or False")
        return await self._rebinding("bind_number", n, {**ids, "cf": call_forwarding}, ids)

    async def rebind_number(
        self,
        number: str | int,
        *,
        iccid: str | int | None = None,
        imsi: str | int | None = None,
        current_iccid: str | int | None = None,
        current_imsi: str | int | None = None,
    ) -> OperationResult:
        """Move `number` to a new SIM (`iccid` or `imsi`, required) from its current one.

        The current SIM is `current_iccid`/`current_imsi`, or looked up by number.
        """
        n, ids = _target(number, iccid, imsi)
        _require_new_sim("rebind_number", ids)
        current = _ids(current_iccid, current_imsi, "current_iccid", "current_imsi")
        if current["current_iccid"] is None and current["current_imsi"] is None:
            found = await self._resolve(n)
            current = {"current_iccid": found["iccid"], "current_imsi": found["imsi"]}
        return await self._rebinding("rebind_number", n, {**ids, **current}, ids)

    async def add_small_packet(
        self,
        number: str | int,
        *,
        small_packet_id: int | None = None,
        iccid: str | int | None = None,
        imsi: str | int | None = None,
    ) -> OperationResult:
        """Add a small (top-up) packet; by default the first one of the current tariff.

        Not idempotent: a repeat adds and bills a second packet, so it is not retried
        once the request may have reached the server.
        """
        n, ids = _target(number, iccid, imsi)
        spid = None if small_packet_id is None else check_positive_int(
            small_packet_id, "small_packet_id", maximum=MAX_ID
        )
        return await self._write("add_small_packet", n, ids, {"small_packet_id": spid})

    async def send_sms(self, number: str | int, type: str) -> OperationResult:
        """Send the subscriber an info SMS about its ``"internet"`` or ``"call"`` packet.

        Not idempotent (a repeat sends a second SMS).
        """
        n = normalize_number(number)
        params = {"number": n, "type": normalize_sms_type(type)}
        return operation_result(await self._session.request("send_sms", params))

    # -- plumbing ---------------------------------------------------------------------

    async def _get(self, number: str) -> Sim:
        sim = self._sim(await self._session.request("get_sim", {"number": number}))
        self._lookup.remember(number, sim.iccid, sim.imsi)
        return sim

    @staticmethod
    def _sim(body: Any) -> Sim:
        obj = unwrap_object(body)
        return structure_one(obj, Sim, where="" if obj is body else "data", body=body)

    async def _resolve(self, number: str) -> _Ids:
        """The SIM's iccid (else imsi), looked up by number once per session."""
        iccid, imsi = await self._lookup.ids(number)
        if iccid:
            return {"iccid": iccid, "imsi": None}
        if imsi:
            return {"iccid": None, "imsi": imsi}
        raise ResponseFormatError(
            f"the SIM of {number} was looked up for its iccid or imsi, but the answer has "
            "neither; pass iccid= or imsi=",
            field="iccid",
        )

    async def _write(
        self, operation: str, number: str, ids: _Ids, extra: dict[str, Any] | None = None
    ) -> OperationResult:
        if ids["iccid"] is None and ids["imsi"] is None:
            ids = await self._resolve(number)
        params = {"number": number, **ids, **(extra or {})}
        return operation_result(await self._session.request(operation, params))

    async def _rebinding(
        self, operation: str, number: str, params: dict[str, Any], new: _Ids
    ) -> OperationResult:
        """A write that moves `number` to another SIM: what is cached of it is replaced."""
        try:
            result = operation_result(
                await self._session.request(operation, {"number": number, **params})
            )
        except BaseException:
            self._lookup.forget(number)
            raise
        self._lookup.forget(number)
        if result.ok:
            self._lookup.remember(number, new["iccid"], new["imsi"])
        return result

    @staticmethod
    def _list_params(inn: Any, status: Any, page: Any, limit: Any) -> dict[str, Any]:
        return {
            "inn": None if inn is None else normalize_inn(inn),
            "status": None if status is None else normalize_status(status),
            "page": check_page(page),
            "limit": check_limit(limit),
        }

    async def _page(self, params: dict[str, Any]) -> Page[Sim]:
        body = await self._session.request("list_sims", params)
        items, info = unwrap_list(body)
        sims = structure_list(items, Sim, where=info.where, body=body)
        remember = self._lookup.remember
        for sim in sims:
            remember(sim.number, sim.iccid, sim.imsi)
        return make_page(sims, info, page=params["page"], limit=params["limit"])

    async def _iterate(self, params: dict[str, Any]) -> AsyncIterator[Sim]:
        page_no = params["page"]
        pages = PageRepeats()
        while True:
            page = await self._page({**params, "page": page_no})
            if page.items and pages.repeats(page.items):
                log.warning(
                    "sim/list page %d repeats an earlier page (the server may ignore "
                    "`page`); stopping the iteration", page_no,
                )
                return
            for sim in page.items:
                yield sim
            if not page.has_next:
                return
            page_no += 1


def _ids(iccid: Any, imsi: Any, iccid_field: str, imsi_field: str) -> dict[str, str | None]:
    return {
        iccid_field: None if iccid is None else normalize_iccid(iccid, iccid_field),
        imsi_field: None if imsi is None else normalize_imsi(imsi, imsi_field),
    }


def _target(number: Any, iccid: Any, imsi: Any) -> tuple[str, _Ids]:
    """The normalised number and the SIM's ids as given (None when not given)."""
    return normalize_number(number), _ids(iccid, imsi, "iccid", "imsi")


def _require_new_sim(operation: str, ids: _Ids) -> None:
    if ids["iccid"] is None and ids["imsi"] is None:
        raise InvalidInputError(
            "iccid", None, f"{operation} needs the new SIM: give iccid= or imsi="
        )

