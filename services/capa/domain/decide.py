"""`decide(command, state) -> events`: a command yields new events or raises a precise refusal.

The checks run in one order, so a refusal always names the first rule a command broke:
existence, permission, expected version, the transition table, the signature's binding (a
decision signed by its decider, with its meaning, over the current state hash), then the
command's own rules. Whether the signature verifies with the signer's key is checked by the
service layer (it holds the keys) before anything is published.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from schemas.capa import (
    CapaActionCompleted,
    CapaActionsPlanned,
    CapaCancelled,
    CapaClosed,
    CapaCorrectionRecorded,
    CapaEffectivenessMeasured,
    CapaEffectivenessVerified,
    CapaEscalated,
    CapaNonconformityLinked,
    CapaOpened,
    CapaRecurrenceFlagged,
    CapaReopened,
    CapaRootCauseRecorded,
    MeasuredEffectiveness,
    Severity,
    VerificationResult,
)
from schemas.catalogue import event_type_of
from schemas.envelope import CloudEvent
from services.capa.domain.commands import (
    CancelCapa,
    CloseCapa,
    Command,
    CompleteAction,
    EscalateOverdue,
    FlagRecurrence,
    OpenCapa,
    PlanActions,
    RecordCorrection,
    RecordEffectivenessMeasurement,
    RecordRootCause,
    SignedCommand,
    VerifyEffectiveness,
)
from services.capa.domain.effectiveness import (
    MeasurementWindow,
    NotMeasurable,
    measure_of,
    measured_verdict,
    measurement_id,
)
from services.capa.domain.refusals import (
    CapaNotFound,
    IllegalTransition,
    InvalidCommand,
    InvalidSignature,
    NotPermitted,
    StaleSignature,
    StaleVersion,
)
from services.capa.domain.signatures import (
    binding_fault,
    command_fields,
    decision_fields,
    state_hash,
)
from services.capa.domain.state import CapaState, local_date
from services.capa.domain.transitions import (
    PERMITTED_ROLES,
    SYSTEM_COMMANDS,
    TRANSITIONS,
    CommandName,
    Role,
    Status,
    admits,
    allowed_commands,
)

CAPA_EVENT_SOURCE = "urn:qms:capa"

E = TypeVar("E", bound=CloudEvent)


def decide(command: Command, state: CapaState | None) -> list[CloudEvent]:
    """The events `command` produces against `state` (None: the CAPA does not exist yet)."""
    _check_permitted(command)
    if isinstance(command, OpenCapa):
        return _open_or_link(command, state)
    if state is None:
        raise CapaNotFound(f"no CAPA {command.capa_id}")
    if command.expected_version is not None and command.expected_version != state.version:
        raise StaleVersion(command.expected_version, state.version)
    if command.name not in SYSTEM_COMMANDS and not admits(state.status, command.name):
        raise IllegalTransition(command.name, state.status, allowed_commands(state.status))
    if isinstance(command, SignedCommand):
        _check_signature_binding(command, state)
    handler = _HANDLERS[type(command)]
    try:
        return list(handler(command, state))
    except ValueError as exc:  # a field the event contract refuses (pydantic's error)
        if isinstance(exc, InvalidCommand):
            raise
        raise InvalidCommand(str(exc)) from exc


def _check_permitted(command: Command) -> None:
    roles = PERMITTED_ROLES[command.name]
    if command.actor_role not in roles:
        names = ", ".join(sorted(roles))
        raise NotPermitted(f"{command.name} needs one of the roles {names}")


def _check_signature_binding(command: SignedCommand, state: CapaState) -> None:
    fields = command_fields(command)
    fault = binding_fault(command.signature, command.name, fields, command.actor_id)
    if fault is not None:
        raise InvalidSignature(fault.field, fault.reason)
    assert command.signature is not None
    current = state_hash(state)
    if command.signature.state_hash != current:
        raise StaleSignature(command.signature.state_hash, current)


class _Emitter:
    """Builds the CAPA's next events: gap-free sequence, monotonic time, who and why."""

    def __init__(self, command: Command, state: CapaState | None, agency: str) -> None:
        self.command = command
        self.capa_id = command.capa_id
        self.agency = agency
        self.sequence = state.version if state else 0
        # Never earlier than the last event, so `as_of` is a prefix of the stream.
        self.time: datetime = max(command.at, state.updated_at) if state else command.at
        self.events: list[CloudEvent] = []

    def emit(self, event_class: type[E], **data: Any) -> E:
        self.sequence += 1
        data_class = event_class.model_fields["data"].annotation
        assert isinstance(data_class, type)
        event = event_class(
            id=f"{self.capa_id}/{self.sequence}",
            source=CAPA_EVENT_SOURCE,
            type=event_type_of(event_class),
            subject=self.capa_id,
            time=self.time,
            agencycode=self.agency,
            data=data_class(
                sequence=self.sequence,
                actor_id=self.command.actor_id,
                actor_role=self.command.actor_role,
                reason=self.command.reason,
                **data,
            ),
        )
        self.events.append(event)
        return event


