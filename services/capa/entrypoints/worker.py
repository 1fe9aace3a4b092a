"""The CAPA faust worker: policies, the command agent, recurrence index and escalation timer.

    source topics ──policy agent──▶ capa.commands.v1 (key: CAPA id) ──command agent──▶ capa.v1
                                          ▲   │  table capa-events (RocksDB + changelog)
          HTTP API ─ send + correlation ──┘   └─▶ <app id>-root-cause-sightings (key: agency|
          escalation timer ── send ───────┘          process|category) ─▶ recurrence agent

Every command for one CAPA travels on the partition that owns its id, and one agent
instance handles a partition at a time, so decisions on one CAPA are serialised. Delivery
is at least once: a redelivered command finds its events already in the table (a source
event is recognised by its reference; events carry deterministic ids `<capa>/<sequence>`).

The policy and command agents work a fetched batch at a time (faust `noack_take`) and ack
a batch only once its writes are acknowledged: the policy agent sends every command the
batch calls for and waits for all their acks; the command agent decides the batch in
order, each command against the stream the earlier ones left for its CAPA, publishes every
new event (all acknowledged) and only then writes each CAPA's stream to the table once
(`services/capa/service_layer/commands.py`, `handle_commands`).

As every rebalance completes, the source topics, the commands topic and the sightings topic
are re-read from their committed offsets (`services.common.faust_rebalance`): faust 0.15.3
drops records fetched before a rebalance on partitions that never committed, and a command
cast by the policies during a rebalance would be lost with them. Re-reading is safe: the
policies derive the CAPA id from the source event and `decide` ignores a reference it has
already recorded; every HTTP command carries the version its caller decided on, so once
applied its replay is refused as stale (and answers no one); an escalation, a recurrence or
an effectiveness measurement (its id) already recorded is ignored; a sighting replaces
itself; a probe resolves no waiter.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import faust
from faust.types import EventT

from schemas.capa import Severity
from schemas.topics import CAPA_COMMANDS_TOPIC, FAMILY_TOPICS
from services.capa.adapters.pending_replies import PendingReplies
from services.capa.adapters.publisher import FaustRecords, KafkaCapaPublisher
from services.capa.adapters.signing import load_signing_keys
from services.capa.adapters.store import CapaStore
from services.capa.config import CapaSettings
from services.capa.domain.commands import Command
from services.capa.domain.policies import DueDatePolicy
from services.capa.domain.state import local_date
from services.capa.entrypoints.command_path import CommandPath, register_command_agent
from services.capa.service_layer.escalations import escalate_overdue as escalate_overdue_capas
from services.capa.service_layer.policies import (
    SOURCE_TOPICS,
    Outgoing,
    RecordHandler,
    SourceRecord,
    policy_commands,
    recurrence_commands,
)
from services.capa.service_layer.replies import CommandReply
from services.common.consumer_lag import ConsumerLagMonitor, install_lag_monitor
from services.common.deadletter import DEADLETTER_TOPIC, DeadLetter, RecordPosition
from services.common.faust_rebalance import reread_from_committed_after_rebalance
from services.common.kafka_errors import send_dead_letter
from services.common.kafka_security import aiokafka_security, faust_credentials
from services.common.service_metrics import count_dead_letter
from services.common.tracing import NO_TRACING, Tracing

log = logging.getLogger(__name__)

PARTITIONS = 3  # capa.v1 and capa.commands.v1 have 3 (deploy/kafka/topics.yaml)
# The policy agent's batches: what the consumer fetched, at most this many records.
POLICY_BATCH_MAX = 1000
POLICY_BATCH_WITHIN_S = 0.01


def due_date_policy(settings: CapaSettings) -> DueDatePolicy:
    return DueDatePolicy(
        correction_days={
            Severity.MAJOR: settings.correction_days_major,
            Severity.MINOR: settings.correction_days_minor,
        },
        closure_days={
            Severity.MAJOR: settings.closure_days_major,
            Severity.MINOR: settings.closure_days_minor,
        },
    )


def source_record(event: Any) -> SourceRecord:
    message = event.message
    position = RecordPosition(message.topic, message.partition, message.offset)
    return SourceRecord(position, message.key, message.value or b"")


@dataclass
class CapaStreams:
    """The faust app and the handles the HTTP API uses."""

    app: faust.App
    settings: CapaSettings
    store: CapaStore
    commands: CommandPath
    lag: ConsumerLagMonitor  # the group's lag on every topic it consumes (/v1/stats)

    async def execute(self, command: Command) -> CommandReply:
        """Decide a command on this process's partition owning the CAPA (see command_path)."""
        return await self.commands.execute(command)

    def today(self) -> date:
        """The business day in Vietnam by the service's clock (QMS_NOW)."""
        return local_date(self.settings.clock.now())

    def ready(self) -> bool:
        """Started, assigned and done recovering the tables (the readiness probe adds a round
        trip through the command agent: `probe`)."""
        return self.commands.settled()

    async def probe(self) -> str | None:
        """None when a probe command came back through every owned command partition."""
        return await self.commands.probe()


