"""The per-record paths of the policy and root-cause sightings agents, without faust.

A record either yields its commands or, whatever goes wrong while reading it and deciding
(not JSON, not a valid event, a policy or recurrence that raises, a command that cannot be
encoded), becomes a dead letter with the reason; the partition moves on. Sending is the
only part that may fail transiently (Kafka away): it is retried with jittered backoff
until the broker acknowledges, so the agent acks a record only once its commands or its
dead letter are on Kafka.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from schemas.catalogue import EventValidationError, event_type_of, family_of, parse_event
from schemas.topics import family_topics
from services.capa.adapters.codec import decode_sightings, encode_command, encode_sightings
from services.capa.domain.commands import Command, FlagRecurrence
from services.capa.domain.policies import POLICY_EVENTS, DueDatePolicy, commands_for
from services.capa.domain.recurrence import RootCauseSighting, find_recurrence, remember
from services.capa.domain.transitions import Role
from services.common.backoff import Backoff, retry_until_done
from services.common.deadletter import DeadLetter, RecordPosition, reason_for

log = logging.getLogger(__name__)

# Only these event types can open a CAPA; the rest of the source topics is skipped unparsed.
POLICY_EVENT_TYPES = frozenset(event_type_of(model) for model in POLICY_EVENTS)
# The topics that hold them (short names): what the policy agent reads.
SOURCE_TOPICS = family_topics(frozenset(family_of(t) for t in POLICY_EVENT_TYPES))


@dataclass(frozen=True)
class SourceRecord:
    """A Kafka record as an agent saw it."""

    position: RecordPosition
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Outgoing:
    """One encoded command for capa.commands.v1 (key: the CAPA id)."""

    key: bytes
    value: bytes


# The ports: each produces one record and returns once the broker acknowledged it.
CommandSender = Callable[[Outgoing], Awaitable[None]]
# Sends every command in order and returns once the broker acknowledged them all.
CommandBatchSender = Callable[[Sequence[Outgoing]], Awaitable[None]]
DeadLetterSender = Callable[[DeadLetter], Awaitable[None]]


class Refused(ValueError):
    """The record cannot be processed; the message says why (naming the field).

    `error` names the exception class when an unexpected error (a bug, a value no rule
    foresaw) is what refused it.
    """

    def __init__(self, reason: str, error: str = "") -> None:
        super().__init__(reason)
        self.error = error


def policy_commands(value: bytes, policy: DueDatePolicy) -> list[Command]:
    """The commands a source record calls for (none for most); raises for a poison one."""
    try:
        document = json.loads(value)
    except ValueError as exc:  # not UTF-8 or not JSON
        raise Refused(f"value: not JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("type") not in POLICY_EVENT_TYPES:
        return []
    try:
        event = parse_event(document)
    except EventValidationError as exc:
        raise Refused(str(exc)) from exc
    try:
        return list(commands_for(event, policy))
    except Exception as exc:
        detail, error = reason_for(exc)
        raise Refused(
            f"policy for {event.type} failed (time {event.time.isoformat()}): {error}: {detail}",
            error,
        ) from exc


def recurrence_commands(
    value: bytes, known: Callable[[str], bytes | None], now: datetime
) -> tuple[dict[str, bytes], list[Command]]:
    """For one sightings record: the sightings-table writes and the recurrences to flag.

    Pure: nothing is written until the whole record went through, so a record that fails
    halfway leaves the index as it was.
    """
    writes: dict[str, bytes] = {}
    commands: list[Command] = []
    for sighting in decode_sightings(value):
        stored = writes.get(sighting.key) or known(sighting.key)
        index = decode_sightings(stored)
        found = find_recurrence(index, sighting)
        writes[sighting.key] = encode_sightings(remember(index, sighting))
        if found is not None:
            commands.append(_flag(found.later, found.earlier, sighting, now))
    return writes, commands


def _flag(
    later: RootCauseSighting, earlier: RootCauseSighting, seen: RootCauseSighting, now: datetime
) -> FlagRecurrence:
    return FlagRecurrence(
        capa_id=later.capa_id,
        actor_id="system:recurrence",
        actor_role=Role.SYSTEM,
        at=now,
        reason=(
            f"same agency, process and root-cause category as "
            f"{earlier.capa_id} within twelve months"
        ),
        earlier_capa_id=earlier.capa_id,
        category=seen.category,
    )


def encoded(commands: Sequence[Command]) -> list[Outgoing]:
    return [Outgoing(c.capa_id.encode(), encode_command(c)) for c in commands]


class RecordHandler:
    """Runs one agent's per-record path: commands out, or the record's dead letter."""

    def __init__(
        self,
        commands: CommandSender,
        deadletters: DeadLetterSender,
        consumer: str,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.send_command = commands
        self.send_dead_letter = deadletters
        self.consumer = consumer
        self.backoff = backoff
        self.dead_lettered = 0

    async def handle(self, record: SourceRecord, decide: Callable[[bytes], list[Command]]) -> None:
        """Decide the record's commands and send them, or dead-letter the record."""
        try:
            outgoing = encoded(decide(record.value))
        except Exception as exc:  # anything on one record refuses that record only
            await self.dead_letter(record, exc)
            return
        for command in outgoing:
            await retry_until_done(
                partial(self.send_command, command),
                f"command for {command.key.decode()}",
                log,
                self.backoff(),
            )

    async def handle_batch(
        self,
        records: Sequence[SourceRecord],
        decide: Callable[[bytes], list[Command]],
        send_all: CommandBatchSender,
    ) -> None:
        """Decide every record of a batch in order, dead-letter the ones refused, then send
        all the commands at once (retried whole until acknowledged: each is idempotent)."""
        outgoing: list[Outgoing] = []
        for record in records:
            try:
                outgoing.extend(encoded(decide(record.value)))
            except Exception as exc:  # anything on one record refuses that record only
                await self.dead_letter(record, exc)
        if outgoing:
            await retry_until_done(
                partial(send_all, outgoing),
                f"{len(outgoing)} commands from {len(records)} records",
                log,
                self.backoff(),
            )

    async def dead_letter(self, record: SourceRecord, exc: Exception) -> None:
        reason, error = reason_for(exc)
        if isinstance(exc, Refused):
            error = exc.error
        p = record.position
        log.warning("dead-lettering %s[%d]@%d: %s", p.topic, p.partition, p.offset, reason)
        letter = DeadLetter(p, reason, self.consumer, record.key, record.value, error)
        await retry_until_done(
            partial(self.send_dead_letter, letter),
            f"dead-letter produce of {p.topic}[{p.partition}]@{p.offset}",
            log,
            self.backoff(),
        )
        self.dead_lettered += 1
