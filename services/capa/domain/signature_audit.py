"""Check every signature of a CAPA's history offline: replay the events, recompute each
state hash, verify each signature with the signer's registered key.

A decision event (effectiveness verified, closed, cancelled) passes when it is signed, its
`state_hash` is the hash of the state its predecessors fold to, its signer is its actor,
its meaning is the decision's, and the signature verifies. Any change to an earlier event
changes the state hash; any change to the decision event breaks its signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schemas.envelope import CloudEvent
from services.capa.domain.evolve import evolve, sequence_of
from services.capa.domain.refusals import InvalidEvent
from services.capa.domain.signatures import (
    SIGNED_EVENTS,
    SignatureFault,
    SigningKeys,
    binding_fault,
    key_fault,
    state_hash,
)
from services.capa.domain.state import CapaState
from services.capa.domain.transitions import CommandName


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome for one decision event: `fault` is None when its signature holds."""

    capa_id: str
    sequence: int
    event_type: str
    signer_id: str | None
    meaning: str | None
    fault: SignatureFault | None

    @property
    def ok(self) -> bool:
        return self.fault is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "capa_id": self.capa_id,
            "sequence": self.sequence,
            "event_type": self.event_type,
            "signer_id": self.signer_id,
            "meaning": self.meaning,
            "ok": self.ok,
            "field": self.fault.field if self.fault else None,
            "reason": self.fault.reason if self.fault else None,
        }


def signature_of(event: CloudEvent) -> Any:
    """The signature a decision event carries (None when it is unsigned or no decision)."""
    return getattr(getattr(event, "data", None), "signature", None)


def check_signatures(events: Iterable[CloudEvent], keys: SigningKeys) -> list[SignatureCheck]:
    """Replay `events` (one CAPA, in order) and check the signature of each decision."""
    checks: list[SignatureCheck] = []
    state: CapaState | None = None
    for event in events:
        command = SIGNED_EVENTS.get(type(event))
        if command is not None:
            checks.append(_check(event, state, keys, command))
        try:
            state = evolve(state, event)
        except InvalidEvent as exc:
            fault = SignatureFault("history", f"the history does not replay: {exc}")
            position = _sequence(event)
            checks.append(SignatureCheck(event.subject, position, event.type, None, None, fault))
            break
    return checks


def _sequence(event: CloudEvent) -> int:
    try:
        return sequence_of(event)
    except InvalidEvent:
        return 0


def _check(
    event: CloudEvent, state: CapaState | None, keys: SigningKeys, command: CommandName
) -> SignatureCheck:
    signature = signature_of(event)
    data: Any = getattr(event, "data", None)
    fields = data.model_dump(mode="json")
    fault = binding_fault(signature, command, fields, data.actor_id)
    if fault is None and state is None:
        fault = SignatureFault("history", "a decision before the CAPA was opened")
    folded = state_hash(state) if fault is None and state is not None else None
    if folded is not None and signature.state_hash != folded:
        fault = SignatureFault(
            "signature.state_hash",
            f"signed over state {signature.state_hash}, but the events before it fold to "
            f"{folded}: an earlier event was changed, dropped or reordered",
        )
    if fault is None:
        fault = key_fault(keys, signature, capa_id=event.subject, command=command, fields=fields)
    return SignatureCheck(
        event.subject,
        data.sequence,
        event.type,
        signature.signer_id if signature else None,
        signature.meaning.value if signature else None,
        fault,
    )
