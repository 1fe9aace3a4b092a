"""`evolve(state, event) -> state`: the one place a CAPA changes; `fold` replays a stream."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from schemas.capa import (
    CapaActionCompleted,
    CapaActionsPlanned,
    CapaCancelled,
    CapaClosed,
    CapaCorrectionRecorded,
    CapaEffectivenessMeasured,
    CapaEffectivenessVerified,
    CapaEscalated,
    CapaEventData,
    CapaNonconformityLinked,
    CapaOpened,
    CapaRecurrenceFlagged,
    CapaReopened,
    CapaRootCauseRecorded,
    VerificationResult,
)
from schemas.envelope import CloudEvent
from services.capa.domain.refusals import InvalidEvent
from services.capa.domain.state import Action, CapaState, Measurement, RootCause, Verification
from services.capa.domain.transitions import CommandName, Status, UnlistedTransition, next_status

_C = CommandName


def evolve(state: CapaState | None, event: CloudEvent) -> CapaState:
    """Apply one event. Refuses an event that does not follow (wrong CAPA or sequence)."""
    if isinstance(event, CapaOpened):
        if state is not None:
            raise InvalidEvent(f"{event.subject} is already open")
        return _opened(event)
    if state is None:
        raise InvalidEvent(f"{event.type} for {event.subject} before the CAPA was opened")
    sequence = sequence_of(event)
    if event.subject != state.capa_id or sequence != state.version + 1:
        raise InvalidEvent(
            f"event {event.id} (sequence {sequence}) does not follow "
            f"{state.capa_id} at version {state.version}"
        )
    apply = _APPLIERS.get(type(event))
    if apply is None:
        raise InvalidEvent(f"{event.type} is not a CAPA event")
    changed = apply(state, event)
    return replace(changed, version=sequence, updated_at=max(state.updated_at, event.time))


def fold(events: Iterable[CloudEvent], until: datetime | None = None) -> CapaState | None:
    """Replay a stream; a redelivered event (sequence already applied) is skipped.

    With `until`, only the events that happened up to then: the state as of that moment.
    """
    state: CapaState | None = None
    for event in events:
        if until is not None and event.time > until:
            break  # event times never go back within a stream (decide keeps them monotonic)
        if state is not None and sequence_of(event) <= state.version:
            continue
        state = evolve(state, event)
    return state


def sequence_of(event: CloudEvent) -> int:
    """The event's position in its CAPA's stream."""
    data = getattr(event, "data", None)
    if not isinstance(data, CapaEventData):
        raise InvalidEvent(f"{event.type} is not a CAPA event")
    return data.sequence


def _opened(event: CapaOpened) -> CapaState:
    data = event.data
    if data.sequence != 1:
        raise InvalidEvent(f"{event.subject}: opened must be sequence 1, got {data.sequence}")
    return CapaState(
        capa_id=event.subject,
        version=1,
        status=Status.OPENED,
        source=data.source,
        references=tuple(data.references),
        agency=data.agency,
        process=data.process,
        procedure_code=data.procedure_code,
        classification=data.classification,
        severity=data.severity,
        iso_clause=data.iso_clause,
        description=data.description,
        owner_id=data.owner_id,
        correction_due_on=data.correction_due_on,
        closure_due_on=data.closure_due_on,
        period=data.period,
        opened_at=event.time,
        updated_at=event.time,
    )


def _lead(state: CapaState, command: CommandName, outcome: Status | None = None) -> Status:
    """The status `command` leads to, as the life-cycle table draws it."""
    try:
        return next_status(state.status, command, outcome)
    except UnlistedTransition as exc:
        raise InvalidEvent(f"{state.capa_id}: {exc}") from exc


def _linked(state: CapaState, event: CapaNonconformityLinked) -> CapaState:
    return replace(state, references=(*state.references, event.data.reference))


def _correction(state: CapaState, event: CapaCorrectionRecorded) -> CapaState:
    status = _lead(state, _C.RECORD_CORRECTION)
    return replace(state, status=status, correction=event.data.correction)


def _root_cause(state: CapaState, event: CapaRootCauseRecorded) -> CapaState:
    data = event.data
    cause = RootCause(data.method, data.category, data.text, event.time)
    return replace(state, status=_lead(state, _C.RECORD_ROOT_CAUSE), root_cause=cause)


def _planned(state: CapaState, event: CapaActionsPlanned) -> CapaState:
    actions = tuple(
        Action(a.action_id, a.description, a.owner_id, a.due_on) for a in event.data.actions
    )
    return replace(
        state,
        status=_lead(state, _C.PLAN_ACTIONS),
        actions=actions,
        plan_rounds=state.plan_rounds + 1,
        actions_completed_at=None,
    )


def _action_completed(state: CapaState, event: CapaActionCompleted) -> CapaState:
    data = event.data
    actions = tuple(
        replace(
            a,
            completed_on=data.completed_on,
            completed_by=data.actor_id,
            evidence=tuple(data.evidence),
        )
        if a.action_id == data.action_id
        else a
        for a in state.actions
    )
    done = all(a.done for a in actions)
    outcome = Status.ACTIONS_COMPLETED if done else Status.ACTIONS_PLANNED
    return replace(
        state,
        actions=actions,
        status=_lead(state, _C.COMPLETE_ACTION, outcome),
        actions_completed_at=event.time if done else None,
    )


def _verified(state: CapaState, event: CapaEffectivenessVerified) -> CapaState:
    data = event.data
    check = Verification(data.actor_id, data.result, data.verified_on, tuple(data.evidence))
    # An ineffective result is followed by `reopened`, which moves the status.
    status = (
        _lead(state, _C.VERIFY_EFFECTIVENESS, Status.VERIFIED_EFFECTIVE)
        if data.result is VerificationResult.EFFECTIVE
        else state.status
    )
    return replace(state, verifications=(*state.verifications, check), status=status)


def _closed(state: CapaState, event: CapaClosed) -> CapaState:
    return replace(state, status=_lead(state, _C.CLOSE), closed_on=event.data.closed_on)


def _reopened(state: CapaState, event: CapaReopened) -> CapaState:
    # After an ineffective verification, or a measurement that found the nonconformity back
    # (the only way a CAPA verified effective is reopened).
    led_by = (
        _C.VERIFY_EFFECTIVENESS
        if state.status is Status.ACTIONS_COMPLETED
        else _C.RECORD_EFFECTIVENESS_MEASUREMENT
    )
    return replace(state, status=_lead(state, led_by, Status.REOPENED))


def _measured(state: CapaState, event: CapaEffectivenessMeasured) -> CapaState:
    data = event.data
    _lead(state, _C.RECORD_EFFECTIVENESS_MEASUREMENT, state.status)  # admitted, status kept
    measurement = Measurement(
        data.measurement_id,
        data.measure,
        data.window_start,
        data.window_end,
        data.threshold,
        data.value,
        data.verdict,
    )
    return replace(state, measurements=(*state.measurements, measurement))


def _cancelled(state: CapaState, event: CapaCancelled) -> CapaState:
    status = _lead(state, _C.CANCEL)
    return replace(state, status=status, cancellation=event.data.justification)


def _escalated(state: CapaState, event: CapaEscalated) -> CapaState:
    dates = (*state.escalated_due_dates, event.data.overdue_since)
    return replace(state, escalated_due_dates=dates)


def _recurrence(state: CapaState, event: CapaRecurrenceFlagged) -> CapaState:
    return replace(state, recurrence_of=(*state.recurrence_of, event.data.earlier_capa_id))


_APPLIERS: dict[type[CloudEvent], Callable[[CapaState, Any], CapaState]] = {
    CapaNonconformityLinked: _linked,
    CapaCorrectionRecorded: _correction,
    CapaRootCauseRecorded: _root_cause,
    CapaActionsPlanned: _planned,
    CapaActionCompleted: _action_completed,
    CapaEffectivenessVerified: _verified,
    CapaClosed: _closed,
    CapaReopened: _reopened,
    CapaCancelled: _cancelled,
    CapaEscalated: _escalated,
    CapaRecurrenceFlagged: _recurrence,
    CapaEffectivenessMeasured: _measured,
}
