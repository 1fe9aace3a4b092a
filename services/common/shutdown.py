"""A stop that always ends: after a stop signal the process is gone within a grace period.

The consumers commit an offset only after its record is written (ClickHouse, the ledger,
the dead-letter topic), so stopping at any point loses nothing: records not committed come
again and are recognised, exactly as after a crash. But faust and aiokafka wait for the
broker while they stop (a last commit, a producer flush, a group leave): with Kafka
unreachable a SIGTERM would leave the process running for minutes. So the first stop
signal arms a timer, and a process still stopping when it fires exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)

# 128 + SIGTERM: what a supervisor expects from a process its SIGTERM ended.
EXIT_CODE = 143


class StopDeadline:
    """Arm once on the first stop signal; exits the process `grace_s` later if still alive."""

    def __init__(self, grace_s: float, what: str) -> None:
        self.grace_s = grace_s
        self.what = what
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is not None:
            return
        timer = threading.Timer(self.grace_s, self._expire)
        timer.daemon = True  # never the reason the process stays
        timer.start()
        self._timer = timer

    def _expire(self) -> None:
        log.critical(
            "%s still stopping %.0f s after the stop signal (broker or store unreachable): "
            "exiting now; offsets of unwritten records were not committed, they come again",
            self.what,
            self.grace_s,
        )
        sys.stderr.flush()
        os._exit(EXIT_CODE)


class StoppingServer(uvicorn.Server):
    """uvicorn's server; its first SIGTERM/SIGINT starts the orderly stop and arms `deadline`.

    `on_stop` runs on the event loop at the signal, before uvicorn drains the requests in
    flight: the CAPA service answers its waiting commands there, so that they do not hold
    the drain for their whole timeout.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        deadline: StopDeadline,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.deadline = deadline
        self.on_stop = on_stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.deadline.arm()
        if self.on_stop is not None:
            # A signal handler runs between two bytecodes of the loop's thread: hand the
            # work to the loop instead of touching its futures from here.
            with contextlib.suppress(RuntimeError):  # no loop running (yet): nothing waits
                asyncio.get_running_loop().call_soon_threadsafe(self.on_stop)
        super().handle_exit(sig, frame)
