"""uvicorn that tells waiting commands at SIGTERM, so the drain does not wait for their timeout.

uvicorn drains requests in flight before the lifespan (and so the faust worker) stops; an
HTTP command waiting for its decision would hold the drain for up to the command timeout.
On the signal, those callers get their 503 (Retry-After) at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import FrameType

import uvicorn


class StoppingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler runs between two bytecodes of the loop's thread: hand the work
        # to the loop instead of touching its futures from here.
        with contextlib.suppress(RuntimeError):  # no loop running (yet): nothing waits
            asyncio.get_running_loop().call_soon_threadsafe(self._on_exit)
        super().handle_exit(sig, frame)
