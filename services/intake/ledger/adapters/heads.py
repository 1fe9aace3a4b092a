"""The chain heads, kept in a compacted Kafka topic: one record per chain, the latest wins.

The topic is `<app id>-ledger-heads-changelog` with as many partitions as the chained
topics; a chain's head goes to the partition of its events' partition (key: the chain key
as a JSON string, value: the head as JSON). That is the layout of the faust table the
worker kept its heads in before, so a deployment upgraded from it resumes every chain
where it stood. A worker reads back the partitions of the chains it is given; only the
worker that owns a chain writes its head.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.common.topics import TopicSpec
from services.intake.ledger.adapters.kafka import read_to_end
from services.intake.ledger.domain.chain import ChainHead, chain_key, split_chain_key

log = logging.getLogger(__name__)

# The faust table's name: its changelog topic is this topic (see the module docstring).
HEADS_TABLE = "ledger-heads"


def heads_topic(app_id: str) -> str:
    return f"{app_id}-{HEADS_TABLE}-changelog"


def heads_topic_spec(app_id: str, partitions: int, replication_factor: int) -> TopicSpec:
    return TopicSpec(
        heads_topic(app_id),
        partitions,
        replication_factor,
        {"cleanup.policy": "compact"},
        "ledger chain heads (one record per chain, compacted)",
    )


def head_record(head: ChainHead) -> tuple[bytes, bytes]:
    """The (key, value) of a head's record."""
    key = json.dumps(chain_key(head.topic, head.partition)).encode()
    return key, json.dumps(head.to_json()).encode()


def latest_heads(
    records: Iterable[tuple[bytes | None, bytes | None]], wanted: Iterable[str]
) -> dict[str, ChainHead]:
    """The last head of each wanted chain among `records` (in topic order); a tombstone
    (no value) forgets the chain."""
    chosen = set(wanted)
    heads: dict[str, ChainHead] = {}
    for key, value in records:
        if key is None:
            continue
        chain = json.loads(key)
        if chain not in chosen:
            continue
        if value is None:
            heads.pop(chain, None)
        else:
            heads[chain] = ChainHead.from_json(json.loads(value))
    return heads


class KafkaChainHeads:
    """Reads and writes the heads topic; `load` uses a short-lived consumer of its own."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        client_options: Mapping[str, Any],
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.client_options = dict(client_options)

    async def load(self, chains: Iterable[str]) -> dict[str, ChainHead]:
        """The stored head of each chain that has one (read to the current end)."""
        wanted = sorted(set(chains))
        if not wanted:
            return {}
        partitions = sorted({split_chain_key(chain)[1] for chain in wanted})
        tps = [TopicPartition(self.topic, partition) for partition in partitions]
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **self.client_options)
        await consumer.start()
        try:
            fetched = await read_to_end(consumer, tps)
            records = [(m.key, m.value) for messages in fetched.values() for m in messages]
            heads = latest_heads(records, wanted)
            log.info(
                "%d record(s) of the heads topic %s read: %d of %d chain(s) have a head",
                len(records),
                self.topic,
                len(heads),
                len(wanted),
            )
            return heads
        finally:
            await consumer.stop()

    async def save(self, heads: Sequence[ChainHead]) -> None:
        """Write the heads; return once the broker acked every one, else raise."""
        acks = []
        for head in heads:
            key, value = head_record(head)
            acks.append(
                await self.producer.send(self.topic, value, key=key, partition=head.partition)
            )
        for ack in acks:
            await ack
