"""The ledger agent: a faust worker that chains every accepted event, partition by partition.

One chain per event-topic partition; faust hands each partition to exactly one worker, and
the agent sees its records in offset order. The chain head of every partition lives in a
faust table (RocksDB, changelog-backed), so a restarted or rebalanced worker resumes where
the chain stands. The agent takes records in batches (up to N, or what came within T ms)
and, per batch:

1. per partition, records at or below the head's last offset are redeliveries: skipped;
   the others get their entries, computed in offset order from the stored head (pure);
2. all the batch's entries are produced to `ledger.v1` (key `<topic>/<partition>`, idempotent
   producer, acks=all) and every ack is awaited, then the checkpoints due (every N entries);
3. only then each partition's head moves in the table (one write per partition per batch),
4. and only then are the records acked, so faust may commit their offsets.

A crash anywhere before 3 redelivers the records and produces the very same entries again
(same seq, same hash), which the verifier ignores as exact duplicates; the chain never forks.
A failure stops the worker instead of skipping a record. A timer signs, every T seconds,
the chains that grew since their last checkpoint (it only reads the table).

The chain head, not faust, says which record comes next. faust drops records it has already
fetched when it resumes the flow at the end of a rebalance (table recovery included): it
clears the agents' buffers and counts on having sought back to the committed offsets, but it
seeks before the records arrive, and for a partition that never committed (new topics) the
seek does nothing at all. So (a) a batch whose records skip offsets past the head gets the
skipped ones read straight from the topic and chained first, in order; and (b) when a
rebalance ends, every chained partition of the worker is sought to the offset after its head,
so dropped records come again even when no later record of the partition arrives.

    python -m services.intake.ledger.worker      # or: qms audit ledger-worker
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import faust
import faust.streams
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from faust.types import EventT
from prometheus_client import start_http_server

from services.common.consumer_lag import ConsumerLagMonitor, install_lag_monitor
from services.common.faust_delivery import PromptDeliveryApp
from services.common.faust_rebalance import RebalanceEnd
from services.common.kafka_security import access_error, aiokafka_security, faust_credentials
from services.common.logs import bind_process, configure_logging
from services.common.service_metrics import BATCH_RECORDS, BATCH_SECONDS
from services.common.settings import LogFormat
from services.common.shutdown import StopDeadline
from services.common.topics import ensure_topics, load_topic_specs
from services.common.tracing import NO_TRACING, Tracing, configure_tracing
from services.intake.ledger.adapters.checkpoint_file import append_note
from services.intake.ledger.adapters.kafka import read_ranges
from services.intake.ledger.adapters.keys import load_signer
from services.intake.ledger.adapters.publisher import LedgerPublisher
from services.intake.ledger.domain.chain import (
    ChainHead,
    EventRecord,
    chain_key,
    extend_all,
    split_chain_key,
    undelivered,
)
from services.intake.ledger.domain.note import Checkpoint, Signer, origin_for, sign_checkpoint
from services.intake.ledger.health import ChainHealth
from services.intake.ledger.settings import LedgerSettings

log = logging.getLogger(__name__)

HEADS_TABLE = "ledger-heads"


def faust_broker_url(bootstrap_servers: str) -> str:
    """`a:9092,b:9092` → `kafka://a:9092;kafka://b:9092`."""
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap_servers.split(","))


def source_partitions(settings: LedgerSettings) -> int:
    """The partition count of the chained topics (they must agree: one agent reads them all)."""
    specs = {spec.name: spec.partitions for spec in load_topic_specs(prefix=settings.topic_prefix)}
    counts = {specs[name] for name in settings.chained_topic_names() if name in specs}
    if len(counts) != 1:
        raise ValueError(f"chained topics must have one partition count, topics.yaml has {counts}")
    return counts.pop()


def event_record(event: EventT[Any]) -> EventRecord:
    message = event.message
    return EventRecord(message.topic, message.partition, message.offset, message.value or b"")


def ledger_datadir(settings: LedgerSettings) -> Path:
    """Where this worker's RocksDB table lives (one directory per app id)."""
    return Path(settings.data_dir) / "ledger" / settings.app_id