def build_streams(settings: CapaSettings, tracing: Tracing = NO_TRACING) -> CapaStreams:
    """Declare the faust app, its topics, tables, agents and timer (nothing connects yet)."""
    settings.table_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{s.strip()}" for s in settings.kafka_bootstrap_servers.split(",")],
        store="rocksdb://",
        datadir=str(settings.table_dir),
        topic_partitions=PARTITIONS,
        broker_credentials=faust_credentials(settings),
        # Changelogs, the repartition and sightings topics: the cluster's replica count.
        topic_replication_factor=settings.topic_replication_factor,
        table_standby_replicas=0,
        web_enabled=False,
        # The URL other workers forward HTTP commands to (faust's assignor shares it).
        canonical_url=settings.advertised_url,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 3),
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
    )
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    source_topic = app.topic(*(settings.topic(t) for t in SOURCE_TOPICS), **raw)
    commands_topic = app.topic(settings.topic(CAPA_COMMANDS_TOPIC), **raw)
    deadletter_topic = app.topic(settings.topic(DEADLETTER_TOPIC), **raw)
    sightings_topic = app.topic(
        f"{settings.app_id}-root-cause-sightings", internal=True, partitions=PARTITIONS, **raw
    )
    # key_type/value_type bytes: the tables hold raw bytes (faust picks the "raw" codec).
    table_types: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
    capa_table = app.Table("capa-events", partitions=PARTITIONS, **table_types)
    sightings_table = app.Table("root-cause-sightings", partitions=PARTITIONS, **table_types)
    store = CapaStore(capa_table)
    policy = due_date_policy(settings)
    clock = settings.clock  # overdue, escalation and recurrence windows: the one clock

    path = CommandPath(app, commands_topic, PendingReplies(), settings.command_timeout_s)
    records_out = FaustRecords(app)  # the app's producer, without faust's per-record wrapping
    register_command_agent(
        app,
        path,
        store,
        KafkaCapaPublisher(
            records_out, settings.topic(FAMILY_TOPICS["capa"]), sightings_topic.get_topic_name()
        ),
        deadletter_topic,
        settings.app_id,
        load_signing_keys(settings.users_file, settings.environment),
    )

    async def send_commands(commands: Sequence[Outgoing]) -> None:
        # Every one acknowledged before the offsets may be committed.
        await records_out.send_all(path.topic_name, [(c.key, c.value, None) for c in commands])

    async def send_command(command: Outgoing) -> None:
        await send_commands([command])

    async def dead_letter(letter: DeadLetter) -> None:
        await send_dead_letter(letter, produce_dead_letter)

    async def produce_dead_letter(letter: DeadLetter) -> None:
        headers = letter.headers()
        future = await deadletter_topic.send(key=letter.key, value=letter.value, headers=headers)
        await future
        count_dead_letter(letter)

    records = RecordHandler(send_command, dead_letter, settings.app_id)

    def decide_policies(value: bytes) -> list[Command]:
        return policy_commands(value, policy)

    @app.agent(source_topic)
    async def apply_policies(stream: Any) -> None:
        """Turn nonconformities on the source topics into open-or-link commands, a fetched
        batch at a time; the batch is acked (its offsets committable) once every command
        it called for is acknowledged."""
        manual = cast("faust.Stream[Any]", stream)
        async for taken in manual.noack_take(POLICY_BATCH_MAX, within=POLICY_BATCH_WITHIN_S):
            batch = cast("list[EventT[Any]]", taken)  # noack_take yields the events
            with tracing.batch("capa policies", (e.message.value for e in batch)):
                await records.handle_batch(
                    [source_record(e) for e in batch], decide_policies, send_commands
                )
            for event in batch:
                await manual.ack(event)  # only now may faust commit their offsets

    @app.agent(sightings_topic)
    async def index_root_causes(stream: Any) -> None:
        """Keep root causes per agency|process|category and flag recurrences."""

        def index(value: bytes) -> list[Command]:
            writes, commands = recurrence_commands(value, sightings_table.get, clock.now())
            for key, sightings in writes.items():  # only once the whole record went through
                sightings_table[key] = sightings
            return commands

        async for event in stream.events():
            await records.handle(source_record(event), index)

    @app.timer(interval=settings.escalation_interval_s)  # type: ignore[untyped-decorator]
    async def escalate_overdue() -> None:
        """Ask for an escalation of every CAPA with a passed due date not escalated yet,
        in one batch of commands (service_layer/escalations.py)."""
        if not streams.ready():
            return
        await escalate_overdue_capas(store.states(), clock.now(), send_commands)

    # Idempotent consumers only (see the module docstring): all of them are.
    reread_from_committed_after_rebalance(
        app,
        [
            *(settings.topic(t) for t in SOURCE_TOPICS),
            path.topic_name,
            sightings_topic.get_topic_name(),
        ],
    )
    lag_topics = [
        *(settings.topic(t) for t in SOURCE_TOPICS),
        settings.topic(CAPA_COMMANDS_TOPIC),
        sightings_topic.get_topic_name(),
    ]
    lag = ConsumerLagMonitor(
        settings.kafka_bootstrap_servers,
        settings.app_id,
        lag_topics,
        client_options=aiokafka_security(settings),
    )
    install_lag_monitor(app, lag, settings.lag_refresh_s)
    streams = CapaStreams(app, settings, store, path, lag)
    return streams