def _open_or_link(command: OpenCapa, state: CapaState | None) -> list[CloudEvent]:
    if state is not None:
        if command.reference in state.references:
            return []  # the same source event delivered again: already recorded
        out = _Emitter(command, state, state.agency)
        out.emit(CapaNonconformityLinked, reference=command.reference)
        return out.events
    if command.closure_due_on < command.correction_due_on:
        raise InvalidCommand("the closure due date is before the correction due date")
    out = _Emitter(command, None, command.agency)
    try:
        out.emit(
            CapaOpened,
            source=command.source,
            references=[command.reference],
            agency=command.agency,
            process=command.process,
            procedure_code=command.procedure_code,
            classification=command.classification,
            severity=command.severity,
            iso_clause=command.iso_clause,
            description=command.description,
            owner_id=command.owner_id,
            correction_due_on=command.correction_due_on,
            closure_due_on=command.closure_due_on,
            period=command.period,
        )
    except ValueError as exc:
        raise InvalidCommand(str(exc)) from exc
    return out.events


def _record_correction(command: RecordCorrection, state: CapaState) -> list[CloudEvent]:
    out = _Emitter(command, state, state.agency)
    out.emit(CapaCorrectionRecorded, correction=command.correction)
    return out.events


def _record_root_cause(command: RecordRootCause, state: CapaState) -> list[CloudEvent]:
    out = _Emitter(command, state, state.agency)
    out.emit(
        CapaRootCauseRecorded,
        method=command.method,
        category=command.category,
        text=command.text,
    )
    return out.events


def _plan_actions(command: PlanActions, state: CapaState) -> list[CloudEvent]:
    if not command.actions:
        raise InvalidCommand("a plan needs at least one action")
    ids = [a.action_id for a in command.actions]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InvalidCommand(f"action ids must be unique; repeated: {', '.join(duplicates)}")
    out = _Emitter(command, state, state.agency)
    out.emit(CapaActionsPlanned, actions=list(command.actions))
    return out.events


def _complete_action(command: CompleteAction, state: CapaState) -> list[CloudEvent]:
    action = next((a for a in state.actions if a.action_id == command.action_id), None)
    if action is None:
        known = ", ".join(a.action_id for a in state.actions)
        raise InvalidCommand(f"no action {command.action_id!r} in the plan (actions: {known})")
    if action.done:
        raise InvalidCommand(f"action {command.action_id!r} was completed on {action.completed_on}")
    out = _Emitter(command, state, state.agency)
    out.emit(
        CapaActionCompleted,
        action_id=command.action_id,
        completed_on=command.completed_on or local_date(out.time),
        evidence=list(command.evidence),
    )
    return out.events


def _verify(command: VerifyEffectiveness, state: CapaState) -> list[CloudEvent]:
    if command.actor_id in state.implementers():
        raise InvalidCommand(
            f"{command.actor_id} owns or completed an action of this CAPA: effectiveness "
            "must be verified by someone other than the implementers (ISO 9001 §10.2.1 d)"
        )
    assert command.signature is not None  # decide checked it is there
    signed = decision_fields(command.name, command_fields(command), command.signature.signed_at)
    out = _Emitter(command, state, state.agency)
    out.emit(
        CapaEffectivenessVerified,
        result=command.result,
        verified_on=date.fromisoformat(signed["verified_on"]),
        evidence=list(command.evidence),
        signature=command.signature,
    )
    if command.result is VerificationResult.INEFFECTIVE:
        out.emit(CapaReopened)
    return out.events


