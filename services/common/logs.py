"""Logging of every process: structlog's and the standard library's records, one format.

Every entry point calls `configure_logging` once. Records of the standard library (uvicorn,
faust and mode, aiokafka, the services' own `logging.getLogger`) go through structlog's
`ProcessorFormatter`, so with `json=True` each line on stderr is one JSON object with
`timestamp`, `level`, `logger`, `event` and whatever context is bound (request id,
publisher, consumer...). Without a handler a process would log nothing below WARNING: a
dead-lettered record or a retried outage would leave no line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog


def _drop_color_message(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event.pop("color_message", None)  # uvicorn's ANSI copy of the message
    return event


# Context merged into every line, structlog's and foreign (stdlib) records alike.
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    _drop_color_message,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]


class _QmsHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler this module installs (replaced, not stacked, on a second call)."""


FRAMEWORK_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "faust", "mode", "aiokafka")


def configure_logging(level: str, *, json: bool = True) -> None:
    """Send every record at `level` and above to stderr, as JSON lines or console lines."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json else _keep_exc_info,
            renderer,
        ],
    )
    handler = _QmsHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _QmsHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in FRAMEWORK_LOGGERS:
        # A framework may have given its loggers handlers, a level or no propagation of their
        # own (uvicorn's default config does): every record goes through the one handler.
        framework = logging.getLogger(name)
        framework.handlers.clear()
        framework.setLevel(logging.NOTSET)
        framework.propagate = True
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: each app (and each test) configures logging for the stream it has.
        cache_logger_on_first_use=False,
    )


def _keep_exc_info(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return event  # the console renderer prints the traceback itself


def bind_process(**context: str) -> None:
    """Bind `context` (service, consumer group) to every line of this process: the tasks it
    starts from here on copy it."""
    structlog.contextvars.bind_contextvars(**context)
