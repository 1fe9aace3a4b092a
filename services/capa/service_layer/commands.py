"""Handle one command against a CAPA's stream: decide, publish, store, reply.

The order is the crash rule: events are appended to the event topic (acknowledged) before
the table holds them. After a crash in between, the redelivered command decides again on
the old stream and republishes the same events with the same ids (`<capa>/<sequence>`),
which consumers of the event topic drop as duplicates; the reverse order could leave a
table ahead of the event store, a state nobody else ever sees.
"""

from __future__ import annotations

import logging
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

    async def publish(self, event: CloudEvent) -> None: ...

    async def publish_sighting(self, sighting: RootCauseSighting) -> None: ...


async def handle_command(
    command: Command, streams: CapaStreams, publisher: CapaPublisher, keys: SigningKeys
) -> CommandReply:
    """Decide `command` on the CAPA's stream; store and publish what it yields.

    A signed decision is decided first (decide binds its signature to the current state
    hash), then its signature is verified with the signer's registered key: both on the
    state the command is applied to, by the worker that owns the CAPA.
    """
    events, state = streams.loaded(command.capa_id)
    try:
        new = decide(command, state)
        if isinstance(command, SignedCommand):
            _verify_signature(command, keys)
    except Refusal as refusal:
        return CommandRefused.of(refusal, state)
    except Exception as exc:  # a domain bug or a corrupt stream: refuse this one, go on
        log.exception("cannot decide %s on %s", command.name, command.capa_id)
        return CommandRefused(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
    for event in new:
        await publisher.publish(event)
    for event in new:
        state = evolve(state, event)
    if state is None:  # decide refuses a missing CAPA, so only a domain bug gets here
        return CommandRefused(INTERNAL_ERROR, f"{command.name} left no CAPA {command.capa_id}")
    if new:
        streams.append(command.capa_id, [*events, *new], state)
    for event in new:
        if isinstance(event, CapaRootCauseRecorded):
            await publisher.publish_sighting(
                RootCauseSighting(
                    state.capa_id, state.agency, state.process, event.data.category, state.opened_at
                )
            )
    return CommandAccepted(state, tuple(new))


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
