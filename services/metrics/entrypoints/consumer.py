"""The faust app: one agent reads every event topic in batches and hands them to ingestion.

faust's `take_events` turns per-event acks off and acknowledges a batch only when the
loop body has finished with it; the consumer commits acknowledged offsets only. So the
insert (and the dead-lettering) completes before any offset of the batch can be
committed: a crash in between means redelivery, which the deduplicated inserts absorb.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Sequence
from typing import Any

import faust

from services.metrics.config import MetricsSettings
from services.metrics.domain.rows import RecordPosition, Rejected
from services.metrics.service_layer.ingestion import Ingestor, Record, RowSink

EVENT_TOPICS: tuple[str, ...] = (
    "dossier.v1",
    "complaint.v1",
    "satisfaction.v1",
    "audit.v1",
    "objective.v1",
    "capa.v1",
    "ledger.checkpoints.v1",
)
DEADLETTER_TOPIC = "deadletter.v1"
log = logging.getLogger(__name__)


def deadletter_headers(rejected: Rejected, consumer: str) -> list[tuple[str, bytes]]:
    """Where the poison record came from and why it was refused."""
    p = rejected.position
    return [
        ("dlq-reason", rejected.reason.encode()[:4000]),
        ("dlq-original-topic", p.topic.encode()),
        ("dlq-original-partition", str(p.partition).encode()),
        ("dlq-original-offset", str(p.offset).encode()),
        ("dlq-consumer", consumer.encode()),
    ]


class FaustDeadLetters:
    """Sends rejected records to the dead-letter topic and waits for the broker's ack."""

    def __init__(self, topic: Any, consumer: str) -> None:
        self.topic = topic
        self.consumer = consumer

    async def send(self, rejected: Rejected) -> None:
        pending = await self.topic.send(
            key=rejected.key,
            value=rejected.value,
            headers=deadletter_headers(rejected, self.consumer),
        )
        await pending


def to_records(events: Sequence[Any]) -> list[Record]:
    """faust events to plain records (topic, partition, offset, key, value)."""
    records = []
    for event in events:
        message = event.message
        records.append(
            Record(
                RecordPosition(message.topic, message.partition, message.offset),
                event.key,
                event.value,
            )
        )
    return records


async def finish_even_if_cancelled(work: Awaitable[Any], grace_s: float = 30.0) -> None:
    """Run `work`; if the worker is stopped meanwhile, let it finish before stopping.

    `take_events` acknowledges the buffered batch when the loop is torn down, and the
    acknowledged offsets are committed on shutdown: an insert cut short there would be
    lost. So a stop waits for the insert; if it cannot finish in `grace_s` (ClickHouse
    down), the process exits at once, without committing, and the batch is redelivered.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        done, _ = await asyncio.wait({task}, timeout=grace_s)
        if not done:
            log.critical("batch not stored %.0fs after stop: exiting without commit", grace_s)
            os._exit(70)
        raise


def build_faust_app(settings: MetricsSettings, store: RowSink) -> tuple[Any, Ingestor]:
    """The metrics faust app (not started) and the ingestor its agent feeds."""
    datadir = settings.data_dir / "faust" / settings.consumer_group
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
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
    ingestor = Ingestor(store, FaustDeadLetters(deadletter, settings.consumer_group))

    async def ingest(stream: Any) -> None:
        """Insert each batch, then let faust acknowledge it (next loop iteration)."""
        async for events in stream.take_events(settings.batch_size, settings.flush_interval_s):
            await finish_even_if_cancelled(ingestor.ingest(to_records(events)))

    app.agent(topics, name="metrics-ingest", concurrency=1)(ingest)
    return app, ingestor
