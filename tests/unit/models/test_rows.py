"""The compiled steps of `_rows` (`_cmodels.c`) give what the Python ones give, refuse
what they cannot do safely, and leak no reference; the build hook compiles them."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simapi_async import _rows
from simapi_async.models import InternetCdr

ROOT = Path(__file__).resolve().parents[3]

compiled = pytest.mark.skipif(not _rows.COMPILED and os.environ.get("CI") != "true",
                              reason="simapi_async._cmodels is not built (no C compiler)")


def test_ci_runs_the_compiled_steps() -> None:
    """CI installs with a compiler: a failed build must not pass unnoticed as Python."""
    if os.environ.get("CI") != "true":
        pytest.skip("outside CI a machine may have no C compiler")
    assert _rows.COMPILED


@attrs.frozen
class Three:
    a: Any = None
    b: Any = None
    c: Any = None


SLOTS = (Three.__dict__["a"], Three.__dict__["b"], Three.__dict__["c"])
VALUE = st.one_of(st.none(), st.integers(), st.text(max_size=3), st.booleans(),
                  st.lists(st.integers(), max_size=2))
KEY = st.sampled_from(["a", "b", "c", "d", 1, (2, 3)])


def _outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except (KeyError, TypeError) as exc:
        return (type(exc), exc.args)


@compiled
@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(KEY, VALUE, max_size=5), max_size=6),
       st.lists(KEY, max_size=4).map(tuple))
def test_columns_compiled_equal_python(items: list[dict[Any, Any]], keys: tuple[Any, ...]) -> None:
    """Same columns, or the same KeyError (the first missing key of the first record
    that lacks one)."""
    from simapi_async import _cmodels  # type: ignore[attr-defined]

    assert _outcome(lambda: _cmodels.columns(items, keys)) == _outcome(
        lambda: _rows.py_columns(items, keys))


@compiled
def test_columns_refuse_what_is_not_exactly_a_dict() -> None:
    from simapi_async import _cmodels  # type: ignore[attr-defined]

    class Odd(dict[str, Any]):
        def __getitem__(self, key: str) -> Any:
            return "odd"

    for item in (Odd(a=1, b=2), ["a", "b"], "ab", 7, None):
        with pytest.raises(TypeError, match="item 1 is a"):
            _cmodels.columns([{"a": 1, "b": 2}, item], ("a", "b"))
    with pytest.raises(TypeError):
        _cmodels.columns(({"a": 1},), ("a",))  # a list, not any sequence


@compiled
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(VALUE, VALUE, VALUE), max_size=8))
def test_fill_compiled_equals_python(rows: list[tuple[Any, Any, Any]]) -> None:
    from simapi_async import _cmodels  # type: ignore[attr-defined]

    columns = [tuple(r[j] for r in rows) for j in range(3)]
    got = _cmodels.fill(Three, SLOTS, columns)
    assert got == _rows.py_fill(Three, SLOTS, columns) == [Three(*r) for r in rows]
    assert {type(m) for m in got} <= {Three}


@compiled
def test_fill_builds_the_real_model_as_its_init_does() -> None:
    from simapi_async import _cmodels  # type: ignore[attr-defined]

    names = [a.name for a in attrs.fields(InternetCdr)]
    slots = tuple(InternetCdr.__dict__[n] for n in names)
    values = [(f"7918{i:07d}", None, None, i, None, None, "apn", None, None, {"i": i})
              for i in range(5)]
    got = _cmodels.fill(InternetCdr, slots, [tuple(v[j] for v in values)
                                             for j in range(len(names))])
    expected = [InternetCdr(*v) for v in values]
    assert got == expected
    assert [m.raw for m in got] == [m.raw for m in expected]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        got[0].number = "x"  # type: ignore[misc]


@compiled
def test_fill_refuses_what_is_not_a_writable_object_slot_of_the_class() -> None:
    from simapi_async import _cmodels  # type: ignore[attr-defined]

    @attrs.frozen
    class Other:
        a: Any = None

    cases = [
        ((Other.__dict__["a"], *SLOTS[1:]), "not a writable object slot"),  # another class
        ((type.__dict__["__basicsize__"], *SLOTS[1:]), "not a writable object slot"),
        ((property(lambda s: 1), *SLOTS[1:]), "not a slot"),
    ]
    for slots, message in cases:
        with pytest.raises(TypeError, match=message):
            _cmodels.fill(Three, slots, [(1,), (2,), (3,)])
    with pytest.raises(ValueError, match="2 columns for 3 slots"):
        _cmodels.fill(Three, SLOTS, [(1,), (2,)])
    with pytest.raises(ValueError, match="column 2 has 2 values"):
        _cmodels.fill(Three, SLOTS, [(1,), (2,), (3, 4)])


@compiled
def test_fill_and_columns_hold_exactly_the_references_they_should() -> None:
    """No leak and no early free: each value is held by its models (a slot named twice
    keeps the last value), and freed with them."""
    from simapi_async import _cmodels  # type: ignore[attr-defined]

    class Value:
        pass

    values = [Value() for _ in range(6)]
    refs = [weakref.ref(v) for v in values]
    items = [{"a": values[i], "b": values[i + 3]} for i in range(3)]
    columns = _cmodels.columns(items, ("a", "b"))
    models = _cmodels.fill(Three, (SLOTS[0], SLOTS[1], SLOTS[0]),
                           [columns[0], columns[1], columns[1]])
    assert [(m.a, m.b) for m in models] == [(values[i + 3], values[i + 3]) for i in range(3)]
    before = [sys.getrefcount(v) for v in values]
    del items, columns
    after = [sys.getrefcount(v) for v in values]
    assert [b - a for b, a in zip(before, after, strict=True)] == [2] * 3 + [2] * 3
    del values, models
    gc.collect()
    assert [r() for r in refs] == [None] * 6


@compiled
def test_fill_reads_a_snapshot_a_finalizer_cannot_change() -> None:
    """A collection while the models are allocated may run any finalizer; one that
    empties a column list changes nothing the models get."""
    from simapi_async import _cmodels  # type: ignore[attr-defined]

    column: list[Any] = list(range(500))
    collections = 0

    class Clears:
        """Garbage whose finalizer leaves new garbage: collected again and again; the
        20th collection (well inside the 500 allocations) empties the column."""

        def __init__(self) -> None:
            self.me = self  # a cycle: freed by the collector, which runs __del__

        def __del__(self) -> None:
            nonlocal collections
            collections += 1
            if collections == 20:
                column.clear()
            elif collections < 20:
                Clears()

    threshold = gc.get_threshold()
    gc.collect()
    try:
        gc.set_threshold(1)
        Clears()
        models = _cmodels.fill(Three, SLOTS, [column, tuple(range(500)), (None,) * 500])
    finally:
        gc.set_threshold(*threshold)
    assert collections == 20
    assert column == []
    assert [m.a for m in models] == list(range(500))


def test_without_the_extension_the_python_steps_are_used() -> None:
    env = {**os.environ, "SIMAPI_NO_EXTENSIONS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", "from simapi_async import _rows; "
         "print(_rows.COMPILED, _rows.fill is _rows.py_fill, _rows.columns is _rows.py_columns)"],
        env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]


def test_the_build_hook_compiles_a_module_that_imports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`hatch_build.compile_extension`, as `pip install` runs it: a module that imports
    and works; a reason instead of an error when it cannot (SIMAPI_NO_EXTENSIONS)."""
    sys.path.insert(0, str(ROOT))
    try:
        import hatch_build
    finally:
        sys.path.remove(str(ROOT))
    monkeypatch.delenv("SIMAPI_NO_EXTENSIONS", raising=False)
    target = tmp_path / hatch_build.target_name()
    why = hatch_build.compile_extension(ROOT, target)
    if why is not None and os.environ.get("CI") != "true":
        pytest.skip(f"cannot compile here: {why}")
    assert why is None
    out = subprocess.run(
        [sys.executable, "-c", "import _cmodels; print(_cmodels.VERSION, "
         "_cmodels.columns([{'a': 1, 'b': 2}], ('b', 'a')))"],
        cwd=target.parent, capture_output=True, text=True, check=True)
    assert out.stdout.split(maxsplit=1) == ["1", "[(2,), (1,)]\n"]
    monkeypatch.setenv("SIMAPI_NO_EXTENSIONS", "1")
    assert hatch_build.compile_extension(ROOT, tmp_path / "x.so") == "SIMAPI_NO_EXTENSIONS is set"
