"""`ChaosEmulator`: the emulator plus the fault it lacks — token revocations driven by
traffic — and a record of which tokens were refused.

`revoke_tokens()` is called here every `revoke_every` requests (not on a timer), so the
number of revocations does not depend on how fast the machine is. (A 429 rate is the
emulator's own `Faults.error_rate_429`.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from simapi_async.testing import Emulator

__all__ = ["ChaosEmulator"]


class ChaosEmulator(Emulator):
    """An `Emulator` whose app also revokes every token after each `revoke_every` requests
    (0: never)."""

    def __init__(self, *args: Any, revoke_every: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.revoke_every = revoke_every
        self.revocations = 0
        self.requests_seen = 0
        #: Bearer tokens that were answered 401 at least once (each should cost one login).
        self.refused_tokens: set[str] = set()
        #: Logins the emulator applied but whose answer it dropped (the client retried).
        self.lost_logins = 0
        #: Awaited after each request is processed, before its answer is sent.
        self.on_processed: Callable[[web.Request], Awaitable[None]] | None = None

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.append(self._chaos)
        return app

    @web.middleware
    async def _chaos(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests_seen += 1
        if self.revoke_every and self.requests_seen % self.revoke_every == 0:
            self.revoke_tokens()
            self.revocations += 1
        is_login = request.path.endswith("/login")
        logins, dropped = self.stats.logins, self.stats.dropped
        response: web.StreamResponse = await handler(request)
        if is_login and self.stats.logins > logins and self.stats.dropped > dropped:
            # The emulator's drop fault applied this login, then hung up: the client never
            # saw the token and logs in again. (A login answer is made without awaiting,
            # so no other request ran in between.)
            self.lost_logins += 1
        if response.status == 401:
            self.refused_tokens.add(request.headers.get("Authorization", ""))
        if self.on_processed is not None:
            await self.on_processed(request)
        return response
