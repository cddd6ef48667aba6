"""Suite-wide fixtures: retry sleeps off, and aioresponses made to work with aiohttp 3.14."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any
from unittest import mock

import aiohttp
import aioresponses.core
import pytest

from simapi_async import _retry


class _CompatResponse(aiohttp.ClientResponse):
    """aiohttp 3.14 requires `stream_writer`; aioresponses 0.7.9 does not pass it.

    Upstream fix pending: pnuckowski/aioresponses#288. aiohttp reads only `output_size`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", mock.Mock(output_size=0))
        super().__init__(*args, **kwargs)


if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
    aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _no_retry_sleeps() -> Iterator[None]:
    """Every test runs with backoff sleeps off (decisions and counts unchanged)."""
    _retry.set_testing(True)
    yield
    _retry.set_testing(False)
