"""The session's pacing under the operator's quota, learned from the server's answers.

Every real operator API enforces a quota that the client is not told of, shared by every
call of the account. A `Pacer` keeps one session under it, for single calls and bulk runs
alike (it sits in the one request path):

- **Headers** (`X-RateLimit-Limit` / `X-RateLimit-Remaining`, as Laravel's throttle and the
  emulator send): the server's refill rate is estimated from how `Remaining` moves
  against the answers seen — ``r = (R_now - R_then + consumed) / elapsed`` — and requests
  are paced at that rate plus a term that steers `Remaining` towards a reserve level.
  While `Remaining` stays inside (0, limit) the bucket never runs dry (no 429) and never
  overflows (no quota wasted): the session gets the whole quota, whatever it is.
- **A fixed window** (Laravel's ``throttle:N,M``: N requests per M minutes) shows as
  `Remaining` jumping back to the limit at once; then the rate is N per window length.
- **No headers**: AIMD on the request rate (a 429 cuts it to 70 %, each quiet second adds
  5 %).
- **`429`, and `503` with `Retry-After`** (Laravel's maintenance mode): the whole session
  pauses for `Retry-After` (or until `X-RateLimit-Reset`), once for all callers. Under
  `set_testing(True)` pauses are skipped like retry sleeps (the pacing itself is not).

A user's `rate_limit` is a ceiling on top of what is learned. The hot path costs one
header lookup per answer while nothing is learned, and no coroutine before a request
until the pacer is engaged.

**Shared** (`shared=`, a `SharedQuota`: the session's `redis_url=` / `limiter=`): every
request takes its slot from the one schedule of the account (a Redis round trip), so
the processes together stay under the rate. `X-RateLimit-Remaining` is the *account's*
bucket, so one process at a time (the leader, a lease in Redis) runs the controller
above, on the answers of all processes (each adds its count at every sync, a few times
a second); its rate is shared, and the others follow it (K controllers on one rate
would multiply the gain by K). A process books its next slot only when its previous one
is due within 0.1 s (slots booked a whole queue ahead, at an old rate, would delay every
change of rate); a login goes before the waiters. Until a rate is shared (the start, a
restarted Redis) each process learns alone. A pause is shared at once (the schedule
itself starts after it); the others also see it at their next sync. When the backend
fails the pacer goes on alone (one warning), as without sharing, and tries it again
after a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

import attrs

from ._exceptions import NotAttemptedError
from ._ratelimit import check_rate
from ._retry import is_testing, parse_retry_after

if TYPE_CHECKING:
    from ._shared_quota import SharedQuota, Slot

__all__ = ["Pacer", "QuotaState"]

log = logging.getLogger("simapi_async")

#: Seconds over which `Remaining` is steered back to its reserve level.
_TAU: Final = 2.0
#: Seconds of samples the refill estimate looks back over.
_HORIZON: Final = 5.0
#: The shortest span (seconds) that gives a refill estimate.
_MIN_SPAN: Final = 0.5
#: Re-estimate at most this often (seconds).
_UPDATE_EVERY: Final = 0.1
_MIN_RATE: Final = 0.05
#: Seconds of the integral term: how slowly the base rate follows `Remaining`.
_INTEGRAL: Final = 4.0
#: Pace fixed windows this much below limit/window, so that drift does not overshoot.
_WINDOW_MARGIN: Final = 0.98
#: Seconds between two syncs with a shared quota; the leader's lease lasts `_LEASE`.
_SYNC_EVERY: Final = 0.2
_LEASE: Final = 2.0
#: Seconds a failed shared quota is left alone before it is tried again.
_BACKEND_RETRY: Final = 5.0
#: A process books its next shared slot at most this many seconds before it is due:
#: slots booked far ahead at an old rate would delay every change of rate (a dead time
#: of a whole queue, which made K controllers swing at low quotas).
_BOOK_AHEAD: Final = 0.1


@attrs.frozen(slots=True)
class QuotaState:
    """What a session knows of the server's quota now (`api.quota`).

    - `rate`: requests/s the session paces at (None: not paced); `learned`: the part
      learned from the server (None: nothing learned yet); `user_rate`: the caller's
      `rate_limit`.
    - `limit` / `remaining`: the last `X-RateLimit-Limit` / `-Remaining` seen;
      `window`: the length of the server's fixed window in seconds, once seen.
    - `paused_for`: seconds until the current pause (`Retry-After`) ends, 0 if none.
    - `throttled`: answers that were 429 (or 503 with `Retry-After`); `pauses`: pauses
      taken; `waited`: seconds callers spent waiting for a slot or a pause, in all.
    - `shared`: whether the session paces on the schedule it shares with the account's
      other processes (`redis_url=` / `limiter=`; False while the backend is out of
      reach: local pacing); `leader`: whether this process estimates the quota (alone,
      or holding the leader's lease among the sharing ones; False: it follows the rate
      the leader publishes).
    """

    rate: float | None
    learned: float | None
    user_rate: float | None
    limit: int | None
    remaining: int | None
    window: float | None
    paused_for: float
    throttled: int
    pauses: int
    waited: float
    shared: bool = False
    leader: bool = True

    @property
    def pacing(self) -> bool:
        """Whether the server's quota is holding the session back now."""
        return self.learned is not None or self.paused_for > 0


