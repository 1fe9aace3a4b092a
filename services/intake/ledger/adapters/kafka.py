"""Read event, ledger and checkpoint topics back from Kafka, from the start to the current end.

The reader assigns partitions itself (no consumer group, nothing committed), so verifying
never disturbs the ledger worker or any other consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.intake.ledger.domain.chain import EventRecord, LedgerEntry
from services.intake.ledger.domain.note import SignedCheckpoint, parse_note

log = logging.getLogger(__name__)

_FETCH_TIMEOUT_MS = 1000
_RANGE_READ_DEADLINE_S = 60.0  # a broker that serves nothing this long stops the worker
_ONE_RECORD_FETCH_BYTES = 64 * 1024


@dataclass(frozen=True)
class Unreadable:
    """A ledger or checkpoint record that does not parse: reported, never skipped silently."""

    topic: str
    partition: int
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition} offset {self.offset}: {self.reason}"


async def read_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    security: Mapping[str, Any] | None = None,
) -> dict[tuple[str, int], list[EventRecord]]:
    """Every record of every partition of `topics`, in offset order, up to the current end."""
    topics = list(topics)
    if not topics:
        return {}
    consumer = _consumer(bootstrap, security)
    await consumer.start()
    try:
        partitions: list[TopicPartition] = []
        for topic in topics:
            numbers = await _partitions(consumer, topic)
            partitions.extend(TopicPartition(topic, p) for p in sorted(numbers))
        fetched = await read_to_end(consumer, partitions)
        return {
            (tp.topic, tp.partition): [
                EventRecord(tp.topic, tp.partition, message.offset, message.value or b"")
                for message in messages
            ]
            for tp, messages in fetched.items()
        }
    finally:
        await consumer.stop()


async def read_to_end(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    """Assign `partitions` to the started `consumer` and read each from its first record to
    the end offset it has now (a partition whose records retention deleted reads empty)."""
    found: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {tp: [] for tp in partitions}
    consumer.assign(list(partitions))
    await consumer.seek_to_beginning(*partitions)
    end = await consumer.end_offsets(list(partitions))
    pending = {tp for tp in partitions if end[tp] > 0}
    for tp in list(pending):
        if await consumer.position(tp) >= end[tp]:
            pending.discard(tp)  # everything before the end was deleted by retention
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=_FETCH_TIMEOUT_MS)
        for tp, messages in batch.items():
            found[tp].extend(message for message in messages if message.offset < end[tp])
            if await consumer.position(tp) >= end[tp]:
                pending.discard(tp)
    return found


async def fetch_values(
    bootstrap: str,
    wanted: Mapping[tuple[str, int], Iterable[int]],
    *,
    security: Mapping[str, Any] | None = None,
) -> dict[tuple[str, int, int], bytes]:
    """The values of the records at the given (topic, partition) → offsets."""
    if not wanted:
        return {}  # (stopping an aiokafka consumer that was never assigned raises CancelledError)
    # Small fetches: each seek fetches from its offset, and only that one record is wanted
    # (the broker still returns a whole record batch when it is larger).
    consumer = _consumer(bootstrap, security, max_partition_fetch_bytes=_ONE_RECORD_FETCH_BYTES)
    await consumer.start()
    found: dict[tuple[str, int, int], bytes] = {}
    try:
        partitions = [TopicPartition(topic, partition) for topic, partition in wanted]
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        for tp in partitions:
            for offset in sorted(set(wanted[(tp.topic, tp.partition)])):
                if offset >= end[tp]:
                    continue
                consumer.seek(tp, offset)
                while await consumer.position(tp) <= offset < end[tp]:
                    batch = await consumer.getmany(tp, timeout_ms=_FETCH_TIMEOUT_MS, max_records=1)
                    for message in batch.get(tp, []):
                        if message.offset == offset:
                            found[(tp.topic, tp.partition, offset)] = message.value or b""
        return found
    finally:
        await consumer.stop()


async def read_ranges(
    bootstrap: str,
    wanted: Mapping[tuple[str, int], Sequence[tuple[int, int]]],
    *,
    security: Mapping[str, Any] | None = None,
) -> dict[tuple[str, int], list[EventRecord]]:
    """The records at `start <= offset < stop` for each range of each (topic, partition), in
    offset order. An offset that holds no record (a transaction marker, say) yields nothing;
    one before the start of the log (deleted by retention) too."""
    found: dict[tuple[str, int], list[EventRecord]] = {key: [] for key in wanted}
    if not any(wanted.values()):
        return found
    consumer = _consumer(bootstrap, security)
    await consumer.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _RANGE_READ_DEADLINE_S
    try:
        partitions = [TopicPartition(topic, partition) for topic, partition in wanted]
        consumer.assign(partitions)
        for tp in partitions:
            records = found[(tp.topic, tp.partition)]
            for start, stop in wanted[(tp.topic, tp.partition)]:
                consumer.seek(tp, start)
                while await consumer.position(tp) < stop:
                    if loop.time() > deadline:
                        raise TimeoutError(
                            f"could not read {tp.topic}/{tp.partition} offsets {start}..{stop - 1}"
                        )
                    batch = await consumer.getmany(tp, timeout_ms=_FETCH_TIMEOUT_MS)
                    records.extend(
                        EventRecord(tp.topic, tp.partition, message.offset, message.value or b"")
                        for message in batch.get(tp, [])
                        if start <= message.offset < stop
                    )
        return found
    finally:
        await consumer.stop()


async def read_ledger(
    bootstrap: str,
    ledger_topic: str,
    *,
    security: Mapping[str, Any] | None = None,
) -> tuple[list[LedgerEntry], list[Unreadable]]:
    """Every ledger entry in ledger-topic order (a chain lives in one partition, so in order)."""
    entries: list[LedgerEntry] = []
    unreadable: list[Unreadable] = []
    for (topic, partition), records in (
        await read_topics(bootstrap, [ledger_topic], security=security)
    ).items():
        for record in records:
            try:
                entries.append(LedgerEntry.from_json(json.loads(record.value)))
            except ValueError as exc:
                unreadable.append(Unreadable(topic, partition, record.offset, str(exc)))
    return entries, unreadable


async def read_checkpoints(
    bootstrap: str,
    checkpoint_topic: str,
    *,
    security: Mapping[str, Any] | None = None,
) -> tuple[list[SignedCheckpoint], list[Unreadable]]:
    notes: list[SignedCheckpoint] = []
    unreadable: list[Unreadable] = []
    for (topic, partition), records in (
        await read_topics(bootstrap, [checkpoint_topic], security=security)
    ).items():
        for record in records:
            try:
                notes.append(parse_note(record.value.decode("utf-8")))
            except (ValueError, UnicodeDecodeError) as exc:
                unreadable.append(Unreadable(topic, partition, record.offset, str(exc)))
    return notes, unreadable


def _consumer(
    bootstrap: str, security: Mapping[str, Any] | None, **options: int
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **(security or {}),
        **options,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Read committed: a record of an aborted transaction was never accepted.
        isolation_level="read_committed",
    )


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    numbers = consumer.partitions_for_topic(topic)
    if numbers is None:
        # Metadata is fetched lazily: ask for it once, then it is known or the topic is absent.
        await consumer._client.force_metadata_update()
        numbers = consumer.partitions_for_topic(topic)
    if numbers is None:
        raise LookupError(f"topic {topic} does not exist")
    return set(numbers)
