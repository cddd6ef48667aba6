"""The session's shared quota and shared login, against in-memory fakes: who estimates
the quota, what the others take from it, failures of the backend, the wiring's checks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import pytest

import simapi_async as sa
from simapi_async import _retry
from simapi_async._auth import LoginResult, TokenManager
from simapi_async._config import LOGIN_BREAKER_THRESHOLD
from simapi_async._quota import Pacer
from simapi_async._shared_quota import Learned, SharedQuota, Slot
from simapi_async._tokens import StoredToken, TokenStore
from simapi_async.fleet import FleetBackendError

BASE = "https://sim.example"
HEADERS = {"X-RateLimit-Limit": "100"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeQuota:
    """A `SharedQuota` in memory: one count, one leader's lease, one rate, one pause."""

    def __init__(self, clock: Clock, *, fail: bool = False) -> None:
        self.clock, self.fail = clock, fail
        self.consumed = 0
        self.leader: str | None = None
        self.lease_until = 0.0
        self.rate: float | None = None
        self.pause_until = 0.0
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.fail:
            raise FleetBackendError("redis", "redis://:hunter2@cache:6379/0", "cannot: down")

    async def sync(self, consumed: int, *, owner: str, lease: float,
                   rate: float | None = None) -> Learned:
        self._check()
        now = self.clock()
        self.consumed += consumed
        if self.leader in (None, owner) or self.lease_until < now:
            self.leader, self.lease_until = owner, now + lease
        leads = self.leader == owner
        if leads and rate is not None:
            self.rate = rate
        left = self.pause_until - now
        return Learned(self.rate, left if left > 0 else None, consumed=self.consumed,
                       leader=leads)

    async def reserve_slot(self, rate: float) -> Slot:
        self._check()
        return Slot(0.0, 0, 1)

    async def reserve(self, rate: float) -> float:
        return (await self.reserve_slot(rate)).wait

    async def cancel(self, slot: Slot) -> bool:
        return False

    async def publish(self, rate: float | None = None, *,
                      pause_seconds: float | None = None) -> None:
        self._check()
        if pause_seconds is not None:
            self.pause_until = max(self.pause_until, self.clock() + pause_seconds)

    async def snapshot(self) -> Learned:
        return Learned(self.rate, None)

    async def aclose(self) -> None:
        pass


class GcraQuota(FakeQuota):
    """The fake with a real schedule: slots `1/rate` apart on the monotonic clock."""

    tat = 0.0

    async def reserve_slot(self, rate: float) -> Slot:
        now = time.monotonic()
        at = max(self.tat, now)
        self.tat = at + 1.0 / rate
        return Slot(at - now, int(at * 1e6), int(1e6 / rate))


def test_the_fake_is_a_shared_quota() -> None:
    """The fake implements the protocol the session accepts as limiter=."""
    assert isinstance(FakeQuota(Clock()), SharedQuota)


async def test_the_leader_counts_what_every_process_consumed() -> None:
    """X-RateLimit-Remaining is the account's: the leader answered 1 in 4 of 20/s while
    Remaining held still, so the refill is 20/s, not its own 5/s."""
    clock = Clock()
    shared = FakeQuota(clock)
    leader = Pacer(clock=clock, shared=shared)
    await leader._sync(clock.now)
    assert leader._leader
    for step in range(12 * 20):  # 12 s: 20 answers/s in all, every 4th one ours
        clock.now += 0.05
        if step % 4 == 0:
            leader.observe(200, {**HEADERS, "X-RateLimit-Remaining": "10"})
            await leader._sync(clock.now)
        else:
            shared.consumed += 1  # another process's answer, added at its sync
    assert leader.learned == pytest.approx(20.0, rel=0.2)
    assert shared.rate == pytest.approx(20.0, rel=0.2)  # shared with the others


