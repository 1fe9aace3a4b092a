"""Factory functions with keyword overrides for CAPA commands and source events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.audit import AuditFindingRecorded
from schemas.capa import NonconformitySource, PlannedAction, Severity, SourceReference
from schemas.catalogue import parse_event
from schemas.envelope import CloudEvent
from services.capa.adapters.signing import dev_private_key, signed_command
from services.capa.domain.commands import OpenCapa, SignedCommand
from services.capa.domain.decide import decide
from services.capa.domain.evolve import fold
from services.capa.domain.state import CapaState

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def open_capa(**overrides: Any) -> OpenCapa:
    fields: dict[str, Any] = {
        "capa_id": "CAPA-1",
        "actor_id": "system:policy",
        "actor_role": "system",
        "at": T0,
        "reason": "policy",
        "source": NonconformitySource.AUDIT_FINDING,
        "reference": SourceReference(source="urn:test:audit", id="ev-1", subject="AUD-1"),
        "agency": "H56.01",
        "process": "land registration",
        "severity": Severity.MAJOR,
        "description": "Process control sheet not kept",
        "owner_id": "owner:H56.01",
        "correction_due_on": date(2026, 3, 9),
        "closure_due_on": date(2026, 4, 1),
    }
    fields.update(overrides)
    return OpenCapa(**fields)


def action(
    action_id: str = "A1", owner_id: str = "officer-0001", **overrides: Any
) -> PlannedAction:
    fields: dict[str, Any] = {
        "action_id": action_id,
        "description": "Retrain the counter staff",
        "owner_id": owner_id,
        "due_on": date(2026, 3, 20),
    }
    fields.update(overrides)
    return PlannedAction(**fields)


def signed(command: Any, state: CapaState | None) -> Any:
    """`command` signed by its actor (a development key derived from the id) over `state`."""
    assert state is not None
    return signed_command(command, state, dev_private_key(command.actor_id))


def given(*commands: Any) -> tuple[CapaState | None, list[CloudEvent]]:
    """Apply commands in order (unsigned decisions signed by their actor over the state they
    apply to); returns the state and every event."""
    events: list[CloudEvent] = []
    state: CapaState | None = None
    for command in commands:
        if isinstance(command, SignedCommand) and command.signature is None:
            command = signed(command, state)
        events += decide(command, state)
        state = fold(events)
    return state, events


def audit_finding(**data_overrides: Any) -> AuditFindingRecorded:
    raw_time = data_overrides.pop("time", T0 - timedelta(days=1))
    event_id = data_overrides.pop("id", "finding-ev-1")
    data: dict[str, Any] = {
        "finding_id": "F-1",
        "kind": "internal_audit",
        "audited_agency": "H56.01",
        "classification": "major",
        "iso_clause": "8.5.1",
        "process": "land registration",
        "description": "Process control sheet not kept for 3 of 10 dossiers",
        "auditor_id": "auditor-0001",
    }
    data.update(data_overrides)
    event = parse_event(
        {
            "id": event_id,
            "source": "urn:test:audit-tool",
            "type": "vn.qms.audit.finding_recorded.v1",
            "subject": "AUD-2026-01",
            "time": raw_time.isoformat(),
            "agencycode": "H56.01",
            "data": data,
        }
    )
    assert isinstance(event, AuditFindingRecorded)
    return event
