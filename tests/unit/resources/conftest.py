"""Fakes for the resource tests: a requester that records calls and answers from handlers."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from simapi_async._endpoints import ENDPOINTS
from simapi_async._validation import luhn_check_digit
from simapi_async.resources import CdrResource, PacketsResource, SimsResource

NUMBER = "79181111111"
ICCID = "897019922015012345" + luhn_check_digit("897019922015012345")
ICCID2 = "897019922015099999" + luhn_check_digit("897019922015099999")
IMSI = "250011234567890"
INN = "7707083893"


class FakeApi:
    """Stands in for `AsyncSession.request`: checks params against the endpoint table,
    records (operation, params) and answers with the registered handler's body."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.handlers: dict[str, Any] = {}

    def on(self, operation: str, answer: Any) -> None:
        """Answer `operation` with `answer`: a body, or a (possibly async) function of params."""
        self.handlers[operation] = answer

    async def request(self, operation: str, params: Mapping[str, Any]) -> Any:
        ENDPOINTS[operation].build(params)  # raises on a parameter the table does not allow
        self.calls.append((operation, dict(params)))
        answer = self.handlers.get(operation)
        if callable(answer):
            answer = answer(dict(params))
            if inspect.isawaitable(answer):
                answer = await answer
        return answer

    def ops(self) -> list[str]:
        return [op for op, _ in self.calls]

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """The params of every call of `operation`, with absent (None) ones dropped."""
        return [{k: v for k, v in p.items() if v is not None}
                for op, p in self.calls if op == operation]


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
def sims(fake: FakeApi) -> SimsResource:
    return SimsResource(fake)


@pytest.fixture
def packets(fake: FakeApi) -> PacketsResource:
    return PacketsResource(fake)


@pytest.fixture
def cdr(fake: FakeApi) -> CdrResource:
    return CdrResource(fake)


@pytest.fixture
def sim_body() -> Callable[..., dict[str, Any]]:
    def make(number: str = NUMBER, **extra: Any) -> dict[str, Any]:
        return {"number": number, "iccid": ICCID, "imsi": IMSI, "status": "active", **extra}
    return make