async def test_a_follower_takes_the_shared_rate_and_runs_no_controller() -> None:
    """Only the leader's controller sets the rate (K controllers would multiply the
    gain by K): a follower's own answers leave its rate alone until it syncs."""
    clock = Clock()
    shared = FakeQuota(clock)
    leader, follower = Pacer(clock=clock, shared=shared), Pacer(clock=clock, shared=shared)
    await leader._sync(clock.now)
    leader.observe(200, {**HEADERS, "X-RateLimit-Remaining": "90"})
    await leader._sync(clock.now)  # the leader's first rate is shared
    await follower._sync(clock.now)
    assert (leader._leader, follower._leader) == (True, False)
    seen = leader.state(), follower.state()  # what api.quota shows
    assert [(q.shared, q.leader) for q in seen] == [(True, True), (True, False)]
    assert (Pacer(clock=clock).state().shared, Pacer(clock=clock).state().leader) == (
        False, True)  # not shared: alone, its own estimate
    shared_rate = follower.learned
    assert shared_rate == leader.learned
    for remaining in range(85, 0, -5):
        clock.now += 0.05
        leader.observe(200, {**HEADERS, "X-RateLimit-Remaining": str(remaining)})
        follower.observe(200, {**HEADERS, "X-RateLimit-Remaining": str(remaining)})
    assert leader.learned != shared_rate
    assert follower.learned == shared_rate  # its own answers changed nothing
    await leader._sync(clock.now)
    await follower._sync(clock.now)
    assert follower.learned == leader.learned
    assert follower.rate == leader.rate


async def test_before_anything_is_shared_a_follower_learns_alone() -> None:
    """No shared rate yet (the start, a restarted Redis): a follower paces by what it
    learns itself instead of sending unpaced until the leader's rate arrives."""
    clock = Clock()
    shared = FakeQuota(clock)
    leader, follower = Pacer(clock=clock, shared=shared), Pacer(clock=clock, shared=shared)
    await leader._sync(clock.now)
    await follower._sync(clock.now)
    assert not follower._lease
    follower.observe(200, {**HEADERS, "X-RateLimit-Remaining": "40"})
    assert follower.learned is not None


async def test_the_lease_passes_on_when_the_leader_goes_quiet() -> None:
    """A leader that stops syncing (died, idle) loses its lease; a follower takes over
    and carries on from the shared rate."""
    clock = Clock()
    shared = FakeQuota(clock)
    a, b = Pacer(clock=clock, shared=shared), Pacer(clock=clock, shared=shared)
    await a._sync(clock.now)
    shared.rate = 30.0
    await b._sync(clock.now)
    assert not b._leader
    assert b.learned == 30.0
    clock.now += 5.0  # a is gone
    await b._sync(clock.now)
    assert b._leader
    assert b._lease
    assert b._base == 30.0


async def test_a_pause_is_shared_with_the_other_processes() -> None:
    """A 429's Retry-After pauses this session and is published; another session's next
    sync pauses it too."""
    _retry.set_testing(False)  # pauses are real here (no sleep is awaited)
    clock = Clock()
    shared = FakeQuota(clock)
    a, b = Pacer(clock=clock, shared=shared), Pacer(clock=clock, shared=shared)
    a.observe(429, {"Retry-After": "3"})
    assert a.paused_for() == 3.0
    assert a._sharing_pause is not None
    await a._sharing_pause
    await b._sync(clock.now)
    assert b.paused_for() == pytest.approx(3.0)


async def test_a_failed_backend_means_local_pacing_and_one_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    """The shared quota failing: acquire goes on at once with the local limiter, one
    WARNING (no password), and the backend is left alone until the retry time."""
    clock = Clock()
    shared = FakeQuota(clock, fail=True)
    pacer = Pacer(clock=clock, shared=shared)
    caplog.set_level(logging.WARNING, "simapi_async")
    for _ in range(5):
        await pacer.acquire()
    assert shared.calls == 1
    assert pacer._leader  # alone, it runs its own controller
    assert (pacer.state().shared, pacer.state().leader) == (False, True)  # local pacing
    assert len(caplog.records) == 1
    assert "hunter2" not in caplog.text
    clock.now += 10.0
    shared.fail = False
    await pacer.acquire()
    assert shared.calls == 2
    assert not pacer._down
    assert pacer.state().shared