def build_ledger_app(
    settings: LedgerSettings,
    signer: Signer,
    partitions: int,
    publisher: LedgerPublisher,
    tracing: Tracing = NO_TRACING,
) -> faust.App:
    """The faust app of the ledger worker; nothing connects until it is started."""
    app = PromptDeliveryApp(
        settings.app_id,
        broker=faust_broker_url(settings.kafka_bootstrap_servers),
        broker_credentials=faust_credentials(settings),
        # The heads table's changelog: as many replicas as the cluster's own topics.
        topic_replication_factor=settings.topic_replication_factor,
        store="rocksdb://",
        datadir=str(ledger_datadir(settings)),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=partitions,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
        web_enabled=False,
        # aiokafka fetches again from a broker only once every partition it fetched is
        # consumed, and meanwhile long-polls the idle ones (this table's changelog, faust's
        # assignor topic) for up to 1.5 s: small fetches end in a stall every few thousand
        # records (docs/audit-trail.md, Benchmark).
        consumer_max_fetch_size=settings.fetch_partition_bytes,
    )
    events = app.topic(
        *settings.chained_topic_names(), key_serializer="raw", value_serializer="raw"
    )
    heads = app.Table(
        HEADS_TABLE,
        partitions=partitions,
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
    )
    checkpointed: dict[str, int] = {}  # chain → last size signed by this worker (memory only)
    health = ChainHealth()
    chained_topics = set(settings.chained_topic_names())

    async def publish_checkpoint(head: ChainHead) -> None:
        """Sign the tree head of a chain, publish the note and append it to the anchor file."""
        key = chain_key(head.topic, head.partition)
        tree = head.tree()
        if tree is None:
            # A head stored before chains had Merkle trees: signing its hash would be a root
            # no proof leads to, so the chain stays unanchored (the verifier says so).
            log.error("checkpoint %s size %d: the head has no Merkle frontier", key, head.size)
            return
        origin = origin_for(settings.origin_prefix, head.topic, head.partition)
        note = sign_checkpoint(Checkpoint(origin, head.size, tree.root()), signer)
        await publisher.publish_checkpoint(key, note)
        if settings.checkpoint_file is not None:
            append_note(settings.checkpoint_file, note)
        checkpointed[key] = max(checkpointed.get(key, 0), head.size)
        health.anchored(key, head.size, stored_head(key).size)
        log.info("checkpoint %s size %d", key, head.size)

    def stored_head(key: str) -> ChainHead:
        stored = heads.get(key)
        return ChainHead.from_json(stored) if stored else ChainHead(*split_chain_key(key))

    def move_head(last_event: EventT[Any], head: ChainHead) -> None:
        # faust picks a table write's partition (changelog and RocksDB) from the current
        # event; a batch has none, so name the partition's last event of the batch.
        token = faust.streams._current_event.set(weakref.ref(last_event))
        try:
            heads[chain_key(head.topic, head.partition)] = head.to_json()
        finally:
            faust.streams._current_event.reset(token)

    async def read_undelivered(
        chain_heads: dict[str, ChainHead], records: dict[str, list[EventRecord]]
    ) -> None:
        """Add to each partition's `records` those that faust skipped after the chain head."""
        gaps = {
            split_chain_key(key): ranges
            for key, chain_records in records.items()
            if (ranges := undelivered(chain_heads[key], (r.offset for r in chain_records)))
        }
        if not gaps:
            return
        found = await read_ranges(
            settings.kafka_bootstrap_servers, gaps, security=aiokafka_security(settings)
        )
        for (topic, partition), missing in found.items():
            key = chain_key(topic, partition)
            log.warning(
                "%s: offsets %s were not delivered by the consumer; %d record(s) read from "
                "the topic and chained first",
                key,
                ", ".join(f"{start}..{stop - 1}" for start, stop in gaps[(topic, partition)]),
                len(missing),
            )
            records[key] = sorted([*records[key], *missing], key=lambda record: record.offset)

    async def chain_batch(batch: Sequence[EventT[Any]]) -> None:
        """Chain a batch: every entry acked (and checkpoint signed) before any head moves."""
        by_chain: dict[str, list[EventT[Any]]] = {}
        for event in batch:
            key = chain_key(event.message.topic, event.message.partition)
            by_chain.setdefault(key, []).append(event)
        chain_heads = {key: stored_head(key) for key in by_chain}
        # In offset order: after a seek back, a batch can hold a partition's records twice.
        records = {
            key: sorted(map(event_record, events), key=lambda record: record.offset)
            for key, events in by_chain.items()
        }
        await read_undelivered(chain_heads, records)
        extensions = {
            key: extend_all(
                chain_heads[key], records[key], checkpoint_every=settings.checkpoint_every
            )
            for key in by_chain
        }
        for key, extension in extensions.items():
            if extension.redelivered:
                log.info(
                    "skip redelivered %s offsets %d..%d (%d records)",
                    key,
                    extension.redelivered[0],
                    extension.redelivered[-1],
                    len(extension.redelivered),
                )
        await publisher.publish_entries([e for ext in extensions.values() for e in ext.entries])
        for extension in extensions.values():
            for head in extension.checkpoints(settings.checkpoint_every):
                await publish_checkpoint(head)
        for key, extension in extensions.items():
            if extension.entries:
                move_head(by_chain[key][-1], extension.head)
                health.chained(key, extension.head.size, checkpointed.get(key, 0))

    async def chain_or_stop(batch: Sequence[EventT[Any]]) -> None:
        """Chain a batch; on any failure stop the worker rather than skip the batch."""
        try:
            await chain_batch(batch)
        except Exception as exc:
            # Moving on would chain later records first and leave these out for good. They
            # are not acked, so their offsets are not committed: the next worker retries them.
            first = batch[0].message
            log.critical(
                "ledger stopped at a batch of %d from %s/%d offset %d: %r",
                len(batch),
                first.topic,
                first.partition,
                first.offset,
                exc,
            )
            await app.crash(exc)
            raise

    async def chain_events(stream: faust.StreamT[Any]) -> None:
        """Chain every accepted event, partition by partition, in offset order, in batches."""
        manual = cast("faust.Stream[Any]", stream)
        try:
            async for taken in manual.noack_take(
                settings.batch_size, within=settings.batch_wait_ms / 1000
            ):
                batch = cast("list[EventT[Any]]", taken)  # noack_take yields the events
                with (
                    tracing.batch("ledger chain", (e.message.value for e in batch)),
                    BATCH_SECONDS.labels(settings.app_id).time(),
                ):
                    await chain_or_stop(batch)
                BATCH_RECORDS.labels(settings.app_id).observe(len(batch))
                for event in batch:
                    await manual.ack(event)  # only now may faust commit their offsets
        finally:
            await publisher.stop()  # flush and close the producer with the agent

    app.agent(events, name="chain-events")(chain_events)

    async def checkpoint_grown_chains() -> None:
        """Every T seconds, sign the chains of this worker that grew since their last checkpoint."""
        try:
            await checkpoint_assigned_chains()
        except Exception:  # a missed timed checkpoint is made up by the next one
            log.exception("timed checkpoint failed")

    async def checkpoint_assigned_chains() -> None:
        for tp in app.assignor.assigned_actives():
            if tp.topic not in settings.chained_topic_names():
                continue
            key = chain_key(tp.topic, tp.partition)
            head = stored_head(key)
            if head.size > checkpointed.get(key, 0):
                await publish_checkpoint(head)

    app.timer(interval=settings.checkpoint_seconds, name="checkpoint-grown-chains")(
        checkpoint_grown_chains
    )

    async def resume_from_chain_heads() -> None:
        """Seek each chained partition of this worker to the offset after its chain head."""
        generation = app.consumer_generation_id
        positions = {
            tp: stored_head(chain_key(tp.topic, tp.partition)).last_offset + 1
            for tp in app.assignor.assigned_actives()
            if tp.topic in chained_topics
        }
        if not positions or app.consumer_generation_id != generation:
            return  # a newer rebalance is under way; its end seeks again
        try:
            await app.consumer.seek_wait(positions)
        except Exception:  # e.g. revoked meanwhile: the next rebalance's end seeks again
            log.exception("could not resume the chained partitions from their heads")
            return
        log.info(
            "resumed %d chained partitions from their heads: %s",
            len(positions),
            ", ".join(
                f"{tp.topic}/{tp.partition}@{offset}" for tp, offset in sorted(positions.items())
            ),
        )

    def owned_heads() -> dict[TopicPartition, ChainHead]:
        return {
            TopicPartition(tp.topic, tp.partition): stored_head(chain_key(tp.topic, tp.partition))
            for tp in app.assignor.assigned_actives()
            if tp.topic in chained_topics
        }

    install_lag_monitor(
        app,
        ConsumerLagMonitor(
            settings.kafka_bootstrap_servers,
            settings.app_id,
            sorted(chained_topics),
            on_end_offsets=lambda ends: health.lagging(ends, owned_heads()),
            client_options=aiokafka_security(settings),
        ),
        settings.lag_refresh_s,
    )

    resuming: set[asyncio.Task[None]] = set()

    def on_rebalance_end() -> None:
        health.keep_only([chain_key(tp.topic, tp.partition) for tp in owned_heads()])
        # After faust's own seek to the committed offsets and the clearing of the buffers.
        task = asyncio.ensure_future(resume_from_chain_heads())
        resuming.add(task)
        task.add_done_callback(resuming.discard)

    app.sensors.add(RebalanceEnd(on_rebalance_end))
    return app


