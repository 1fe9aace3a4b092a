"""The one business clock: what "now" and "today" mean for every service.

Due dates, overdue, escalation, "in progress at" and the receipt stamp all read the time
through a `Clock`, never through `datetime.now` directly, so that one setting moves them
together. `QMS_NOW` (an RFC 3339 instant with its offset) sets where the clock of a process
starts: it reads that instant when the process starts and advances with real time from
there, so a backfill of last year's history can be evaluated as of the end of that history
and a demo is reproducible. Unset, the clock is the system's.

A clock that never advances (`FixedClock`) is for tests.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where a service reads the current instant (time-zone aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock:
    """Reads `start` when created, then advances with real (monotonic) time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start must carry its offset (e.g. +07:00 or Z)")
        self.start = start.astimezone(UTC)
        self._started = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._started)


class FixedClock:
    """Always the same instant, until a test moves it."""

    def __init__(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("the instant must carry its offset")
        self.instant = instant.astimezone(UTC)

    def now(self) -> datetime:
        return self.instant

    def advance(self, by: timedelta) -> None:
        self.instant += by


SYSTEM_CLOCK = SystemClock()


def clock_from(start: datetime | None) -> Clock:
    """The clock the `QMS_NOW` setting names: shifted to `start`, or the system's."""
    return SYSTEM_CLOCK if start is None else ShiftedClock(start)
