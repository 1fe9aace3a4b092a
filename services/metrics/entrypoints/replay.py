"""`qms metrics replay`: rebuild every table from the beginning of the event topics.

Reads each partition from its first offset up to the end offset seen at start, without a
consumer group (the serving group's offsets stay untouched), through the same ingestion
as the live consumer. Inserts are idempotent, so a replay over existing tables
(`rebuild=False`) changes no count either. A rebuild drops the database, so it is refused
while the metrics consumer group has members or rows arrived recently (`force` overrides).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CoordinatorLoadInProgressError, GroupCoordinatorNotAvailableError

from services.common.deadletter import DEADLETTER_TOPIC, RecordPosition
from services.common.kafka_security import aiokafka_security, kafka_client_options
from services.common.topics import ensure_topics, load_topic_specs
from services.common.working_days import vietnam_calendar
from services.metrics.adapters.clickhouse import ClickHouseStore, store_for
from services.metrics.adapters.dead_letters import KafkaDeadLetters
from services.metrics.adapters.mapping_processes import MappingProcesses
from services.metrics.config import MetricsSettings
from services.metrics.domain.rows import MappedRows
from services.metrics.entrypoints.consumer import EVENT_TOPICS
from services.metrics.service_layer.ingestion import Ingestor, Record

# Rows ingested this recently mean a consumer is writing: a rebuild would lose its work.
RECENT_INSERT_S = 120


class ReplayRefused(RuntimeError):
    """A rebuild would drop a database other workers write to."""


@dataclass
class ReplayProgress:
    """How far a replay is, per topic: records read of those there were at start."""

    started: float
    read: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)

    def count(self, records: Sequence[Record]) -> None:
        for record in records:
            topic = record.position.topic
            self.read[topic] = self.read.get(topic, 0) + 1

    @property
    def records(self) -> int:
        return sum(self.read.values())

    def line(self, now: float) -> str:
        records = self.records
        rate = records / max(now - self.started, 1e-9)
        topics = ", ".join(
            f"{topic} {self.read.get(topic, 0):,}/{count:,}"
            for topic, count in sorted(self.total.items())
            if count
        )
        return f"replay: {records:,}/{sum(self.total.values()):,} records, {rate:,.0f}/s ({topics})"


@dataclass(frozen=True)
class ReplayResult:
    records: int
    rejected: int
    seconds: float


async def active_writers(settings: MetricsSettings, store: ClickHouseStore) -> list[str]:
    """Why the store's database is in use right now (empty: nobody writes to it)."""
    reasons: list[str] = []
    admin = AIOKafkaAdminClient(**kafka_client_options(settings), client_id="qms-replay")
    await admin.start()
    try:
        for response in await _describe_group(admin, settings.consumer_group):
            for group in response.to_object()["groups"]:
                members = len(group.get("members") or [])
                if members:
                    reasons.append(
                        f"consumer group {settings.consumer_group} has {members} active member(s)"
                    )
    finally:
        await admin.close()
    tables = await asyncio.to_thread(
        store.query, "SELECT name FROM system.tables WHERE database = currentDatabase()"
    )
    if ("events",) in tables:
        ((recent,),) = await asyncio.to_thread(
            store.query,
            "SELECT count() FROM events WHERE ingested_at > now64(3) - {s:UInt32}",
            {"s": RECENT_INSERT_S},
        )
        if int(recent):
            reasons.append(f"{int(recent):,} rows were inserted in the last {RECENT_INSERT_S} s")
    return reasons


async def _describe_group(admin: AIOKafkaAdminClient, group: str) -> list[Any]:
    # A broker that has never served a group creates its offsets topic first: retry that
    # (jittered backoff); a coordinator that stays away is an answer we cannot do without.
    for attempt in range(8):
        try:
            return list(await admin.describe_consumer_groups([group]))
        except (GroupCoordinatorNotAvailableError, CoordinatorLoadInProgressError):
            await asyncio.sleep(random.uniform(0.5, 1.0) * min(2**attempt, 8) / 4)
    raise ReplayRefused(f"cannot tell whether consumer group {group} is active (no coordinator)")


async def replay_all(
    settings: MetricsSettings,
    *,
    rebuild: bool = True,
    store: ClickHouseStore | None = None,
    force: bool = False,
    progress: Callable[[ReplayProgress], None] | None = None,
    mapping: MappingProcesses | None = None,
) -> ReplayResult:
    """Drop (when `rebuild`) and refill every table from the topics; returns what it read.

    `progress` is called about once a second while records are read. A rebuild while
    others write to the database raises ReplayRefused unless `force`. Batches are mapped
    by `mapping`'s helper processes (started here when None, closed at the end)."""
    if mapping is not None:
        return await _replay(settings, mapping, rebuild, store, force, progress)
    # The helpers start now, so that they are up (about a second) by the first batch.
    with MappingProcesses(settings.replay_mapping_processes) as started:
        return await _replay(settings, started, rebuild, store, force, progress)