class StoppingWorker(faust.Worker):
    """faust's worker, with a stop that ends within the grace period whatever Kafka does."""

    def __init__(self, app: faust.App, deadline: StopDeadline, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.deadline = deadline

    def _on_sigterm(self) -> None:
        self.deadline.arm()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self.deadline.arm()
        super()._on_sigint()


def run_worker(
    settings: LedgerSettings | None = None,
    loglevel: str = "info",
    publisher_type: type[LedgerPublisher] = LedgerPublisher,
) -> None:
    """Create the topics, then run the ledger worker until SIGTERM/SIGINT."""
    settings = settings or LedgerSettings()
    configure_logging(loglevel, json=settings.log_format is LogFormat.JSON)
    bind_process(service="ledger", consumer=settings.app_id)
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port)  # the default registry, in a daemon thread
    signer = load_signer(settings)  # fail before connecting if the key is wrong
    try:
        asyncio.run(
            ensure_topics(
                settings.kafka_bootstrap_servers,
                load_topic_specs(prefix=settings.topic_prefix),
                security=aiokafka_security(settings),
            )
        )
    except KafkaConnectionError as exc:  # wrong password, CA or listener: say so in one line
        raise SystemExit(f"ledger worker: {access_error(settings, exc)}") from None
    ledger_datadir(settings).parent.mkdir(parents=True, exist_ok=True)
    asyncio.set_event_loop(asyncio.new_event_loop())  # asyncio.run closed the previous one
    publisher = publisher_type.from_settings(settings)
    tracing = configure_tracing("qms-ledger", settings.otlp_traces_endpoint)
    app = build_ledger_app(settings, signer, source_partitions(settings), publisher, tracing)
    worker = StoppingWorker(
        app,
        StopDeadline(settings.stop_grace_s, "ledger worker"),
        loglevel=loglevel,
        override_logging=False,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    run_worker()
