"""Timers of the plain asyncio workers: one tick every interval, on every worker of a group.

A faust app runs its timers itself; a worker built on aiokafka alone runs each `Periodic` as
a task of its own beside the consumer loop, cancelled when the worker stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    """`tick` every `interval_s` seconds, under `name` (logs, task names)."""

    name: str
    interval_s: float
    tick: Callable[[], Awaitable[None]]

    async def run(self) -> None:
        """Tick until cancelled, the first one interval after the start (as a faust timer).

        A tick that raises is logged and the next one runs: a timer never dies of an outage.
        """
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.tick()
            except Exception:
                log.exception("%s failed; it runs again in %.0f s", self.name, self.interval_s)
