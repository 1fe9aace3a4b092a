"""The event log on Kafka: one idempotent producer (acks=all) shared by every request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

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
    )


class KafkaEventLog:
    """Appends records and waits for all their acknowledgements together."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def append(self, records: Sequence[OutgoingRecord]) -> list[Position | BaseException]:
        # Enqueue every record first, then wait once: awaiting each send in turn would
        # cost one broker round trip per event instead of one per batch.
        futures: list[asyncio.Future[Any]] = []
        for record in records:
            try:
                futures.append(
                    await self.producer.send(
                        record.topic,
                        value=record.value,
                        key=record.key,
                        headers=record.headers,
                        timestamp_ms=record.timestamp_ms,
                    )
                )
            except Exception as exc:  # refused before it left (metadata, size): this item only
                failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failed.set_exception(exc)
                futures.append(failed)
        # Awaited in order rather than gathered: records acknowledged together (one broker
        # batch) are already done when reached, so this suspends about once per batch,
        # where gather would schedule a callback per record.
        results: list[Position | BaseException] = []
        for future in futures:
            try:
                metadata = await future
            except Exception as exc:  # this record only; cancellation still propagates
                results.append(exc)
            else:
                results.append(Position(metadata.topic, metadata.partition, metadata.offset))
        return results


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
