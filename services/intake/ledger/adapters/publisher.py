"""Produce ledger entries and checkpoints: idempotent producer, acks=all, acks gathered per batch.

The worker's own producer, not faust's: faust's is idempotent only in exactly-once mode, and
many entries in flight need idempotence so that a retried batch can neither be written twice
nor land after a later one (a chain's entries must reach its ledger partition in seq order).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.topics import LEDGER_CHECKPOINTS_TOPIC, LEDGER_TOPIC
from services.common.kafka_security import aiokafka_security
from services.intake.ledger.domain.chain import LedgerEntry
from services.intake.ledger.settings import LedgerSettings


def entry_value(entry: LedgerEntry) -> bytes:
    """The `ledger.v1` record value of an entry."""
    return json.dumps(entry.to_json(), separators=(",", ":")).encode()


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
        producer = await self._started()
        acks = [
            await producer.send(self.ledger_topic, entry_value(entry), key=entry.chain.encode())
            for entry in entries
        ]
        await asyncio.gather(*acks)

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
                    **self.security,
                )
                await producer.start()
                self._producer = producer
            return self._producer
