"""The metrics worker: a plain aiokafka group consumer that feeds every event topic to ingestion.

One `AIOKafkaConsumer` in the group `QMS_METRICS_CONSUMER_GROUP` (auto-commit off) reads
every event topic. A batch is taken with `getmany` until it holds `QMS_METRICS_BATCH_SIZE`
records or `QMS_METRICS_FLUSH_INTERVAL_S` has passed since its first record came; `ingest`
stores or dead-letters every record of it; only then are the batch's offsets committed, per
partition its last offset + 1. So nothing is committed past a record that is neither in
ClickHouse nor on the dead-letter topic.

Whatever was inserted but not committed comes again, and counts once:
- a crash or a stop between the insert and the commit: the batch is abandoned uncommitted
  and the partitions are read again from their committed offsets;
- a rebalance while a batch is ingested: a partition leaves this worker only once the
  batch under way is stored (the rebalance listener waits for it: the loop and the
  listener take turns), then the commit of the partitions it lost is skipped (the broker
  refuses it, or they are no longer assigned: logged, then the loop goes on), and their new
  owner, this worker included, reads them from the committed offset. Two workers never
  insert a partition's records at once: the summed dossier counts (migration 0019) look up
  what is stored before they count a mark, which holds only for inserts one after another.
The inserts absorb the repeat. A batch cut the same way carries the same insert
deduplication token (domain/tokens.py: each partition's first and last offset), which
ClickHouse drops (the deduplication window, extended to the materialized views); one cut
differently lands, but every table is a ReplacingMergeTree keyed by the event's
(source, id) and every view counts through FINAL, uniqExact or argMax, or a mark counted
when first stored, so it counts once. A batch holds one unbroken run of reads per
partition: a partition read again from its committed offset after a rebalance starts the
next batch, so a token names exactly the records of its batch.

Beside the loop, the timers every worker of the group runs: the consumer lag, the
effectiveness check and the measured-nonconformity check (their command ids agree, the
CAPA service absorbs the repeats). Dead letters and CAPA commands go through idempotent
producers (acks=all) and count only once the broker has them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from schemas.topics import FAMILY_TOPICS, LEDGER_CHECKPOINTS_TOPIC
from services.common.backoff import Backoff
from services.common.consumer_batches import (
    Taken,
    batch_consumer,
    fetch_batch,
    offsets_to_commit,
)
from services.common.consumer_lag import ConsumerLagMonitor, lag_refresh
from services.common.deadletter import DEADLETTER_TOPIC, RecordPosition
from services.common.kafka_security import aiokafka_security, kafka_client_options
from services.common.periodic import Periodic
from services.common.service_metrics import BATCH_RECORDS, BATCH_SECONDS
from services.common.tracing import NO_TRACING, Tracing
from services.common.working_days import vietnam_calendar
from services.metrics.adapters.capa_commands import KafkaCapaCommands
from services.metrics.adapters.dead_letters import KafkaDeadLetters
from services.metrics.config import MetricsSettings
from services.metrics.entrypoints.effectiveness_check import effectiveness_timer
from services.metrics.entrypoints.nonconformity_timer import nonconformity_timer
from services.metrics.service_layer.effectiveness import EffectivenessReader
from services.metrics.service_layer.ingestion import Ingestor, Record, RowSink
from services.metrics.service_layer.nonconformity_check import RowReader

# Every event family's topic and the ledger's checkpoints (short names).
EVENT_TOPICS: tuple[str, ...] = (*FAMILY_TOPICS.values(), LEDGER_CHECKPOINTS_TOPIC)
# Per partition per fetch: a batch of 10,000 events (~1 KiB each) needs a few fetches only.
MAX_PARTITION_FETCH_BYTES = 4 * 1024 * 1024
log = logging.getLogger(__name__)


def to_records(
    taken: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]],
) -> list[Record]:
    """aiokafka's records to plain records (topic, partition, offset, key, value)."""
    return [
        Record(RecordPosition(m.topic, m.partition, m.offset), m.key, m.value or b"")
        for messages in taken.values()
        for m in messages
    ]


async def ingest_until_done(
    ingestor: Ingestor, records: Sequence[Record], backoff: Backoff | None = None
) -> None:
    """Ingest one batch, however long it takes; never give up on it.

    `ingest` handles every failure it knows (poison records, a refusing or absent store, a
    failed dead-letter produce). Anything else is a bug: the batch is retried, so the
    partition waits with its records uncommitted instead of losing them.
    """
    backoff = backoff or Backoff(initial_s=1.0, max_s=60.0)
    while True:
        try:
            await ingestor.ingest(records)
            return
        except Exception:
            delay = backoff.next_delay()
            first = records[0].position
            log.exception(
                "batch of %d records from %s[%d]@%d failed; retrying in %.0fs",
                len(records),
                first.topic,
                first.partition,
                first.offset,
                delay,
            )
            await asyncio.sleep(delay)


