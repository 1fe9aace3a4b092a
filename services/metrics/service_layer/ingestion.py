"""Ingest one batch: map records to rows, insert them deduplicated, dead-letter the poison.

`ingest` returns only once every record of the batch is either stored or on the
dead-letter topic; the caller acknowledges the batch's offsets only then, so whatever is
acknowledged is in ClickHouse or dead-lettered (effectively-once with the deduplicated
inserts). What goes wrong is told apart:

- one record that cannot be mapped (whatever the exception) is refused alone;
- an insert the store refuses while it answers (a value it cannot hold) is split in
  halves, each inserted with its own deterministic token, down to the records it refuses;
- a store that does not answer (down, overloaded) is waited for, with jittered
  exponential backoff, forever: the partition waits (back-pressure), nothing is skipped;
- a dead-letter produce that fails is retried the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.common.backoff import Backoff, retry_until_done
from services.common.deadletter import RecordPosition, reason_for
from services.metrics.domain.rows import MappedRows, Mapper, Refusal, Rejected, Row, map_values
from services.metrics.domain.tokens import batch_token

log = logging.getLogger(__name__)


class RowSink(Protocol):
    async def ainsert_batch(self, rows: Mapping[str, Sequence[Row]], token: str) -> int: ...

    async def is_refusal(self, error: Exception) -> bool:
        """True when the store answers but refuses the data (retrying cannot help);
        False when the failure may pass (unreachable, overloaded)."""
        ...


class DeadLetterSink(Protocol):
    async def send(self, rejected: Rejected) -> None: ...


@dataclass(frozen=True)
class Record:
    """A Kafka record as the consumer saw it."""

    position: RecordPosition
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Ingested:
    """What became of one batch: how many records were stored, and the refused ones."""

    stored: int
    rejected: list[Rejected] = field(default_factory=list)


class Ingestor:
    """Turns batches of records into deduplicated ClickHouse inserts."""

    def __init__(
        self,
        store: RowSink,
        deadletters: DeadLetterSink,
        *,
        retry_forever: bool = True,
        initial_backoff_s: float = 0.2,
        max_backoff_s: float = 30.0,
        mapper: Mapper | None = None,
    ) -> None:
        self.store = store
        self.mapper = mapper
        self.deadletters = deadletters
        self.retry_forever = retry_forever
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.ingested = 0
        self.rejected = 0

    async def ingest(self, records: Sequence[Record]) -> Ingested:
        """Store a batch; returns only once every record is stored or dead-lettered."""
        return await self.ingest_mapped(records, map_values(values_of(records), self.mapper))

    async def ingest_mapped(self, records: Sequence[Record], mapped: MappedRows) -> Ingested:
        """`ingest` for a batch already mapped (`map_values`, perhaps in another process)."""
        accepted = [records[i] for i in mapped.mapped]
        refused = await self._store(accepted, mapped.rows)
        rejected = sorted(
            [*(_rejected(records[i], refusal) for i, refusal in mapped.refused), *refused],
            key=lambda r: _order(r.position),
        )
        for one in rejected:
            await self._dead_letter(one)
        stored = len(accepted) - len(refused)
        self.ingested += stored
        self.rejected += len(rejected)
        return Ingested(stored, rejected)

    def _backoff(self) -> Backoff:
        return Backoff(self.initial_backoff_s, self.max_backoff_s)

    async def _store(
        self, part: Sequence[Record], rows: Mapping[str, Sequence[Row]]
    ) -> list[Rejected]:
        """Insert `rows`, those of the records `part`; returns the records the store
        refuses (none, normally)."""
        if not part:
            return []
        backoff = self._backoff()
        while True:
            try:
                await self.store.ainsert_batch(rows, batch_token(r.position for r in part))
                return []
            except Exception as exc:
                if await self.store.is_refusal(exc):
                    refusal = exc
                    break
                if not self.retry_forever:
                    raise
                delay = backoff.next_delay()
                log.warning(
                    "insert of %d records failed, the store is not answering (%s: %s); "
                    "retrying in %.1fs",
                    len(part),
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
        if len(part) == 1:
            (only,) = part
            reason, error = reason_for(refusal)
            return [
                Rejected(
                    only.position, f"the store refused it: {reason}", only.key, only.value, error
                )
            ]
        # The store answers but refuses the block: find the records it refuses by halves
        # (mapping each half again: every record of `part` mapped, and mapping is pure).
        log.warning(
            "the store refused a block of %d records (%s); splitting it", len(part), refusal
        )
        middle = len(part) // 2
        refused: list[Rejected] = []
        for half in (part[:middle], part[middle:]):
            refused += await self._store(half, map_values(values_of(half), self.mapper).rows)
        return refused

    async def _dead_letter(self, rejected: Rejected) -> None:
        p = rejected.position
        log.warning("dead-lettering %s[%d]@%d: %s", p.topic, p.partition, p.offset, rejected.reason)
        if not self.retry_forever:
            await self.deadletters.send(rejected)
            return
        await retry_until_done(
            lambda: self.deadletters.send(rejected),
            f"dead-letter produce of {p.topic}[{p.partition}]@{p.offset}",
            log,
            self._backoff(),
        )


def values_of(records: Sequence[Record]) -> list[tuple[RecordPosition, bytes]]:
    """What mapping a batch needs of its records: each one's position and value."""
    return [(r.position, r.value) for r in records]


def _rejected(record: Record, refusal: Refusal) -> Rejected:
    return Rejected(record.position, refusal.reason, record.key, record.value, refusal.error)


def _order(position: RecordPosition) -> tuple[str, int, int]:
    return position.topic, position.partition, position.offset
