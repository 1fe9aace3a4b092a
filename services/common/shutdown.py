"""A stop that always ends: after a stop signal the process is gone within a grace period.

The consumers commit an offset only after its record is written (ClickHouse, the ledger,
the dead-letter topic), so stopping at any point loses nothing: records not committed come
again and are recognised, exactly as after a crash. But faust and aiokafka wait for the
broker while they stop (a last commit, a producer flush, a group leave): with Kafka
unreachable a SIGTERM would leave the process running for minutes. So the first stop
signal arms a timer, and a process still stopping when it fires exits at once.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
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
    """uvicorn's server; its first SIGTERM/SIGINT starts the orderly stop and arms `deadline`."""

    def __init__(self, config: uvicorn.Config, deadline: StopDeadline) -> None:
        super().__init__(config)
        self.deadline = deadline

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.deadline.arm()
        super().handle_exit(sig, frame)
