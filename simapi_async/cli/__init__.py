"""The `simapi` command: demo, emulator, SIM operations, bulk runs, CDR export.

Installed with the `cli` extra (``pip install 'simapi_async[cli]'``); `main` is the console
script, `cli` the click group (e.g. for click's test runner).
"""

from __future__ import annotations

__all__ = ["cli", "main"]

from ._app import cli


def main() -> None:
    """Entry point of the `simapi` command."""
    cli.main(prog_name="simapi")
