"""Produce ledger entries and checkpoints: idempotent producer, acks=all, acks gathered per batch.

The worker's own producer, not faust's: faust's is idempotent only in exactly-once mode, and
many entries in flight need idempotence so that a retried batch can neither be written twice
nor land after a later one (a chain's entries must reach its ledger partition in seq order).
Entries go into producer record batches through intake's `KafkaEventLog` (one future per
batch, batches of a partition handed over in order) rather than one `send` each: per-record
`send` cost about as much as computing the entry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from schemas.topics import LEDGER_CHECKPOINTS_TOPIC, LEDGER_TOPIC
from services.common.kafka_security import aiokafka_security
from services.intake.adapters.kafka_log import KafkaEventLog
from services.intake.adapters.kafka_partitioner import default_partitioner
from services.intake.ledger.domain.chain import LedgerEntry
from services.intake.ledger.settings import LedgerSettings
from services.intake.service_layer.ports import OutgoingRecord

# A chain's batch of 1,000 entries (~450 KB) fits one producer batch; brokers take 1 MB.
PRODUCER_BATCH_BYTES = 512 * 1024
# How long a batch may wait to be handed to the producer: aiokafka's request timeout.
HAND_OVER_TIMEOUT_S = 40.0


def entry_value(entry: LedgerEntry) -> bytes:
    """The `ledger.v1` record value of an entry (compact JSON; its hash does not depend on
    these bytes, readers parse them)."""
    return orjson.dumps(entry.to_json())


class LedgerPublisher:
    """Sends to `ledger.v1` and `ledger.checkpoints.v1`, keyed by chain (one partition each)."""

    def __init__(
        self,
        bootstrap_servers: str,
        ledger_topic: str,
        checkpoint_topic: str,
        *,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.security = dict(security or {})
        self.ledger_topic = ledger_topic
        self.checkpoint_topic = checkpoint_topic
        self._producer: AIOKafkaProducer | None = None
        self._log: KafkaEventLog | None = None
        self._starting = asyncio.Lock()
        self._stopped = False

    @classmethod
    def from_settings(cls, settings: LedgerSettings) -> LedgerPublisher:
        return cls(
            settings.kafka_bootstrap_servers,
            settings.topic(LEDGER_TOPIC),
            settings.topic(LEDGER_CHECKPOINTS_TOPIC),
            security=aiokafka_security(settings),
        )

    async def publish_entries(self, entries: Sequence[LedgerEntry]) -> None:
        """Send every entry, in order; return once the broker acked all, else raise."""
        await self._started()
        assert self._log is not None  # started with the producer
        now_ms = int(time.time() * 1000)
        outcomes = await self._log.append(
            [
                OutgoingRecord(
                    self.ledger_topic, entry.chain.encode(), entry_value(entry), [], now_ms
                )
                for entry in entries
            ]
        )
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is not None:
            raise failed

    async def publish_checkpoint(self, chain: str, note: str) -> None:
        """Send one signed checkpoint note and wait for its ack."""
        producer = await self._started()
        await producer.send_and_wait(self.checkpoint_topic, note.encode(), key=chain.encode())

    async def stop(self) -> None:
        self._stopped = True
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def _started(self) -> AIOKafkaProducer:
        # Started on first use, inside the worker's running event loop.
        async with self._starting:
            if self._stopped:
                raise RuntimeError("the ledger publisher was stopped")
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    max_batch_size=PRODUCER_BATCH_BYTES,
                    partitioner=default_partitioner,
                    **self.security,
                )
                await producer.start()
                self._producer = producer
                self._log = KafkaEventLog(producer, HAND_OVER_TIMEOUT_S)
            return self._producer
