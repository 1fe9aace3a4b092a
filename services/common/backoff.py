"""Jittered exponential backoff for failures that may pass (a store or broker outage).

Each wait is drawn between half and all of a cap that doubles per attempt up to `max_s`:
consumers retrying against the same recovering store spread out instead of hammering it
in step, and none waits much less than its cap.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Backoff:
    """The waits between the attempts at one operation."""

    initial_s: float = 0.2
    max_s: float = 30.0
    attempts: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        cap = min(self.max_s, self.initial_s * 2**self.attempts)
        self.attempts += 1
        return self.rng.uniform(cap / 2, cap)

    def succeeded(self) -> None:
        """The operation worked: the next failure waits the initial delay again."""
        self.attempts = 0


async def retry_until_done(
    attempt: Callable[[], Awaitable[T]],
    what: str,
    log: logging.Logger,
    backoff: Backoff | None = None,
) -> T:
    """Await `attempt()` until it succeeds; every failure is logged and retried.

    Only for operations whose failures are transient (a produce to Kafka, a probe): a
    cancellation (the worker stopping) ends the retries at once.
    """
    backoff = backoff or Backoff()
    while True:
        try:
            return await attempt()
        except Exception as exc:
            delay = backoff.next_delay()
            log.warning(
                "%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, delay
            )
            await asyncio.sleep(delay)
