"""uvicorn that stops in time: waiting commands answered at SIGTERM, and a hard deadline.

uvicorn drains requests in flight before the lifespan (and so the faust worker) stops; an
HTTP command waiting for its decision would hold the drain for up to the command timeout.
On the signal, those callers get their 503 (Retry-After) at once.

With the broker unreachable, faust's consumer thread retries its last fetch, commit and
leave-group requests long after the loop is done, and the interpreter waits for that
thread. So the signal also arms a deadline: a process still alive `deadline_s` after it
exits hard. Nothing is lost by that: offsets are committed only after the writes they
cover, so whatever was in flight is read again by the next owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)

EXIT_TERMINATED = 128 + signal.SIGTERM


def _exit_now() -> None:
    log.warning("still stopping at the deadline: exiting now (offsets are committed)")
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(EXIT_TERMINATED)


class StoppingServer(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, on_exit: Callable[[], None], deadline_s: float
    ) -> None:
        super().__init__(config)
        self._on_exit = on_exit
        self._deadline_s = deadline_s
        self._deadline: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._deadline is None:
            self._deadline = threading.Timer(self._deadline_s, _exit_now)
            self._deadline.daemon = True
            self._deadline.start()
        # A signal handler runs between two bytecodes of the loop's thread: hand the work
        # to the loop instead of touching its futures from here.
        with contextlib.suppress(RuntimeError):  # no loop running (yet): nothing waits
            asyncio.get_running_loop().call_soon_threadsafe(self._on_exit)
        super().handle_exit(sig, frame)
