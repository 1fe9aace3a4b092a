"""Ingest one batch: map records to rows, insert them deduplicated, dead-letter the poison.

The caller acknowledges the batch's offsets only after `ingest` returns, so whatever is
acknowledged is already in ClickHouse (effectively-once with the deduplicated inserts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.metrics.domain.rows import Batch, RecordPosition, Rejected, Row
from services.metrics.domain.tokens import batch_token

log = logging.getLogger(__name__)


class RowSink(Protocol):
    async def ainsert_batch(self, rows: Mapping[str, Sequence[Row]], token: str) -> int: ...


class DeadLetterSink(Protocol):
    async def send(self, rejected: Rejected) -> None: ...


@dataclass(frozen=True)
class Record:
    """A Kafka record as the consumer saw it."""

    position: RecordPosition
    key: bytes | None
    value: bytes


class Ingestor:
    """Turns batches of records into deduplicated ClickHouse inserts."""

    def __init__(
        self,
        store: RowSink,
        deadletters: DeadLetterSink,
        *,
        retry_forever: bool = True,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.store = store
        self.deadletters = deadletters
        self.retry_forever = retry_forever
        self.max_backoff_s = max_backoff_s
        self.ingested = 0
        self.rejected = 0

    async def ingest(self, records: Sequence[Record]) -> Batch:
        """Store a batch; returns only once every row is inserted and every reject sent."""
        batch = Batch()
        for record in records:
            batch.add(record.position, record.key, record.value)
        if not batch.size:
            return batch
        token = batch_token(batch.positions)
        await self._insert_until_done(batch, token)
        for rejected in batch.rejected:
            log.warning(
                "dead-lettering %s[%d]@%d: %s",
                rejected.position.topic,
                rejected.position.partition,
                rejected.position.offset,
                rejected.reason,
            )
            await self.deadletters.send(rejected)
        self.ingested += batch.size - len(batch.rejected)
        self.rejected += len(batch.rejected)
        return batch

    async def _insert_until_done(self, batch: Batch, token: str) -> None:
        # Never give up silently: returning would let the offsets be committed. While
        # ClickHouse is down the partition waits (back-pressure), nothing is lost.
        backoff = 0.5
        while True:
            try:
                await self.store.ainsert_batch(batch.rows, token)
                return
            except Exception:
                if not self.retry_forever:
                    raise
                log.exception("insert of %d records failed; retrying in %.1fs", batch.size, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
