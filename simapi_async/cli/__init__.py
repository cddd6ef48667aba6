"""The `simapi` command (placeholder until the CLI lands)."""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of the `simapi` command."""
    print("simapi: the command line is coming soon (see the README).")
    sys.exit(0)
