"""Two steps of making many models at once, for the CDR path (`_converter._cdr_columns`).

`columns(items, keys)`: the values of `keys` in every record, a tuple a key (TypeError
if an item is not a dict, KeyError if a key is missing). `fill(cls, descriptors,
columns)`: new instances of `cls` made as ``object.__new__`` makes them (no
``__init__``), the slot of ``descriptors[j]`` holding ``columns[j][i]``.

Both only move references; what a value must be is decided before, in Python. They are
compiled (`_cmodels.c`, built by ``pip install`` when a C compiler is there) or, without
it, run as the Python below: the same results, the compiled ones ~7,000 instructions a
record cheaper (`benchmarks/README.md`). ``SIMAPI_NO_EXTENSIONS=1`` uses the Python ones.
`COMPILED` tells which are in use.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, Final, TypeVar

__all__ = ["COMPILED", "columns", "fill", "py_columns", "py_fill"]

T = TypeVar("T")
_new: Final = object.__new__
#: The `_cmodels` this module was written for (its functions' meaning).
_VERSION: Final = 1


def py_columns(items: list[Any], keys: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """`columns` in Python: ``zip`` of one getter's tuples. The items are dicts (the
    caller checked that: a JSON decoder makes no subclass); the compiled one checks each
    too, and refuses a subclass."""
    if len(keys) == 1:  # itemgetter of one key gives no tuple
        return [tuple(map(itemgetter(keys[0]), items))]
    got = list(zip(*map(itemgetter(*keys), items), strict=True)) if keys else []
    return got or [()] * len(keys)


def py_fill(cls: type[T], descriptors: tuple[Any, ...],
            columns: Sequence[Sequence[Any]]) -> list[T]:
    """`fill` in Python: a bound ``slot.__set__`` each (the cheapest Python path measured:
    ~58 ns a slot; ``setattr`` would meet a frozen class's ``__setattr__``)."""
    if len(columns) != len(descriptors):
        raise ValueError(f"{len(columns)} columns for {len(descriptors)} slots")
    n = len(columns[0]) if columns else 0
    if any(len(column) != n for column in columns):
        raise ValueError("columns of different lengths")
    models = list(map(_new, repeat(cls, n)))
    for descriptor, column in zip(descriptors, columns, strict=True):
        deque(map(descriptor.__set__, models, column), 0)
    return models


columns = py_columns
fill = py_fill
COMPILED = False
if not os.environ.get("SIMAPI_NO_EXTENSIONS"):
    try:
        from . import _cmodels  # type: ignore[attr-defined]
    except ImportError:  # not built (no compiler at install time): the Python ones
        pass
    else:
        if getattr(_cmodels, "VERSION", None) == _VERSION:  # else a stale build
            columns, fill, COMPILED = _cmodels.columns, _cmodels.fill, True
