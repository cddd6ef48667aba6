"""The architecture as the layout shows it: no import circle between the session and
the sub-clients, and the send path apart from the session's public face."""

from __future__ import annotations

import ast
from pathlib import Path

import simapi_async
from simapi_async import _session, _transport

PACKAGE = Path(simapi_async.__file__).parent


def _runtime_imports(path: Path) -> set[str]:
    """Modules imported by `path` when it runs (not under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.lstrip("."))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_sub_clients_do_not_import_the_session_at_run_time() -> None:
    """`bulk/` and `resources/` use `AsyncSession` for types only, so the session can
    import them at the top of its module: no import circle."""
    offenders = [
        str(path.relative_to(PACKAGE))
        for folder in ("bulk", "resources")
        for path in sorted((PACKAGE / folder).glob("*.py"))
        if "_session" in _runtime_imports(path)
    ]
    assert offenders == []


def test_the_send_path_lives_apart_from_the_public_face() -> None:
    """`AsyncSession` keeps construction and properties; `request` and the aiohttp
    exchange come from `Transport` (one module for the send path)."""
    assert issubclass(_session.AsyncSession, _transport.Transport)
    for name in ("request", "_send", "_stream", "_read", "_result", "_status_error"):
        assert name in vars(_transport.Transport), name
        assert name not in vars(_session.AsyncSession), name
    assert "aiohttp.ClientSession(" not in (PACKAGE / "_session.py").read_text()