async def _replay(
    settings: MetricsSettings,
    mapping: MappingProcesses,
    rebuild: bool,
    store: ClickHouseStore | None,
    force: bool,
    progress: Callable[[ReplayProgress], None] | None,
) -> ReplayResult:
    own_store = store is None
    store = store or store_for(settings)
    if rebuild:
        await asyncio.to_thread(store.open)
        if not force and (reasons := await active_writers(settings, store)):
            raise ReplayRefused(
                f"not dropping ClickHouse {settings.clickhouse_database}: {'; '.join(reasons)} "
                "(stop `qms metrics serve` first, or pass --force)"
            )
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
        # Read the working-day calendar now: a broken file stops the worker here instead of
        # dead-lettering every record it maps.
        vietnam_calendar()
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
        shown = ReplayProgress(started, total=_per_topic(ends))
        total = await _read_and_store(
            consumer, ingestor, mapping, ends, settings.batch_size, shown, progress
        )
        # A replay writes every month at once; until merged, reads with FINAL must merge
        # every partition of the dossier marks. Merge them now rather than at first read.
        # On a cluster the marks live in the shards' local tables (OPTIMIZE skips Distributed).
        optimize = (
            f"OPTIMIZE TABLE dossier_marks_local {store.cluster.on_cluster} FINAL"
            if store.cluster
            else "OPTIMIZE TABLE dossier_marks FINAL"
        )
        await asyncio.to_thread(store.command, optimize)
        return ReplayResult(total, ingestor.rejected, time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()
        if own_store:
            store.close()


async def _read_and_store(
    consumer: AIOKafkaConsumer,
    ingestor: Ingestor,
    mapping: MappingProcesses,
    ends: Mapping[TopicPartition, int],
    batch_size: int,
    shown: ReplayProgress,
    progress: Callable[[ReplayProgress], None] | None,
) -> int:
    """Read every partition up to its end offset and store what it holds; returns the
    number of records read.

    While batch n is stored, the next batches are mapped, one per helper process once they
    are up, so a replay uses every core; batches are stored one at a time, in the order read."""
    pending = {tp for tp, end in ends.items() if end > 0}
    last_report = shown.started
    in_flight: deque[tuple[list[Record], asyncio.Task[MappedRows]]] = deque()
    try:
        while pending or in_flight:
            # Read ahead until every helper has a batch to map beside the one being stored.
            while pending and len(in_flight) <= mapping.processes:
                records = await _read(consumer, pending, ends, batch_size)
                if records:
                    in_flight.append((records, asyncio.create_task(mapping.map(records))))
            if in_flight:
                batch, mapped = in_flight.popleft()
                await ingestor.ingest_mapped(batch, await mapped)
                shown.count(batch)
            now = time.perf_counter()
            if progress is not None and (now - last_report >= 1.0 or not in_flight):
                progress(shown)
                last_report = now
    finally:
        for _, unfinished in in_flight:
            unfinished.cancel()
    return shown.records


async def _read(
    consumer: AIOKafkaConsumer,
    pending: set[TopicPartition],
    ends: Mapping[TopicPartition, int],
    batch_size: int,
) -> list[Record]:
    """The next records before the end offsets; a partition read to its end leaves `pending`."""
    fetched = await consumer.getmany(*pending, timeout_ms=1000, max_records=batch_size)
    records: list[Record] = []
    for tp, messages in fetched.items():
        records.extend(
            Record(RecordPosition(m.topic, m.partition, m.offset), m.key, m.value)
            for m in messages
            if m.offset < ends[tp]
        )
        if await consumer.position(tp) >= ends[tp]:
            pending.discard(tp)
    return records


def _per_topic(ends: Mapping[TopicPartition, int]) -> dict[str, int]:
    # Records there are to read, per topic (offsets from 0: a compacted or expired start
    # only makes the count an upper bound).
    totals: dict[str, int] = {}
    for tp, end in ends.items():
        totals[tp.topic] = totals.get(tp.topic, 0) + end
    return totals


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    # Metadata for a topic not yet known to this client: ask the cluster once.
    await consumer._client.force_metadata_update()
    return set(consumer._client.cluster.partitions_for_topic(topic) or ())