async def test_without_a_shared_quota_acquire_is_not_needed() -> None:
    """No shared quota and no rate: the pacer is not engaged (no coroutine per request)."""
    assert not Pacer().engaged
    assert Pacer(shared=FakeQuota(Clock())).engaged


# -- the shared login ---------------------------------------------------------------------


class FakeStore:
    """A `TokenStore` in memory (single flight is the real store's business)."""

    def __init__(self) -> None:
        self.token: StoredToken | None = None
        self.stale: list[int | None] = []
        self.fail = False
        self.generation = 0

    async def load(self) -> StoredToken | None:
        return self.token

    async def login_once(self, do_login: Callable[[], Awaitable[LoginResult]], *,
                         stale_generation: int | None = None) -> StoredToken:
        self.stale.append(stale_generation)
        if self.fail:
            raise FleetBackendError("redis", "redis://:hunter2@cache/0", "cannot: down")
        if self.token is None or self.token.generation == stale_generation:
            result = await do_login()
            self.generation += 1
            self.token = StoredToken(result.token, None, self.generation)
        return self.token

    async def aclose(self) -> None:
        pass


def logins() -> tuple[list[str], Callable[[], Awaitable[LoginResult]]]:
    issued: list[str] = []

    async def login() -> LoginResult:
        issued.append(f"token-{len(issued) + 1}")
        return LoginResult(issued[-1])

    return issued, login


async def test_a_stored_token_is_used_without_a_login() -> None:
    """A token another process stored is taken as it is: no login of our own."""
    store = FakeStore()
    store.token = StoredToken("theirs", None, 7)
    issued, login = logins()
    manager = TokenManager(login, store=store)
    assert isinstance(store, TokenStore)
    assert (await manager.get())[0] == "theirs"
    assert (issued, manager.logins, store.stale) == ([], 0, [None])


async def test_a_refused_token_is_named_stale_to_the_store() -> None:
    """After a 401 the store is asked for a token other than the refused one's
    generation, so a token replaced by another process is taken, not replaced again."""
    store = FakeStore()
    _issued, login = logins()
    manager = TokenManager(login, store=store)
    _, generation = await manager.get()
    manager.rejected(generation)
    assert (await manager.get())[0] == "token-2"
    assert store.stale == [None, 1]
    store.token = StoredToken("replaced-elsewhere", None, 9)
    manager.rejected(manager.generation)
    assert (await manager.get())[0] == "replaced-elsewhere"
    assert store.stale[-1] == 2
    assert manager.logins == 2


async def test_a_failed_store_means_our_own_login_and_one_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    """The store failing: the manager logs in itself, warns once (no password), and
    leaves the store alone until `store_retry` has passed."""
    store = FakeStore()
    store.fail = True
    clock = Clock()
    _issued, login = logins()
    manager = TokenManager(login, store=store, clock=clock)
    caplog.set_level(logging.WARNING, "simapi_async")
    assert (await manager.get())[0] == "token-1"
    manager.rejected(manager.generation)
    assert (await manager.get())[0] == "token-2"
    assert len(store.stale) == 1  # the second login did not try the store
    assert len(caplog.records) == 1
    assert "hunter2" not in caplog.text
    clock.now += 60.0
    store.fail = False
    manager.rejected(manager.generation)
    assert (await manager.get())[0] == "token-3"
    assert len(store.stale) == 2


async def test_the_login_breaker_still_opens_with_a_store() -> None:
    """Fresh tokens from the store refused one after another open the breaker: no
    further login (through the store or not) until its pause ends."""
    store = FakeStore()
    issued, login = logins()
    manager = TokenManager(login, store=store)
    for _ in range(LOGIN_BREAKER_THRESHOLD):
        _, generation = await manager.get()
        manager.rejected(generation)
    with pytest.raises(sa.AuthenticationError, match="rejects every fresh token"):
        await manager.get()
    assert len(issued) == LOGIN_BREAKER_THRESHOLD