class MetricsWorker:
    """The metrics group's member: the consumer loop, its producers and its timers.

    Built inside the event loop that runs it (aiokafka's clients belong to one loop); nothing
    connects before `running()`. With `effectiveness`, it also runs the periodic
    effectiveness check, and with `nonconformities` (the store to read) the
    measured-nonconformity check.
    """

    def __init__(
        self,
        settings: MetricsSettings,
        store: RowSink,
        tracing: Tracing = NO_TRACING,
        effectiveness: EffectivenessReader | None = None,
        *,
        nonconformities: RowReader | None = None,
    ) -> None:
        self.settings = settings
        self.tracing = tracing
        self.group = settings.consumer_group
        self.topics = [settings.topic(name) for name in EVENT_TOPICS]
        # Read the working-day calendar now: a broken file stops the worker here instead of
        # dead-lettering every record it maps.
        vietnam_calendar()
        # The loop stores a batch and the rebalance listener gives partitions up in turns.
        # Only the store takes the turn, never the fetch: while the group rebalances,
        # aiokafka's `getmany` waits for the new assignment, which waits for the listener.
        self.turn = asyncio.Lock()
        self.revocations = 0  # partitions given up so far (by the listener, in its turn)
        self.consumer = batch_consumer(
            settings,
            group=self.group,
            client_id=f"{self.group}-ingest",
            session_timeout_s=settings.session_timeout_s,
            max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
        )
        self.dead_letter_producer = AIOKafkaProducer(
            **kafka_client_options(settings), acks="all", enable_idempotence=True
        )
        self.capa_commands = KafkaCapaCommands(settings)
        self.ingestor = Ingestor(
            store,
            KafkaDeadLetters(
                self.dead_letter_producer, settings.topic(DEADLETTER_TOPIC), self.group
            ),
        )
        self.lag = ConsumerLagMonitor(
            settings.kafka_bootstrap_servers,
            self.group,
            self.topics,
            client_options=aiokafka_security(settings),
        )
        timers: list[Periodic | None] = [lag_refresh(self.lag, settings.lag_refresh_s)]
        if effectiveness is not None:
            timers.append(effectiveness_timer(settings, effectiveness, self.capa_commands.send))
        if nonconformities is not None:
            timers.append(nonconformity_timer(settings, nonconformities, self.capa_commands.send))
        self.timers: list[Periodic] = [t for t in timers if t is not None]

    def assignment(self) -> set[TopicPartition]:
        """The partitions the group gives this worker now."""
        return set(self.consumer.assignment())

    @asynccontextmanager
    async def running(self) -> AsyncIterator[MetricsWorker]:
        """Consume and run the timers until the block ends; then abandon the batch under way
        (uncommitted: it comes again), leave the group and flush the producers."""
        async with AsyncExitStack() as stack:
            await self.dead_letter_producer.start()
            stack.push_async_callback(self.dead_letter_producer.stop)
            await stack.enter_async_context(self.capa_commands)
            self.consumer.subscribe(self.topics, listener=_FinishTheBatch(self))
            await self.consumer.start()
            stack.push_async_callback(self.consumer.stop)
            tasks = [asyncio.create_task(self.consume(), name=f"{self.group}-ingest")]
            tasks += [asyncio.create_task(t.run(), name=t.name) for t in self.timers]
            for task in tasks:
                task.add_done_callback(_report_death)
            stack.push_async_callback(_cancel, tasks)
            yield self

    async def consume(self) -> None:
        """Take a batch, store or dead-letter it, commit its offsets; until cancelled."""
        backoff = Backoff(initial_s=1.0, max_s=30.0)
        while True:
            revocations = self.revocations
            taken, delay = await fetch_batch(
                self.consumer,
                self.settings.batch_size,
                self.settings.flush_interval_s,
                backoff,
                log,
            )
            async with self.turn:
                if taken and self.revocations != revocations:
                    # Partitions were given up while this batch was fetched: their new
                    # owner may be storing the same records now. Read it again instead.
                    log.info("the group rebalanced during the fetch: reading the batch again")
                    self.read_again(taken)
                    taken = {}
                if taken:
                    try:
                        await self.ingest(taken)
                    except Exception:  # a bug outside ingestion's own guard (tracing, metrics)
                        log.exception(
                            "batch of %d partition(s) failed; reading it again", len(taken)
                        )
                        self.read_again(taken)
                        delay, taken = backoff.next_delay(), {}
            if delay:
                await asyncio.sleep(delay)
            elif taken:
                await self.commit(taken)

    async def give_up_partitions(self) -> None:
        """Return once the batch being stored (if any) is stored or dead-lettered; a batch
        still being fetched is then read again, not stored (`consume`)."""
        async with self.turn:
            self.revocations += 1

    def read_again(self, taken: Taken) -> None:
        """Seek the batch's partitions still assigned back to its first records, so that
        no later commit passes them."""
        assigned = self.consumer.assignment()
        for tp, records in taken.items():
            if tp in assigned:
                with suppress(IllegalStateError):  # given up meanwhile: its next owner reads it
                    self.consumer.seek(tp, records[0].offset)

    async def ingest(self, taken: Taken) -> None:
        records = to_records(taken)
        with (
            self.tracing.batch("metrics ingest", (r.value for r in records)),
            BATCH_SECONDS.labels(self.group).time(),
        ):
            await ingest_until_done(self.ingestor, records)
        BATCH_RECORDS.labels(self.group).observe(len(records))

    async def commit(self, taken: Taken) -> None:
        """Commit the batch's offsets of the partitions still assigned. A refused commit
        loses nothing: those records are read again and the inserts absorb them."""
        offsets = offsets_to_commit(taken, self.consumer.assignment())
        if len(offsets) < len(taken):
            log.info(
                "%d partition(s) of the batch moved to another member: not committed here",
                len(taken) - len(offsets),
            )
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            log.warning(
                "commit of %d partition(s) refused (%s: %s): they are read again",
                len(offsets),
                type(exc).__name__,
                exc,
            )


class _FinishTheBatch(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka awaits this before the group moves on: a partition leaves this worker once
    the batch under way is stored, so its next owner never inserts beside it."""

    def __init__(self, worker: MetricsWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.give_up_partitions()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass  # each given partition is read from the group's committed offset


async def _cancel(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _report_death(task: asyncio.Task[None]) -> None:
    # The loop and the timers catch what they know; one that dies of anything else stops
    # ingesting while the API still answers, so say so loudly.
    if not task.cancelled() and task.exception() is not None:
        log.critical("metrics task %s died", task.get_name(), exc_info=task.exception())