def _close(command: CloseCapa, state: CapaState) -> list[CloudEvent]:
    out = _Emitter(command, state, state.agency)
    out.emit(CapaClosed, closed_on=local_date(out.time), signature=command.signature)
    return out.events


def _cancel(command: CancelCapa, state: CapaState) -> list[CloudEvent]:
    if not command.justification.strip():
        raise InvalidCommand("a cancellation needs a justification")
    out = _Emitter(command, state, state.agency)
    out.emit(CapaCancelled, justification=command.justification, signature=command.signature)
    return out.events


def _escalate(command: EscalateOverdue, state: CapaState) -> list[CloudEvent]:
    out = _Emitter(command, state, state.agency)
    escalations = len(state.escalated_due_dates)
    for due in state.due_dates_to_escalate(command.today):
        # First escalation of a minor CAPA goes to the ISO secretary, anything more to leaders.
        first_minor = escalations == 0 and state.severity is Severity.MINOR
        to = Role.ISO_SECRETARY if first_minor else Role.LEADER
        out.emit(CapaEscalated, overdue_since=due, escalated_to=to.value)
        escalations += 1
    return out.events


def _flag_recurrence(command: FlagRecurrence, state: CapaState) -> list[CloudEvent]:
    earlier = command.earlier_capa_id
    if earlier == state.capa_id or earlier in state.recurrence_of:
        return []
    out = _Emitter(command, state, state.agency)
    out.emit(CapaRecurrenceFlagged, earlier_capa_id=earlier, root_cause_category=command.category)
    return out.events


def _record_measurement(
    command: RecordEffectivenessMeasurement, state: CapaState
) -> list[CloudEvent]:
    if any(m.measurement_id == command.measurement_id for m in state.measurements):
        return []  # a second checker, or the same one again: measured once
    if not admits(state.status, _MEASURE):
        return []  # a new plan is under way (or the CAPA was cancelled): nothing to measure
    try:
        measure = measure_of(state.source)
    except NotMeasurable as exc:
        raise InvalidCommand(str(exc)) from exc
    if command.measure != measure:
        raise InvalidCommand(f"a CAPA from {state.source.value} is measured by {measure}")
    window = MeasurementWindow(command.window_start, command.window_days)
    if command.measurement_id != measurement_id(state.capa_id, measure, window):
        raise InvalidCommand("measurement_id is not the id of this CAPA, measure and window")
    if state.actions_completed_at is None or not window.follows(state.actions_completed_at):
        raise InvalidCommand(
            f"the window starting {command.window_start.isoformat()} does not follow the "
            f"completion of the current plan ({state.actions_completed_at})"
        )
    if not window.elapsed_by(command.at):
        raise InvalidCommand(f"the window ends {window.end.isoformat()}, after {command.at}")
    verdict = measured_verdict(state.source, window, command.threshold, command.value)
    out = _Emitter(command, state, state.agency)
    out.emit(
        CapaEffectivenessMeasured,
        measurement_id=command.measurement_id,
        measure=measure,
        window_start=window.start,
        window_end=window.end,
        threshold=command.threshold,
        value=command.value,
        verdict=verdict,
    )
    ineffective = verdict is MeasuredEffectiveness.INEFFECTIVE
    reopenable = Status.REOPENED in TRANSITIONS[state.status][_MEASURE]
    if ineffective and command.reopen_if_ineffective and reopenable:
        out.emit(CapaReopened)
    return out.events


_MEASURE = CommandName.RECORD_EFFECTIVENESS_MEASUREMENT

_HANDLERS: dict[type[Command], Callable[[Any, CapaState], list[CloudEvent]]] = {
    RecordCorrection: _record_correction,
    RecordRootCause: _record_root_cause,
    PlanActions: _plan_actions,
    CompleteAction: _complete_action,
    VerifyEffectiveness: _verify,
    CloseCapa: _close,
    CancelCapa: _cancel,
    EscalateOverdue: _escalate,
    FlagRecurrence: _flag_recurrence,
    RecordEffectivenessMeasurement: _record_measurement,
}
