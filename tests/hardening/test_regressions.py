"""Regression tests of the SDK fixes the hardening tests forced (one test per fix)."""

from __future__ import annotations

import pytest

import simapi_async as sa
from simapi_async._converter import structure_one

from .conftest import NUMBER


@pytest.mark.parametrize("value", ["1" * 5000, "--5", "-"])
def test_unreadable_integer_strings_are_response_format_errors(value: str) -> None:
    """An integer field holding a 5000-digit or doubly signed string raises
    ResponseFormatError naming it, not a bare ValueError."""
    with pytest.raises(sa.ResponseFormatError) as info:
        structure_one({"number": NUMBER, "packet_id": value}, sa.Sim)
    assert info.value.field == "packet_id"
