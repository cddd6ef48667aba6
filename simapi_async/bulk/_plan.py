"""`api.bulk.plan(op, targets, ...)`: what a run would do, from the fleet's current state.

The plan reads every target's state the way a run reads identifiers: by listing the
fleet (`sim/list`, the largest page the server accepts) while that costs fewer requests
than a lookup per target, and by a lookup (`GET sim/{number}`) for the rest — so for a
fleet of F SIMs and T targets it costs about min(ceil(F / page size), T) requests, e.g.
100 instead of 100,000 for a whole 100,000-SIM fleet at 1,000 a page. No write is sent.

    plan = await api.bulk.plan("block", numbers)
    plan.to_change, plan.already, plan.unknown_numbers, plan.bad_lines
    plan.requests_skipping       # what the run would cost with skip_already=True
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterable, Iterable
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._exceptions import InvalidInputError, NotFoundError, SimApiError
from ._operations import make_operation
from ._report import error_reason
from ._resolve import Resolver
from ._state import already_so, state_value
from ._targets import NumberSet, in_shard, parse_target

if TYPE_CHECKING:
    from .._session import AsyncSession

__all__ = ["BulkPlan", "make_plan"]

_END: Final = object()
_SAMPLES: Final = 20


@attrs.define(slots=True)
class BulkPlan:
    """What a run of `operation` over the targets would do (nothing was written).

    - `to_change`: targets a run would change (their state differs, or the server did
      not say it: `state_unknown` of them); `already`: targets already in the wanted
      state (`already_reasons` counts them by reason, e.g. "already blocked");
      `unknown_numbers`: numbers the API does not know (404); `bad_lines`: targets that
      are not valid numbers (a run fails them without a request); `read_failed`: targets
      whose state could not be read (the error's reason in `read_errors`).
    - `read_requests`: what this plan cost (`list_requests` + `lookup_requests`),
      `read_by` how it read ("listing", "lookups", "listing and lookups", "none");
      `requests_by_lookups`: what reading by lookups alone would have cost (one a target).
    - `requests_sending_all` / `requests_skipping`: the requests a run would make (the
      same read, plus one write per target to send) without and with `skip_already`.
    """

    operation: str
    arguments: dict[str, Any]
    total: int = 0
    to_change: int = 0
    state_unknown: int = 0
    already: int = 0
    already_reasons: Counter[str] = attrs.field(factory=Counter)
    unknown_numbers: int = 0
    bad_lines: int = 0
    duplicates: int = 0
    read_failed: int = 0
    read_errors: Counter[str] = attrs.field(factory=Counter)
    list_requests: int = 0
    lookup_requests: int = 0
    requests_by_lookups: int = 0
    elapsed: float = 0.0
    unknown_sample: list[str] = attrs.field(factory=list)
    bad_sample: list[tuple[str, str]] = attrs.field(factory=list)

    @property
    def read_requests(self) -> int:
        return self.list_requests + self.lookup_requests

    @property
    def read_by(self) -> str:
        if self.list_requests and self.lookup_requests:
            return "listing and lookups"
        return "listing" if self.list_requests else "lookups" if self.lookup_requests else "none"

    @property
    def requests_skipping(self) -> int:
        return self.read_requests + self.to_change

    @property
    def requests_sending_all(self) -> int:
        return self.read_requests + self.to_change + self.already

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values (what ``simapi bulk ... --plan --json`` prints)."""
        return {
            "operation": self.operation, "arguments": self.arguments, "total": self.total,
            "to_change": self.to_change, "state_unknown": self.state_unknown,
            "already": self.already, "already_reasons": dict(self.already_reasons),
            "unknown_numbers": self.unknown_numbers, "bad_lines": self.bad_lines,
            "duplicates": self.duplicates, "read_failed": self.read_failed,
            "read_errors": dict(self.read_errors), "read_by": self.read_by,
            "read_requests": self.read_requests, "list_requests": self.list_requests,
            "lookup_requests": self.lookup_requests,
            "requests_by_lookups": self.requests_by_lookups,
            "requests_sending_all": self.requests_sending_all,
            "requests_skipping": self.requests_skipping,
            "elapsed": round(self.elapsed, 3), "unknown_sample": self.unknown_sample,
            "bad_sample": [{"target": t, "reason": r} for t, r in self.bad_sample],
        }

    def summary(self) -> str:
        """One line for logs and terminals."""
        return (f"plan {self.operation}: {self.to_change} to change, {self.already} already "
                f"so, {self.unknown_numbers} unknown numbers, {self.bad_lines} bad lines; "
                f"read in {self.read_requests} requests ({self.read_by}); a run costs "
                f"{self.requests_sending_all} requests ({self.requests_skipping} skipping)")


async def make_plan(api: AsyncSession, op: str, targets: Iterable[Any] | AsyncIterable[Any],
                    *, shard: tuple[int, int] | None = None, lookup: str = "auto",
                    concurrency: int = 50, **kwargs: Any) -> BulkPlan:
    """Read the targets' state and count what a run of `op` would do (see `BulkPlan`)."""
    operation = make_operation(api, op, kwargs)
    if lookup not in ("auto", "list", "lookup"):
        raise InvalidInputError("lookup", lookup, "must be 'auto', 'list' or 'lookup'")
    if isinstance(targets, str | bytes):
        raise InvalidInputError("targets", targets, "give an iterable of numbers")
    plan = BulkPlan(operation.name, dict(operation.kwargs))
    states: dict[str, Any] = {}
    resolver = Resolver(api, lookup, shard=shard, states=states, concurrency=concurrency)
    if isinstance(targets, AsyncIterable):
        source = aiter(targets)

        async def next_raw() -> Any:
            return await anext(source, _END)
    else:
        it = iter(targets)

        async def next_raw() -> Any:
            return next(it, _END)

    seen = NumberSet()
    started = time.monotonic()
    async for raw in resolver.stream(next_raw, _END):
        plan.total += 1
        try:
            target = parse_target(raw)
        except InvalidInputError as exc:
            plan.bad_lines += 1
            if len(plan.bad_sample) < _SAMPLES:
                plan.bad_sample.append((str(raw)[:64], exc.reason))
            continue
        number = target.number
        if not in_shard(number, shard):
            plan.total -= 1
            continue
        if not seen.add(number):
            plan.duplicates += 1
            continue
        _count(plan, number, states.pop(number, None), operation.kwargs)
    plan.elapsed = time.monotonic() - started
    plan.list_requests = resolver.requests
    plan.lookup_requests = resolver.lookup_requests
    plan.requests_by_lookups = plan.total - plan.bad_lines - plan.duplicates
    return plan


def _count(plan: BulkPlan, number: str, seen: Any, kwargs: dict[str, Any]) -> None:
    if seen is None:  # not read (the listing failed and no lookup was made)
        plan.to_change += 1
        plan.state_unknown += 1
    elif isinstance(seen, NotFoundError):
        plan.unknown_numbers += 1
        if len(plan.unknown_sample) < _SAMPLES:
            plan.unknown_sample.append(number)
    elif isinstance(seen, SimApiError):
        plan.read_failed += 1
        plan.read_errors[error_reason(seen)] += 1
    else:
        reason = already_so(plan.operation, kwargs, seen)
        if reason is not None:
            plan.already += 1
            plan.already_reasons[reason] += 1
        else:
            plan.to_change += 1
            key, value = state_value(plan.operation, kwargs, seen)
            if key and value is None:  # the server did not say: a run sends it anyway
                plan.state_unknown += 1
