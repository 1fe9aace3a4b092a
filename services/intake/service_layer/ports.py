"""What the publishing service needs from the outside world, as protocols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

from services.intake.domain.acceptance import EventKey

# NamedTuples, not dataclasses: one of each is built per event on the hot path.


class OutgoingRecord(NamedTuple):
    """One Kafka record ready to append."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    timestamp_ms: int


class Admitted(NamedTuple):
    """An event that passed every check, stamped and serialised, not yet appended."""

    key: EventKey
    family: str
    record: OutgoingRecord
    receivedtime: datetime
    content: bytes  # digest of the event as sent: a resent id with other content conflicts


class Position(NamedTuple):
    """Where the broker put an acknowledged record."""

    topic: str
    partition: int
    offset: int


class EventLog(Protocol):
    """The append-only log (Kafka in production, a list in unit tests)."""

    async def append(self, records: Sequence[OutgoingRecord]) -> list[Position | BaseException]:
        """Append every record; one result per record, in order, after acknowledgement."""
        ...


class AcceptanceFeed(Protocol):
    """What the other replicas accepted, read back from the log into the shared window.

    Every replica tails the event topics into its idempotency window; after an append,
    `caught_up` waits until the window holds every record up to those positions, so an
    earlier copy of the same event written by another replica is known before answering.
    """

    def appended(self, positions: Sequence[Position]) -> None:
        """Positions this replica wrote and already remembered (no need to read them back)."""
        ...

    async def caught_up(self, positions: Sequence[Position]) -> bool:
        """Wait until the window has read past every position; False if not within its bound."""
        ...
