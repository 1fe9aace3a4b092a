"""Logging of the worker processes (CAPA, metrics, ledger): one line per record on stderr.

Without it a process logs nothing below WARNING and nothing at all through the root
logger's last-resort handler: a dead-lettered record or a retried outage would leave no
line. The level comes from the settings (QMS_LOG_LEVEL).
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_worker_logging(level: str) -> None:
    """Send the root logger's records at `level` and above to stderr (once per process)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level.upper())