# -- the session's wiring -----------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://cache:6379/0", "redis://", "redis://:hunter2@cache:notaport/0",
    "redis://:hunter2@cache/abc", "unix://", 42, "",
])
def test_a_bad_redis_url_is_refused_before_any_request(url: object) -> None:
    """A redis_url that is not a Redis URL: InvalidInputError at construction, with no
    password in it."""
    with pytest.raises(sa.InvalidInputError) as info:
        sa.AsyncSession(BASE, login="u", password="p", redis_url=url)  # type: ignore[arg-type]
    assert info.value.field == "redis_url"
    assert "hunter2" not in str(info.value)


def test_wrong_limiter_or_token_store_types_are_refused() -> None:
    """limiter= and token_store= take the protocols' objects; a token store needs a login."""
    with pytest.raises(sa.InvalidInputError, match="SharedQuota"):
        sa.AsyncSession(BASE, login="u", password="p", limiter=object())  # type: ignore[arg-type]
    with pytest.raises(sa.InvalidInputError, match="TokenStore"):
        sa.AsyncSession(BASE, login="u", password="p", token_store=3)  # type: ignore[arg-type]
    with pytest.raises(sa.InvalidInputError, match="never logs in"):
        sa.AsyncSession(BASE, token="t", token_store=FakeStore())


async def test_given_pieces_are_used_and_not_closed() -> None:
    """limiter= and token_store= are what the session paces and logs in by; closing the
    session leaves them to their owner."""
    quota, store = FakeQuota(Clock()), FakeStore()
    closed: list[str] = []

    async def aclose() -> None:
        closed.append("x")

    quota.aclose = aclose  # type: ignore[method-assign]
    async with sa.AsyncSession(BASE, login="u", password="p", limiter=quota,
                               token_store=store) as api:
        assert api._pacer._shared is quota
        assert api._tokens._store is store
    assert closed == []


def test_only_the_helpers_read_simapi_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIMAPI_REDIS_URL is read by from_env (and from_profile, the CLI), not by the plain
    constructor; the session's pieces never show the URL's password."""
    pytest.importorskip("redis")
    monkeypatch.setenv("SIMAPI_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    monkeypatch.setenv("SIMAPI_BASE_URL", BASE)
    monkeypatch.setenv("SIMAPI_LOGIN", "u")
    monkeypatch.setenv("SIMAPI_PASSWORD", "p")
    plain = sa.AsyncSession(BASE, login="u", password="p")
    assert plain._pacer._shared is None
    assert plain._tokens._store is None
    api = sa.AsyncSession.from_env()
    assert api._pacer._shared is not None
    assert api._tokens._store is not None
    assert "hunter2" not in repr(api._pacer._shared) + repr(api._tokens._store)
    assert "***" in repr(api._pacer._shared)


def test_a_token_session_shares_only_the_quota() -> None:
    """token= with redis_url: a shared quota (no login to share), scoped by the token."""
    pytest.importorskip("redis")
    api = sa.AsyncSession(BASE, token="t-1", redis_url="redis://127.0.0.1:1/0")
    other = sa.AsyncSession(BASE, token="t-2", redis_url="redis://127.0.0.1:1/0")
    assert api._tokens._store is None
    assert repr(api._pacer._shared) != repr(other._pacer._shared)


@pytest.mark.parametrize("sharing", [False, True])
async def test_a_login_goes_before_the_callers_waiting_for_it(sharing: bool) -> None:
    """`first=True` (the login every queued caller waits for) is let go before the
    waiters already in line: locally before all of them; on the shared schedule before
    all but those booked already (at most 0.1 s ahead: 5 at 50/s, and one holding)."""
    pacer = Pacer(50.0, shared=GcraQuota(Clock()) if sharing else None)
    order: list[str] = []

    async def take(name: str, first: bool = False) -> None:
        await pacer.acquire(first=first)
        order.append(name)

    await pacer.acquire()  # the turn now is taken: the next ones queue
    waiting = [asyncio.create_task(take(f"call-{i}")) for i in range(12)]
    await asyncio.sleep(0)
    login = asyncio.create_task(take("login", first=True))
    await asyncio.gather(*waiting, login)
    assert order.index("login") <= (6 if sharing else 0), order