class Pacer:
    """Paces one session's requests under the user's `rate_limit` and the learned quota.

    `acquire()` before each request (only while `engaged`), `observe(status, headers)`
    after each answer.
    """

    def __init__(
        self,
        rate_limit: float | None = None,
        *,
        max_pause: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        shared: SharedQuota | None = None,
    ) -> None:
        self.user_rate = None if rate_limit is None else check_rate(rate_limit)
        self.max_pause = max_pause
        self._clock = clock  # the event loop's clock (time.monotonic) outside tests
        self._wall = wall
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._last = -math.inf  # when the last caller was let go
        self._next = -math.inf  # the earliest time the next one may go
        self.rate: float | None = self.user_rate
        #: Whether `acquire` may wait: a rate is set, or a pause was taken.
        self.engaged = self.rate is not None
        self.learned: float | None = None
        self.limit: int | None = None
        self.remaining: int | None = None
        self.window: float | None = None
        self.throttled = 0
        self.pauses = 0
        self.waited = 0.0
        #: Seconds an answer takes, on average (measured while the pacer is engaged).
        self.latency = 0.0
        self._paused_until = -math.inf
        self._samples: deque[tuple[float, int, int]] = deque()
        self._consumed = 0
        self._base: float | None = None
        self._next_update = -math.inf
        self._window_opened: float | None = None
        self._last_reset: float | None = None
        self._reset_hint = False
        # AIMD, for a server that sends no X-RateLimit headers
        self._answers = 0
        self._mark = (clock(), 0, 0, 0)  # (since, answers, 429s, others') of the AIMD window
        self._aimd = False
        self._last_raise = -math.inf
        # A shared quota: whether this pacer runs the controller (always, alone), the
        # answers of the other processes (as of the last sync), the backend's health.
        self._shared = shared
        self._leader = True  # alone, or until a sync names another process the leader
        self._lease = False  # whether this process holds the leader's lease
        self._owner = secrets.token_hex(8)
        self._others = 0
        self._flushed = 0
        self._shared_total: int | None = None
        self._next_sync = -math.inf
        self._syncing = False
        self._down_until = -math.inf
        self._down = False
        self._sharing_pause: asyncio.Task[None] | None = None
        self._pause_dirty = False
        self._booking = asyncio.Lock()  # one booking at a time, close to its turn
        if shared is not None:
            self.engaged = True  # every request goes by the shared schedule

    # -- what callers see ---------------------------------------------------------------

    def state(self) -> QuotaState:
        return QuotaState(
            rate=self.rate, learned=self.learned, user_rate=self.user_rate, limit=self.limit,
            remaining=self.remaining, window=self.window,
            paused_for=self.paused_for(),
            throttled=self.throttled, pauses=self.pauses, waited=self.waited,
            shared=self._shared is not None and self._clock() >= self._down_until,
            leader=self._leader,
        )

    def paused_for(self) -> float:
        """Seconds until the current pause ends (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    # -- before a request ---------------------------------------------------------------

    async def acquire(self, stop: asyncio.Future[None] | None = None, *,
                      first: bool = False) -> None:
        """Wait until this caller may send: after any pause, at the paced rate, in turn.

        Waiters queue first come, first served and are let go one at a time at the rate in
        force *then* (no slots booked ahead at an older rate: a change of rate or a pause
        acts on the very next request). A waiter cancelled in the queue simply leaves it;
        one whose `stop` is done (its bulk run stopped) leaves it with `NotAttemptedError`,
        nothing sent. `first`: go before every waiter (the login they all wait for).
        """
        if self._shared is not None and self._clock() >= self._down_until \
                and await self._acquire_shared(stop, first=first):
            return
        now = self._clock()
        if not self._waiters and now >= self._next:
            self._grant(now)
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        if first:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        self._schedule(now)
        try:
            if stop is None:
                await waiter
            else:
                if not stop.done():
                    await asyncio.wait((waiter, stop), return_when=asyncio.FIRST_COMPLETED)
                if not waiter.done():
                    waiter.cancel()
                    raise NotAttemptedError(
                        "not attempted: the run stopped while waiting for the API's quota")
        finally:
            self.waited += self._clock() - now

    async def _acquire_shared(self, stop: asyncio.Future[None] | None, *,
                              first: bool = False) -> bool:
        """A slot of the shared schedule (after any pause known here); False when the
        backend failed (the caller then takes a local turn). `first` books at once,
        before this process's other waiters."""
        from .fleet._errors import FleetBackendError

        shared = self._shared
        assert shared is not None
        started = self._clock()
        try:
            if started >= self._next_sync and not self._syncing:
                await self._sync(started)
            while True:
                left = self._paused_until - self._clock()
                if left > 0:
                    await self._wait(left, stop, None)
                rate = self.rate
                if rate is None:
                    return True  # nothing known of the quota yet: unpaced, as alone
                if first:
                    slot = await shared.reserve_slot(rate)
                    due = self._clock() + slot.wait
                else:
                    async with self._booking:  # the next one books when this slot is near
                        slot = await shared.reserve_slot(rate)
                        due = self._clock() + slot.wait
                        if slot.wait > _BOOK_AHEAD:
                            await self._wait(slot.wait - _BOOK_AHEAD, stop, slot)
                left = due - self._clock()
                if left > 0:
                    await self._wait(left, stop, slot)
                if self._paused_until <= self._clock():
                    return True
                # a pause began while this slot was waited for: take one after it
        except FleetBackendError as exc:
            self._backend_failed(exc)
            return False
        finally:
            self.waited += self._clock() - started

    async def _wait(self, seconds: float, stop: asyncio.Future[None] | None,
                    slot: Slot | None) -> None:
        """Sleep `seconds`; cancelled, or the run stopped, give `slot` back."""
        try:
            if stop is None:
                await asyncio.sleep(seconds)
                return
            if not stop.done():
                await asyncio.wait((stop,), timeout=seconds)
            if not stop.done():
                return
        except asyncio.CancelledError:
            await self._give_back(slot)
            raise
        await self._give_back(slot)
        raise NotAttemptedError("not attempted: the run stopped while waiting for the API's quota")

    async def _give_back(self, slot: Slot | None) -> None:
        if slot is not None and self._shared is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._shared.cancel(slot))

    async def _sync(self, now: float) -> None:
        """Exchange with the shared quota: our answers' count, the leader's lease and rate,
        the shared rate and pause (see the module docstring)."""
        shared = self._shared
        assert shared is not None
        self._syncing = True
        self._next_sync = now + _SYNC_EVERY
        delta = self._answers - self._flushed
        try:
            learned = await shared.sync(delta, owner=self._owner, lease=_LEASE,
                                        rate=self.learned if self._leader else None)
        finally:
            self._syncing = False
        self._flushed += delta
        total = learned.consumed
        if self._shared_total is not None and total >= self._shared_total + delta:
            self._others += total - self._shared_total - delta
        self._shared_total = total  # (a restarted backend counts from 0 again)
        if self._down:
            self._down = False
            log.info("quota: the shared quota is back (%r); pacing by it again", shared)
        if learned.leader and not self._lease:
            log.debug("quota: this process now estimates the shared quota (leader)")
            if self._base is None and self.learned is not None and self.window is None:
                self._base = self.learned  # carry on from the rate followed so far
            if self.limit is None and self.learned is not None:
                self._aimd = True  # no headers seen: AIMD goes on from the shared rate
        self._lease = learned.leader
        # Nothing shared yet (the start, a restarted Redis): learn alone meanwhile, as a
        # session without sharing would, rather than send unpaced until the leader's rate.
        self._leader = learned.leader or learned.rate is None
        if not learned.leader and learned.rate is not None and learned.rate != self.learned:
            self._set_learned(learned.rate)
        if learned.pause_left is not None:
            self.pause(learned.pause_left, share=False)

    def _backend_failed(self, exc: Exception) -> None:
        """The shared quota failed: pace alone (the controller too) and retry it later."""
        self._down_until = self._clock() + _BACKEND_RETRY
        self._leader = True
        self._lease = False
        self._syncing = False
        if not self._down:
            self._down = True
            log.warning("quota: the shared quota failed (%s); this session paces on its own "
                        "and tries it again every %.0f s", exc, _BACKEND_RETRY)

    def _share_pause(self) -> None:
        """Tell the other processes of a pause (one publish at a time, the latest wins)."""
        if self._sharing_pause is not None:
            self._pause_dirty = True
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._sharing_pause = loop.create_task(self._publish_pauses())

    async def _publish_pauses(self) -> None:
        from .fleet._errors import FleetBackendError

        shared = self._shared
        assert shared is not None
        try:
            while True:
                self._pause_dirty = False
                left = self.paused_for()
                if left > 0:
                    await shared.publish(pause_seconds=left)
                if not self._pause_dirty:
                    return
        except FleetBackendError as exc:
            self._backend_failed(exc)
        finally:
            self._sharing_pause = None

    async def aclose(self) -> None:
        """Stop sharing a pause still being published (the session is closing)."""
        task = self._sharing_pause
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    def reserve(self) -> float:
        """Take the next turn without waiting for it; returns how long until it comes
        (seconds, >= 0). For callers that schedule their own waiting."""
        now = self._clock()
        if not self._waiters and now >= self._next:
            self._grant(now)
            return 0.0
        interval = 1.0 / self.rate if self.rate is not None else 0.0
        live = sum(1 for w in self._waiters if not w.done())
        turn = max(self._next, now) + live * interval
        booked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(booked)  # let go in its turn, unawaited: the turn is taken
        self._schedule(now)
        return turn - now

    def _grant(self, now: float) -> None:
        self._last = now
        rate = self.rate
        self._next = now + (1.0 / rate if rate is not None else 0.0)

    def _schedule(self, now: float) -> None:
        """Have the first waiter let go when its turn comes (one timer at a time)."""
        if self._timer is not None or not self._waiters:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, self._next - now), self._release)

    def _release(self) -> None:
        self._timer = None
        now = self._clock()
        waiters = self._waiters
        if now >= self._next - 1e-4:
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():  # cancelled waiters are skipped
                    waiter.set_result(None)
                    # On the schedule, not on when the timer fired: a timer a little late
                    # (the loop was busy) must not lower the rate a little at every turn.
                    scheduled = self._next
                    rate = self.rate
                    interval = 1.0 / rate if rate is not None else 0.0
                    self._last = now
                    self._next = (scheduled if now - scheduled < interval else now) + interval
                    break
        self._schedule(now)

    def _retime(self) -> None:
        """The rate or a pause changed: the next turn moves with it."""
        rate = self.rate
        if self._last > -math.inf:
            self._next = self._last + (1.0 / rate if rate is not None else 0.0)
        if self._paused_until > self._next:
            self._next = self._paused_until
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._schedule(self._clock())

    def note_latency(self, seconds: float) -> None:
        """How long an answer took (measured while engaged): an average for Little's law."""
        self.latency += (seconds - self.latency) * 0.1

    def pause(self, seconds: float, *, share: bool = True) -> None:
        """Send nothing for `seconds` (capped at `max_pause`): the server asked for it
        (with a shared quota, every process pauses: unless `share` is False, as for a
        pause learned from the others)."""
        seconds = min(max(0.0, seconds), self.max_pause)
        if is_testing():  # `set_testing(True)`: no waiting, as for retry sleeps
            self.pauses += 1
            return
        until = self._clock() + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        self.pauses += 1
        self.engaged = True
        self._retime()
        log.debug("quota: pausing every request for %.3fs (the server asked)", seconds)
        if share and self._shared is not None and self._clock() >= self._down_until:
            self._share_pause()

    # -- after an answer ----------------------------------------------------------------

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from one answer's status and headers (every answer, success or not)."""
        remaining = headers.get("X-RateLimit-Remaining")
        if remaining is None and status != 429 and status != 503:
            self._answers += 1
            if self._aimd:
                self._aimd_raise()
            return
        self._learn(status, headers, remaining)

    def _learn(self, status: int, headers: Mapping[str, str], remaining_text: str | None) -> None:
        now = self._clock()
        limited = status == 429 or (status == 503 and "Retry-After" in headers)
        limit = _int(headers.get("X-RateLimit-Limit"))
        if limit is not None and limit > 0:
            self.limit = limit
        remaining = _int(remaining_text)
        if limited:
            self.throttled += 1
            wait = parse_retry_after(headers.get("Retry-After"))
            reset = _reset_in(headers.get("X-RateLimit-Reset"), self._wall())
            if reset is not None:
                self._reset_hint = True  # Laravel's throttle names its window's end
            if wait is None:
                wait = reset
            if wait is not None:
                self.pause(wait)
            if status == 429:
                if remaining is None:
                    self._aimd_cut(now)
                elif self._base is not None:
                    self._base *= 0.95  # we overshot: the estimate was too high
        else:
            self._answers += 1
        if remaining is not None and remaining >= 0:
            self.remaining = remaining
            self._sample(now, remaining, consumed=not limited)

    def _sample(self, now: float, remaining: int, *, consumed: bool) -> None:
        if consumed:
            self._consumed += 1
        # what the account consumed: our answers and (shared quota) the other processes'
        total = self._consumed + self._others
        limit = self.limit if self.limit is not None else remaining + 1
        samples = self._samples
        if self._window_opened is None:
            self._window_opened = now
        if samples:
            _, before, consumed_then = samples[-1]
            gained = remaining - before + (total - consumed_then)
            # A jump back to the limit, where a 429 named the window's end (Laravel's
            # X-RateLimit-Reset) or a window is known already: a fixed window began anew.
            # (A token bucket never jumps: it refills at its rate.)
            if (self._reset_hint or self.window is not None) and \
                    remaining >= 0.8 * limit - 1 and gained > max(3.0, limit / 3):
                self._window_reset(now)
        if remaining >= limit - 1:
            samples.clear()  # a full bucket wastes refill: estimate from here on
        samples.append((now, remaining, total))
        while len(samples) > 2 and samples[0][0] < now - _HORIZON:
            samples.popleft()
        if now >= self._next_update and self._leader:  # a follower takes the shared rate
            self._update(now)

    def _window_reset(self, now: float) -> None:
        """`Remaining` jumped back up: a fixed window (Laravel's throttle) began anew."""
        opened = self._last_reset if self._last_reset is not None else self._window_opened
        if opened is not None and now - opened > 0.5:
            window = now - opened
            if self.window is None:
                log.info("quota: the server counts requests in fixed windows of about %.0fs",
                         window)
            self.window = window if self.window is None else 0.5 * (self.window + window)
        self._last_reset = now
        self._reset_hint = False
        self._samples.clear()

    def _update(self, now: float) -> None:
        """Re-estimate the rate: a PI controller on `Remaining` around its reserve level.

        The refill estimate gives the starting point and catches a quota that changed
        (another process joined, the operator raised it); between, the base rate is
        corrected slowly by how far `Remaining` sits from the reserve, which is exact on
        average where the estimate from a few integer `Remaining` values is noisy.
        """
        last, self._next_update = self._next_update, now + _UPDATE_EVERY
        limit = self.limit
        if limit is None:
            return
        if self.window is not None:
            self._set_learned(limit / self.window * _WINDOW_MARGIN)
            return
        samples = self._samples
        t0, r0, c0 = samples[0]
        t1, r1, c1 = samples[-1]
        span = t1 - t0
        base = self._base
        if span >= _MIN_SPAN and c1 - c0 >= 3:
            estimate = (r1 - r0 + c1 - c0) / span
            if estimate > 0 and (base is None or (
                    span >= 2.0 and abs(estimate - base) > 0.3 * base)):
                base = estimate
        if base is None:
            base = float(limit)  # a first guess, limit per second; corrected as it goes
        reserve = max(1.0, min(limit * 0.5, base * 0.5))
        error = r1 - reserve
        if last > -math.inf:
            base += error / (_TAU * _INTEGRAL) * min(now - last, 1.0)
        self._base = base = max(base, _MIN_RATE)
        self._set_learned(max(base + error / _TAU, base * 0.5, _MIN_RATE))

    # -- AIMD, where no headers come --------------------------------------------------------

    def _aimd_cut(self, now: float) -> None:
        """A 429 with no `X-RateLimit-*` headers: cut the rate when 429s are a real share.

        Over a window of at least a second and 20 answers, a share of 429s above 2 %
        means the session runs over the quota: the rate goes to 70 % of what got through
        (the first time) or of what it was. A rare 429 (a proxy's hiccup, another client's
        burst) is waited out (its `Retry-After`) but does not ratchet the rate down.
        """
        if not self._leader:
            return  # a follower takes the leader's rate (a pause it still takes)
        since, answers, throttled, others = self._mark
        elapsed = now - since
        got_through = self._answers - answers
        refused = self.throttled - throttled
        if elapsed < 1.0 and self._aimd:
            return  # one decision per second: a burst of 429s is one signal
        if got_through + refused < 20:
            return  # too few answers to tell a quota from a hiccup: the pause is enough
        if refused <= 0.02 * (got_through + refused):
            if elapsed >= 1.0:
                self._mark = (now, self._answers, self.throttled, self._others)
            return
        if self.learned is None:  # what got through for the whole account
            rate = (got_through + self._others - others) / max(elapsed, 1e-3) * 0.7
        else:
            rate = self.learned * 0.7
        self._aimd = True
        self._last_raise = now
        self._set_learned(max(rate, _MIN_RATE))
        self._mark = (now, self._answers, self.throttled, self._others)

    def _aimd_raise(self) -> None:
        now = self._clock()
        if now - self._last_raise >= 1.0 and self.learned is not None and self._leader:
            self._last_raise = now
            self._set_learned(self.learned * 1.05 + 0.05)

    def _set_learned(self, rate: float) -> None:
        first = self.learned is None
        self.learned = rate
        effective = rate if self.user_rate is None else min(rate, self.user_rate)
        if effective != self.rate:
            self.rate = effective
            self._retime()
        self.engaged = True
        if first:
            log.info("quota: the server limits requests; pacing at %.1f/s (learned from its "
                     "answers)", rate)


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        return int(value) if math.isfinite(value) else None


def _reset_in(text: str | None, wall: float) -> float | None:
    """Seconds until `X-RateLimit-Reset`: a Unix time (Laravel), or seconds when small."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return max(0.0, value - wall) if value > 1e9 else value
