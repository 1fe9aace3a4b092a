"""Handle commands against the CAPAs' streams: decide, publish, store, reply.

A batch (`handle_commands`) is decided in order: each command against the stream the
earlier commands of the batch left for its CAPA, so one CAPA's commands stay serialised and
each expected version is checked against the version its predecessor produced. Then every
new event of the batch is published, all acknowledged, and only then are the tables
written, once per CAPA.

The order is the crash rule: events are appended to the event topic (acknowledged) before
the table holds them. After a crash in between, the redelivered command decides again on
the old stream and republishes the same events with the same ids (`<capa>/<sequence>`),
which consumers of the event topic drop as duplicates; the reverse order could leave a
table ahead of the event store, a state nobody else ever sees.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from schemas.capa import CapaRootCauseRecorded
from schemas.envelope import CloudEvent
from services.capa.domain.commands import Command, SignedCommand
from services.capa.domain.decide import decide
from services.capa.domain.evolve import evolve
from services.capa.domain.recurrence import RootCauseSighting
from services.capa.domain.refusals import InvalidSignature, Refusal
from services.capa.domain.signatures import SigningKeys, command_fields, key_fault
from services.capa.domain.state import CapaState
from services.capa.service_layer.replies import CommandAccepted, CommandRefused, CommandReply

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal_error"


class CapaStreams(Protocol):
    """The event stream and folded state of each CAPA (the faust table in production)."""

    def loaded(self, capa_id: str) -> tuple[list[CloudEvent], CapaState | None]: ...

    def append(self, capa_id: str, events: list[CloudEvent], state: CapaState) -> None:
        """Store the whole stream `events` (old + new) and the state it folds to."""


class CapaPublisher(Protocol):
    """Acknowledged appends to the CAPA event topic and the root-cause sightings topic."""

    async def publish_all(self, events: Sequence[CloudEvent]) -> None:
        """Send every event in order, then return once the broker acknowledged them all."""

    async def publish_sighting(self, sighting: RootCauseSighting) -> None: ...


async def handle_command(
    command: Command, streams: CapaStreams, publisher: CapaPublisher, keys: SigningKeys
) -> CommandReply:
    """Decide `command` on the CAPA's stream; store and publish what it yields."""
    return (await handle_commands([command], streams, publisher, keys))[0]


async def handle_commands(
    commands: Sequence[Command], streams: CapaStreams, publisher: CapaPublisher, keys: SigningKeys
) -> list[CommandReply]:
    """Decide a batch of commands in order; publish, then store, what they yield; one reply
    per command, in order.

    A signed decision is decided first (decide binds its signature to the current state
    hash), then its signature is verified with the signer's registered key: both on the
    state the command is applied to, by the worker that owns the CAPA.
    """
    decided: dict[str, tuple[list[CloudEvent], CapaState]] = {}  # CAPA id -> stream, state
    new_events: list[CloudEvent] = []
    replies: list[CommandReply] = []
    for command in commands:
        events, state = decided.get(command.capa_id) or streams.loaded(command.capa_id)
        reply, new, state = _decide(command, state, keys)
        if new and state is not None:
            decided[command.capa_id] = ([*events, *new], state)
            new_events.extend(new)
        replies.append(reply)
    if new_events:
        await publisher.publish_all(new_events)
    for capa_id, (events, state) in decided.items():
        streams.append(capa_id, events, state)
    for event in new_events:
        if isinstance(event, CapaRootCauseRecorded):
            state = decided[event.subject or ""][1]
            await publisher.publish_sighting(
                RootCauseSighting(
                    state.capa_id, state.agency, state.process, event.data.category, state.opened_at
                )
            )
    return replies


def _decide(
    command: Command, state: CapaState | None, keys: SigningKeys
) -> tuple[CommandReply, list[CloudEvent], CapaState | None]:
    """The reply, the new events and the state they fold to (nothing new on a refusal)."""
    try:
        new = decide(command, state)
        if isinstance(command, SignedCommand):
            _verify_signature(command, keys)
    except Refusal as refusal:
        return CommandRefused.of(refusal, state), [], state
    except Exception as exc:  # a domain bug or a corrupt stream: refuse this one, go on
        log.exception("cannot decide %s on %s", command.name, command.capa_id)
        return CommandRefused(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"), [], state
    after = state
    for event in new:
        after = evolve(after, event)
    if after is None:  # decide refuses a missing CAPA, so only a domain bug gets here
        missing = CommandRefused(INTERNAL_ERROR, f"{command.name} left no CAPA {command.capa_id}")
        return missing, [], state
    return CommandAccepted(after, tuple(new)), new, after


def _verify_signature(command: SignedCommand, keys: SigningKeys) -> None:
    assert command.signature is not None  # decide refuses an unsigned decision
    fault = key_fault(
        keys,
        command.signature,
        capa_id=command.capa_id,
        command=command.name,
        fields=command_fields(command),
    )
    if fault is not None:
        raise InvalidSignature(fault.field, fault.reason)
