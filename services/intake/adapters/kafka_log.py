"""The event log on Kafka: one idempotent producer (acks=all) shared by every request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from services.intake.adapters.kafka_partitioner import default_partitioner
from services.intake.config import IntakeSettings
from services.intake.service_layer.ports import OutgoingRecord, Position


def make_producer(settings: IntakeSettings) -> AIOKafkaProducer:
    """acks=all + idempotence: a 202 means every in-sync replica has the record, once."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="qms-intake",
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.producer_linger_ms,
        max_batch_size=settings.producer_max_batch_bytes,
        request_timeout_ms=settings.producer_request_timeout_ms,
        partitioner=default_partitioner,  # aiokafka's partitioning, in half the CPU
    )


class KafkaEventLog:
    """Appends a request's records as one producer batch per partition, awaited together."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def append(self, records: Sequence[OutgoingRecord]) -> list[Position | BaseException]:
        # `send` per record costs a future, a partitioner call and an accumulator lookup
        # each (about a third of intake's CPU per event). The records of a request are all
        # known at once, so they are partitioned here (Kafka's default key partitioning),
        # written into one closed batch per partition, and each batch is awaited once.
        # Offsets follow from the batch's base offset: record n of a batch is at base + n.
        results: list[Position | BaseException | None] = [None] * len(records)
        by_partition: dict[tuple[str, int], list[int]] = {}
        partitions: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            topic = record.topic
            try:
                known = partitions.get(topic)
                if known is None:
                    known = partitions[topic] = sorted(await self.producer.partitions_for(topic))
            except Exception as exc:  # no metadata for this topic: its records only
                results[index] = exc
                continue
            partition = default_partitioner(record.key, known, known)
            by_partition.setdefault((topic, partition), []).append(index)

        sent: list[tuple[asyncio.Future[Any], str, int, list[int]]] = []
        for (topic, partition), indexes in by_partition.items():
            for chunk in self._batches(records, indexes):
                batch, members = chunk
                try:
                    future = await self.producer.send_batch(batch, topic, partition=partition)
                except Exception as exc:  # refused before it left (closed, timeout)
                    for index in members:
                        results[index] = exc
                else:
                    sent.append((future, topic, partition, members))

        for future, topic, partition, members in sent:
            try:
                metadata = await future
            except Exception as exc:  # this batch only; cancellation still propagates
                for index in members:
                    results[index] = exc
            else:
                for n, index in enumerate(members):
                    results[index] = Position(topic, partition, metadata.offset + n)
        return [r if r is not None else RuntimeError("not appended") for r in results]

    def _batches(
        self, records: Sequence[OutgoingRecord], indexes: list[int]
    ) -> list[tuple[Any, list[int]]]:
        """Closed producer batches holding `indexes` in order, a new one whenever one is full."""
        batches: list[tuple[Any, list[int]]] = []
        batch, members = self.producer.create_batch(), []
        for index in indexes:
            record = records[index]
            fields = {
                "key": record.key,
                "value": record.value,
                "timestamp": record.timestamp_ms,
                "headers": record.headers,
            }
            if batch.append(**fields) is None:  # full: it goes as it is, the rest follows
                batches.append((batch, members))
                batch, members = self.producer.create_batch(), []
                batch.append(**fields)  # an empty batch takes any record
            members.append(index)
        batches.append((batch, members))
        for batch, _ in batches:
            batch.close()  # nothing else (a `send` elsewhere) may join it
        return batches


async def kafka_ready(
    producer: AIOKafkaProducer, topics: Sequence[str], timeout_s: float
) -> str | None:
    """None when the broker answers metadata and knows every topic, else the reason."""
    try:
        metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout_s)
    except Exception as exc:
        return f"Kafka metadata request failed: {type(exc).__name__}: {exc}"
    missing = [topic for topic in topics if not metadata.partitions_for_topic(topic)]
    if missing:
        return f"topics missing on the broker: {missing}"
    return None


async def partitions_of(producer: AIOKafkaProducer, topics: Sequence[str]) -> dict[str, set[int]]:
    """Partition numbers of each topic; fails clearly when a topic does not exist.

    Reads the metadata of all topics rather than asking for these by name: a request by
    name lets a broker with auto.create.topics.enable create them with default settings.
    """
    metadata = await producer.client.fetch_all_metadata()
    found = {topic: set(metadata.partitions_for_topic(topic) or ()) for topic in topics}
    missing = sorted(topic for topic, partitions in found.items() if not partitions)
    if missing:
        raise RuntimeError(
            f"topics {missing} do not exist; create the topics first: "
            "python -m services.common.topics create"
        )
    return found
