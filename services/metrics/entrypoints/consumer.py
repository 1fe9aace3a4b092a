"""The faust app: one agent reads every event topic in batches and hands them to ingestion.

The agent takes batches with `noack_take` (faust acknowledges nothing by itself) and acks
a batch's events only once `ingest` has stored or dead-lettered every one of them; the
consumer commits acknowledged offsets only. So nothing is committed past a record that is
neither in ClickHouse nor on the dead-letter topic: a crash or a stop in between means
redelivery, which the deduplicated inserts absorb. A stop while a batch waits for
ClickHouse or Kafka simply leaves the batch unacknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, cast

import faust
from faust.types import EventT

from schemas.topics import FAMILY_TOPICS, LEDGER_CHECKPOINTS_TOPIC
from services.common.backoff import Backoff
from services.common.consumer_lag import ConsumerLagMonitor, install_lag_monitor
from services.common.deadletter import DEADLETTER_TOPIC, DeadLetter, RecordPosition
from services.common.faust_rebalance import reread_from_committed_after_rebalance
from services.common.kafka_errors import send_dead_letter
from services.common.kafka_security import aiokafka_security, faust_credentials
from services.common.service_metrics import BATCH_RECORDS, BATCH_SECONDS, count_dead_letter
from services.common.tracing import NO_TRACING, Tracing
from services.common.working_days import vietnam_calendar
from services.metrics.config import MetricsSettings
from services.metrics.domain.rows import Rejected
from services.metrics.entrypoints.capa_command_topic import capa_command_sender
from services.metrics.entrypoints.nonconformity_timer import install_nonconformity_check
from services.metrics.service_layer.effectiveness import (
    EffectivenessPolicy,
    EffectivenessReader,
    check_effectiveness,
)
from services.metrics.service_layer.ingestion import Ingestor, Record, RowSink
from services.metrics.service_layer.nonconformity_check import RowReader

# Every event family's topic and the ledger's checkpoints (short names).
EVENT_TOPICS: tuple[str, ...] = (*FAMILY_TOPICS.values(), LEDGER_CHECKPOINTS_TOPIC)
log = logging.getLogger(__name__)


def dead_letter(rejected: Rejected, consumer: str) -> DeadLetter:
    """The dead-letter record of a refused record (the one header contract)."""
    return DeadLetter(
        position=rejected.position,
        reason=rejected.reason,
        consumer=consumer,
        key=rejected.key,
        value=rejected.value,
        error=rejected.error,
    )


class FaustDeadLetters:
    """Sends rejected records to the dead-letter topic and waits for the broker's ack."""

    def __init__(self, topic: Any, consumer: str) -> None:
        self.topic = topic
        self.consumer = consumer

    async def send(self, rejected: Rejected) -> None:
        await send_dead_letter(dead_letter(rejected, self.consumer), self._send)

    async def _send(self, letter: DeadLetter) -> None:
        pending = await self.topic.send(
            key=letter.key, value=letter.value, headers=letter.headers()
        )
        await pending
        count_dead_letter(letter)


def to_records(events: Sequence[EventT[Any]]) -> list[Record]:
    """faust events to plain records (topic, partition, offset, key, value)."""
    records = []
    for event in events:
        message = event.message
        records.append(
            Record(
                RecordPosition(message.topic, message.partition, message.offset),
                message.key,
                message.value or b"",
            )
        )
    return records


async def ingest_until_done(
    ingestor: Ingestor, records: Sequence[Record], backoff: Backoff | None = None
) -> None:
    """Ingest one batch, however long it takes; never give up on it.

    `ingest` handles every failure it knows (poison records, a refusing or absent store, a
    failed dead-letter produce). Anything else is a bug: the batch is retried, so the
    partition waits with its records unacknowledged instead of losing them.
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


def build_faust_app(
    settings: MetricsSettings,
    store: RowSink,
    tracing: Tracing = NO_TRACING,
    effectiveness: EffectivenessReader | None = None,
    *,
    nonconformities: RowReader | None = None,
) -> tuple[Any, Ingestor]:
    """The metrics faust app (not started) and the ingestor its agent feeds; with
    `effectiveness`, also the periodic effectiveness check, and with `nonconformities` (the
    store to read) the measured-nonconformity check."""
    datadir = settings.data_dir / "faust" / settings.consumer_group
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=faust_credentials(settings),
        topic_replication_factor=settings.topic_replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        # Topics come from deploy/kafka/topics.yaml (ensure_topics), never from faust.
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
    )
    topics = app.topic(
        *(settings.topic(name) for name in EVENT_TOPICS),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    deadletter = app.topic(
        settings.topic(DEADLETTER_TOPIC),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    consumer = settings.consumer_group
    # Read the working-day calendar now: a broken file stops the worker here instead of
    # dead-lettering every record it maps.
    vietnam_calendar()
    ingestor = Ingestor(store, FaustDeadLetters(deadletter, consumer))

    async def ingest(stream: faust.StreamT[Any]) -> None:
        """Store or dead-letter each batch, then acknowledge its events."""
        manual = cast("faust.Stream[Any]", stream)
        async for taken in manual.noack_take(settings.batch_size, settings.flush_interval_s):
            events = cast("list[EventT[Any]]", taken)  # noack_take yields the events
            with (
                tracing.batch("metrics ingest", (e.message.value for e in events)),
                BATCH_SECONDS.labels(consumer).time(),
            ):
                await ingest_until_done(ingestor, to_records(events))
            BATCH_RECORDS.labels(consumer).observe(len(events))
            for event in events:
                await manual.ack(event)  # only now may faust commit their offsets

    app.agent(topics, name="metrics-ingest", concurrency=1)(ingest)
    # faust 0.15.3 drops records fetched before a rebalance, and on a partition that never
    # committed nothing brings them back: seek to the committed offsets as it completes.
    # Safe here: ingestion is idempotent, what comes again is stored once.
    reread_from_committed_after_rebalance(app, [settings.topic(name) for name in EVENT_TOPICS])
    lag = ConsumerLagMonitor(
        settings.kafka_bootstrap_servers,
        consumer,
        [settings.topic(n) for n in EVENT_TOPICS],
        client_options=aiokafka_security(settings),
    )
    install_lag_monitor(app, lag, settings.lag_refresh_s)
    if effectiveness is not None and settings.effectiveness_check_interval_s > 0:
        install_effectiveness_check(app, settings, effectiveness)
    if nonconformities is not None:
        install_nonconformity_check(app, settings, nonconformities)
    return app, ingestor


def install_effectiveness_check(
    app: Any, settings: MetricsSettings, reader: EffectivenessReader
) -> None:
    """Every interval, measure the CAPAs whose window ended (services/metrics/service_layer/
    effectiveness.py). Every worker of the group runs it: the commands' ids agree."""
    send = capa_command_sender(app, settings)
    policy = EffectivenessPolicy.from_settings(settings)
    clock = settings.clock

    async def effectiveness_check() -> None:
        try:
            await check_effectiveness(reader, send, policy, clock.now())
        except Exception:  # ClickHouse or Kafka away: the next tick sends again
            log.exception("effectiveness check failed; retried at the next interval")

    app.timer(interval=settings.effectiveness_check_interval_s, name="effectiveness-check")(
        effectiveness_check
    )
