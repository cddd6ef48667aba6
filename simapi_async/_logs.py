"""`SIMAPI_LOG=debug|info` turns on the SDK's own log lines on stderr.

Lines carry the method, the redacted URL, the status, the attempt and the time taken;
never a password or token. Without the variable the SDK only logs through the
`simapi_async` logger and leaves handlers to the application.
"""

from __future__ import annotations

import logging
import os

__all__ = ["setup_logging"]

logger = logging.getLogger("simapi_async")


def setup_logging(level: str | None = None) -> None:
    """Attach a stderr handler at `level` (default: from `SIMAPI_LOG`); idempotent."""
    name = (level if level is not None else os.environ.get("SIMAPI_LOG", "")).strip().upper()
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        return
    logger.setLevel(name)
    if not any(getattr(h, "_simapi", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
        handler._simapi = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
