"""The CAPA faust worker: policies, the command agent, recurrence index and escalation timer.

    source topics ──policy agent──▶ capa.commands.v1 (key: CAPA id) ──command agent──▶ capa.v1
                                          ▲   │  table capa-events (RocksDB + changelog)
          HTTP API ─── agent.ask ─────────┘   └─▶ <app id>-root-cause-sightings (key: agency|
          escalation timer ── cast ───────┘          process|category) ─▶ recurrence agent

Every command for one CAPA travels on the partition that owns its id, and one agent
instance handles a partition at a time, so decisions on one CAPA are serialised. Delivery
is at least once: a redelivered command finds its events already in the table (a source
event is recognised by its reference; events carry deterministic ids `<capa>/<sequence>`).

After every rebalance the source topics and the sightings topic are re-read from their
committed offsets (`services.common.faust_rebalance`): faust 0.15.3 drops records fetched
during table recovery on partitions that never committed. Re-reading them is safe: the
policies derive the CAPA id from the source event and `decide` ignores a reference it has
already recorded; a sighting replaces itself and a recurrence already flagged is ignored.
The commands topic is not re-read: an HTTP command without an expected version, replayed
after later commands, could apply again, and its caller already had its reply.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from schemas.binding import event_to_json, to_kafka_record
from schemas.capa import CapaRootCauseRecorded, Severity
from schemas.envelope import CloudEvent
from schemas.topics import CAPA_COMMANDS_TOPIC, FAMILY_TOPICS
from services.capa.adapters.codec import (
    decode_command,
    encode_command,
    encode_events,
    encode_sightings,
    state_view,
)
from services.capa.adapters.store import CapaStore
from services.capa.config import CapaSettings
from services.capa.domain.commands import Command, EscalateOverdue
from services.capa.domain.decide import decide
from services.capa.domain.evolve import evolve
from services.capa.domain.policies import DueDatePolicy
from services.capa.domain.recurrence import RootCauseSighting
from services.capa.domain.refusals import IllegalTransition, Refusal, StaleVersion
from services.capa.domain.state import CapaState, local_date
from services.capa.domain.transitions import Role
from services.capa.service_layer.policies import (
    SOURCE_TOPICS,
    Outgoing,
    RecordHandler,
    SourceRecord,
    policy_commands,
    recurrence_commands,
)
from services.common.deadletter import DEADLETTER_TOPIC, DeadLetter, RecordPosition
from services.common.faust_rebalance import reread_from_committed_after_rebalance
from services.common.kafka_errors import message_too_large

log = logging.getLogger(__name__)

PARTITIONS = 3  # capa.v1 and capa.commands.v1 have 3 (deploy/kafka/topics.yaml)


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


def refusal_reply(refusal: Refusal, state: CapaState | None) -> dict[str, Any]:
    """What the HTTP layer needs to write the problem document."""
    body: dict[str, Any] = {"ok": False, "kind": refusal.kind, "detail": refusal.detail}
    if state is not None:
        body["current_status"] = state.status.value
        body["current_version"] = state.version
    if isinstance(refusal, IllegalTransition):
        body["allowed_commands"] = refusal.allowed
    if isinstance(refusal, StaleVersion):
        body["expected_version"] = refusal.expected
    return body


@dataclass
class CapaStreams:
    """The faust app and the handles the HTTP API uses."""

    app: faust.App
    settings: CapaSettings
    store: CapaStore
    commands_agent: Any
    commands_topic: Any

    async def execute(self, command: Command) -> dict[str, Any]:
        """Send a command to the partition that owns the CAPA and wait for the decision."""
        reply = await asyncio.wait_for(
            self.commands_agent.ask(key=command.capa_id.encode(), value=encode_command(command)),
            timeout=self.settings.ask_timeout_s,
        )
        assert isinstance(reply, dict)
        return reply

    async def cast(self, command: Command) -> None:
        """Send a command without waiting for the decision (policies, timer)."""
        future = await self.commands_topic.send(
            key=command.capa_id.encode(), value=encode_command(command)
        )
        await future  # acknowledged by Kafka before the source offset may be committed

    def ready(self) -> bool:
        """Started, assigned and done recovering the tables."""
        app = self.app
        recovery = getattr(app.tables, "recovery", None) if app.started else None
        return bool(
            app.started
            and not app.rebalancing
            and recovery is not None
            and recovery.completed.is_set()
        )


def build_streams(settings: CapaSettings) -> CapaStreams:
    """Declare the faust app, its topics, tables, agents and timer (nothing connects yet)."""
    settings.table_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{s.strip()}" for s in settings.kafka_bootstrap_servers.split(",")],
        store="rocksdb://",
        datadir=str(settings.table_dir),
        topic_partitions=PARTITIONS,
        topic_replication_factor=1,
        table_standby_replicas=0,
        web_enabled=False,
        reply_create_topic=True,
        reply_to=f"{settings.app_id}-replies-{uuid.uuid4().hex[:12]}",
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 3),
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
    )
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    source_topic = app.topic(*(settings.topic(t) for t in SOURCE_TOPICS), **raw)
    commands_topic = app.topic(settings.topic(CAPA_COMMANDS_TOPIC), **raw)
    capa_topic = app.topic(settings.topic(FAMILY_TOPICS["capa"]), **raw)
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

    async def send_event(event: CloudEvent) -> None:
        record = to_kafka_record(event)
        future = await capa_topic.send(key=record.key, value=record.value, headers=record.headers)
        await future

    async def decide_and_store(command: Command) -> dict[str, Any]:
        events, state = store.loaded(command.capa_id)
        try:
            new = decide(command, state)
        except Refusal as refusal:
            return refusal_reply(refusal, state)
        except Exception as exc:  # a domain bug or a corrupt stream: refuse, keep the agent up
            log.exception("cannot decide %s on %s", command.name, command.capa_id)
            return {"ok": False, "kind": "internal_error", "detail": f"{type(exc).__name__}: {exc}"}
        # The store first, then the table: after a crash in between, the redelivered
        # command decides again and republishes events with the same ids.
        for event in new:
            await send_event(event)
        if new:
            events = [*events, *new]
            raw = encode_events(events)
            capa_table[command.capa_id] = raw
            for event in new:
                state = evolve(state, event)
            store.remember(command.capa_id, raw, events, state)
        assert state is not None
        for event in new:
            if isinstance(event, CapaRootCauseRecorded):
                await send_sighting(state, event)
        return {
            "ok": True,
            "capa_id": state.capa_id,
            "version": state.version,
            "events": [event_to_json(e) for e in new],
            "capa": state_view(state, local_date(datetime.now(UTC))),
        }

    async def send_sighting(state: CapaState, event: CapaRootCauseRecorded) -> None:
        sighting = RootCauseSighting(
            state.capa_id, state.agency, state.process, event.data.category, state.opened_at
        )
        future = await sightings_topic.send(
            key=sighting.key.encode(), value=encode_sightings([sighting])
        )
        await future

    @app.agent(commands_topic)
    async def handle_commands(stream: Any) -> AsyncIterator[dict[str, Any]]:
        """Decide each command against the CAPA's stream; reply with events or a refusal."""
        async for value in stream:
            try:
                command = decode_command(value)
            except (ValueError, KeyError) as exc:
                yield {"ok": False, "kind": "invalid_command", "detail": f"unreadable: {exc}"}
                continue
            yield await decide_and_store(command)

    async def send_command(command: Outgoing) -> None:
        future = await commands_topic.send(key=command.key, value=command.value)
        await future  # acknowledged by Kafka before the source offset may be committed

    async def send_dead_letter(letter: DeadLetter) -> None:
        try:
            await produce_dead_letter(letter)
        except Exception as exc:
            if not message_too_large(exc):
                raise  # transient: the caller retries
            # never retried as it is: it would never pass
            await produce_dead_letter(letter.without_value())

    async def produce_dead_letter(letter: DeadLetter) -> None:
        headers = letter.headers()
        future = await deadletter_topic.send(key=letter.key, value=letter.value, headers=headers)
        await future

    records = RecordHandler(send_command, send_dead_letter, settings.app_id)

    @app.agent(source_topic)
    async def apply_policies(stream: Any) -> None:
        """Turn nonconformities on the source topics into open-or-link commands."""
        async for event in stream.events():
            await records.handle(source_record(event), lambda value: policy_commands(value, policy))

    @app.agent(sightings_topic)
    async def index_root_causes(stream: Any) -> None:
        """Keep root causes per agency|process|category and flag recurrences."""

        def index(value: bytes) -> list[Command]:
            writes, commands = recurrence_commands(value, sightings_table.get, datetime.now(UTC))
            for key, sightings in writes.items():  # only once the whole record went through
                sightings_table[key] = sightings
            return commands

        async for event in stream.events():
            await records.handle(source_record(event), index)

    @app.timer(interval=settings.escalation_interval_s)  # type: ignore[untyped-decorator]
    async def escalate_overdue() -> None:
        """Ask for an escalation of every CAPA with a passed due date not escalated yet."""
        if not streams.ready():
            return
        now = datetime.now(UTC)
        today = local_date(now)
        for state in list(store.states()):
            if state.due_dates_to_escalate(today):
                await streams.cast(
                    EscalateOverdue(
                        capa_id=state.capa_id,
                        actor_id="system:timer",
                        actor_role=Role.SYSTEM,
                        at=now,
                        reason=f"overdue since {state.overdue_since(today)}",
                        today=today,
                    )
                )

    # Idempotent consumers only (see the module docstring): not the commands topic.
    reread_from_committed_after_rebalance(
        app, [*(settings.topic(t) for t in SOURCE_TOPICS), sightings_topic.get_topic_name()]
    )
    streams = CapaStreams(app, settings, store, handle_commands, commands_topic)
    return streams
