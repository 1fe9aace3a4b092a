"""`qms metrics replay`: rebuild every table from the beginning of the event topics.

Reads each partition from its first offset up to the end offset seen at start, without a
consumer group (the serving group's offsets stay untouched), through the same ingestion
as the live consumer. Inserts are idempotent, so a replay over existing tables
(`rebuild=False`) changes no count either.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.common.deadletter import DEADLETTER_TOPIC, DeadLetter, RecordPosition
from services.common.kafka_errors import message_too_large
from services.common.kafka_security import aiokafka_security, kafka_client_options
from services.common.topics import ensure_topics, load_topic_specs
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.config import MetricsSettings
from services.metrics.domain.rows import Rejected
from services.metrics.entrypoints.consumer import EVENT_TOPICS, dead_letter
from services.metrics.service_layer.ingestion import Ingestor, Record


@dataclass(frozen=True)
class ReplayResult:
    records: int
    rejected: int
    seconds: float


class KafkaDeadLetters:
    """Dead-letter sink on a plain aiokafka producer (waits for the broker's ack)."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, consumer: str) -> None:
        self.producer = producer
        self.topic = topic
        self.consumer = consumer

    async def send(self, rejected: Rejected) -> None:
        letter = dead_letter(rejected, self.consumer)
        try:
            await self._send(letter)
        except Exception as exc:
            if not message_too_large(exc):
                raise  # transient: the caller retries
            # never retried as it is: it would never pass
            await self._send(letter.without_value())

    async def _send(self, letter: DeadLetter) -> None:
        await self.producer.send_and_wait(
            self.topic, key=letter.key, value=letter.value, headers=letter.headers()
        )


async def replay_all(
    settings: MetricsSettings, *, rebuild: bool = True, store: ClickHouseStore | None = None
) -> ReplayResult:
    """Drop (when `rebuild`) and refill every table from the topics; returns what it read."""
    own_store = store is None
    store = store or ClickHouseStore(settings.clickhouse_dsn, settings.clickhouse_database)
    if rebuild:
        await asyncio.to_thread(store.open)
        await asyncio.to_thread(store.reset)
    await asyncio.to_thread(store.open)
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        load_topic_specs(settings.topic_prefix),
        security=aiokafka_security(settings),
    )
    started = time.perf_counter()
    consumer = AIOKafkaConsumer(
        **kafka_client_options(settings),
        enable_auto_commit=False,
        group_id=None,
        max_poll_records=settings.batch_size,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(**kafka_client_options(settings), acks="all")
    await consumer.start()
    await producer.start()
    try:
        ingestor = Ingestor(
            store,
            KafkaDeadLetters(
                producer, settings.topic(DEADLETTER_TOPIC), f"{settings.consumer_group}-replay"
            ),
            retry_forever=False,
        )
        partitions = [
            TopicPartition(topic, p)
            for topic in (settings.topic(name) for name in EVENT_TOPICS)
            for p in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items()}
        pending = {tp for tp, end in ends.items() if end > 0}
        total = 0
        while pending:
            fetched = await consumer.getmany(
                *pending, timeout_ms=1000, max_records=settings.batch_size
            )
            records: list[Record] = []
            for tp, messages in fetched.items():
                for m in messages:
                    if m.offset < ends[tp]:
                        records.append(
                            Record(RecordPosition(m.topic, m.partition, m.offset), m.key, m.value)
                        )
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if records:
                await ingestor.ingest(records)
                total += len(records)
        # A replay writes every month at once; until merged, reads with FINAL must merge
        # every partition of the dossier marks. Merge them now rather than at first read.
        await asyncio.to_thread(store.command, "OPTIMIZE TABLE dossier_marks FINAL")
        return ReplayResult(total, ingestor.rejected, time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()
        if own_store:
            store.close()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    # Metadata for a topic not yet known to this client: ask the cluster once.
    await consumer._client.force_metadata_update()
    return set(consumer._client.cluster.partitions_for_topic(topic) or ())
