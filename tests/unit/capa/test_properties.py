"""Properties: any command sequence leaves a valid state; replaying the stream reproduces it."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import event as hypothesis_event
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.binding import from_kafka_value, to_kafka_record
from schemas.capa import (
    CapaEffectivenessVerified,
    NonconformitySource,
    RootCauseCategory,
    RootCauseMethod,
    SourceReference,
    VerificationResult,
)
from schemas.envelope import CloudEvent
from services.capa.domain.commands import (
    CancelCapa,
    CloseCapa,
    Command,
    CompleteAction,
    EscalateOverdue,
    FlagRecurrence,
    PlanActions,
    RecordCorrection,
    RecordEffectivenessMeasurement,
    RecordRootCause,
    SignedCommand,
    VerifyEffectiveness,
)
from services.capa.domain.decide import decide
from services.capa.domain.effectiveness import (
    LATE_DOSSIERS_MEASURE,
    MeasurementWindow,
    measurement_id,
)
from services.capa.domain.evolve import fold, sequence_of
from services.capa.domain.refusals import Refusal
from services.capa.domain.state import CapaState
from services.capa.domain.transitions import PERMITTED_ROLES, TRANSITIONS, CommandName, Status
from tests.unit.capa.factories import T0, action, open_capa, signed

pytestmark = pytest.mark.unit

PEOPLE = ["owner:H56.01", "officer-0001", "officer-0002", "auditor-0009", "secretary-01"]
ROLES = ["capa_owner", "iso_secretary", "auditor", "leader", "viewer", "system"]
ACTION_IDS = ["A1", "A2", "A3"]


def _who() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"actor_id": st.sampled_from(PEOPLE), "actor_role": st.sampled_from(ROLES)}
    )


def _command_specs() -> st.SearchStrategy[tuple[str, dict[str, Any], Any]]:
    kinds = st.sampled_from(
        [
            "correction",
            "root_cause",
            "plan",
            "complete",
            "verify",
            "close",
            "cancel",
            "escalate",
            "recur",
            "measure",
            "link",
            "stale",
        ]
    )
    # Half the steps take a legal next step, so deep states (closed, reopened) are reached.
    kinds = st.one_of(kinds, st.just("progress"), st.just("progress"), st.just("progress"))
    return st.tuples(kinds, _who(), st.integers(min_value=0, max_value=400))


def _build(kind: str, who: dict[str, Any], n: int, step: int, state: CapaState) -> Command:
    if kind == "progress":
        allowed = sorted(TRANSITIONS[state.status])
        if not allowed:
            kind = "escalate"
        else:
            name = allowed[n % len(allowed)]
            if name == CommandName.CANCEL and n % 3:
                name = allowed[(n + 1) % len(allowed)]  # cancel less often
            kind = _KIND_OF[name]
            role = sorted(PERMITTED_ROLES[name])[n % len(PERMITTED_ROLES[name])]
            who = {
                "actor_id": "auditor-0009" if kind == "verify" else who["actor_id"],
                "actor_role": role,
            }
    common: dict[str, Any] = {
        "capa_id": "CAPA-1",
        "at": T0 + timedelta(hours=step * 7 - 20),  # sometimes before the last event
        "reason": f"step {step}",
        "expected_version": state.version if n % 5 else None,
        **who,
    }
    if kind == "correction":
        return RecordCorrection(**common, correction=f"fix {n}")
    if kind == "root_cause":
        return RecordRootCause(
            **common,
            method=list(RootCauseMethod)[n % 4],
            category=list(RootCauseCategory)[n % 6],
            text=f"cause {n}",
        )
    if kind == "plan":
        owners = PEOPLE[: 1 + n % 3]
        actions = tuple(action(ACTION_IDS[i], owners[i % len(owners)]) for i in range(1 + n % 3))
        return PlanActions(**common, actions=actions)
    if kind == "complete":
        pending = [a.action_id for a in state.actions if not a.done]
        action_id = pending[0] if pending and n % 4 else ACTION_IDS[n % 3]
        return CompleteAction(**common, action_id=action_id, evidence=(f"e{n}",))
    if kind == "verify":
        result = VerificationResult.EFFECTIVE if n % 2 else VerificationResult.INEFFECTIVE
        return VerifyEffectiveness(**common, result=result)
    if kind == "close":
        return CloseCapa(**common)
    if kind == "cancel":
        return CancelCapa(**common, justification=f"dup {n}" if n % 4 == 0 else " ")
    if kind == "escalate":
        return EscalateOverdue(**common, today=date(2026, 3, 1) + timedelta(days=n % 90))
    if kind == "recur":
        return FlagRecurrence(
            **common, earlier_capa_id=f"CAPA-{n % 3}", category=RootCauseCategory.PROCESS
        )
    if kind == "measure":
        start = state.actions_completed_at or T0
        at = start + timedelta(days=1 + n % 2) if n % 4 else common["at"]
        return RecordEffectivenessMeasurement(
            **{**common, "at": at},
            measurement_id=measurement_id(
                "CAPA-1", LATE_DOSSIERS_MEASURE, MeasurementWindow(start, 1)
            )
            if n % 5
            else f"M-{n}",
            measure=LATE_DOSSIERS_MEASURE,
            window_start=start,
            window_days=1,
            threshold=1,
            value=n % 3,
            reopen_if_ineffective=bool(n % 2),
        )
    if kind == "link":
        reference = SourceReference(source="urn:test:audit", id=f"ev-{n % 4}", subject="D-1")
        return open_capa(reference=reference, **{**common, "actor_role": "system"})
    return RecordCorrection(**{**common, "expected_version": state.version + 1 + n}, correction="x")


_KIND_OF = {
    CommandName.RECORD_CORRECTION: "correction",
    CommandName.RECORD_ROOT_CAUSE: "root_cause",
    CommandName.PLAN_ACTIONS: "plan",
    CommandName.COMPLETE_ACTION: "complete",
    CommandName.VERIFY_EFFECTIVENESS: "verify",
    CommandName.CLOSE: "close",
    CommandName.CANCEL: "cancel",
    CommandName.RECORD_EFFECTIVENESS_MEASUREMENT: "measure",
}


def assert_valid(state: CapaState, events: list[CloudEvent]) -> None:
    """The invariants every reachable state keeps."""
    assert state.version == len(events)
    assert [sequence_of(e) for e in events] == list(range(1, len(events) + 1))
    assert all(a.time <= b.time for a, b in itertools.pairwise(events))
    assert state.status in TRANSITIONS
    assert len(set(state.references)) == len(state.references)
    assert len(set(state.escalated_due_dates)) == len(state.escalated_due_dates)
    assert state.capa_id not in state.recurrence_of
    measured = [m.measurement_id for m in state.measurements]
    assert len(set(measured)) == len(measured)
    after_cause = {
        Status.ROOT_CAUSE_RECORDED,
        Status.ACTIONS_PLANNED,
        Status.ACTIONS_COMPLETED,
        Status.VERIFIED_EFFECTIVE,
        Status.CLOSED,
    }
    if state.status in after_cause - {Status.ROOT_CAUSE_RECORDED}:
        assert state.actions and state.root_cause is not None
    if state.status in {Status.ACTIONS_COMPLETED, Status.VERIFIED_EFFECTIVE, Status.CLOSED}:
        assert all(a.done for a in state.actions)
    if state.status is Status.ACTIONS_PLANNED:
        assert not all(a.done for a in state.actions)
    if state.status in {Status.VERIFIED_EFFECTIVE, Status.CLOSED}:
        assert state.verifications[-1].result is VerificationResult.EFFECTIVE
    if state.status is Status.CLOSED:
        assert state.closed_on is not None
    if state.status is Status.CANCELLED:
        assert state.cancellation and state.cancellation.strip()


@settings(max_examples=300, deadline=None)
@given(st.lists(_command_specs(), max_size=40))
def test_any_command_sequence_leaves_a_valid_replayable_state(
    specs: list[tuple[str, dict[str, Any], int]],
) -> None:
    # A late-dossier CAPA: its measurements are recorded too (other sources have no measure).
    events = decide(open_capa(source=NonconformitySource.LATE_DOSSIERS), None)
    state = fold(events)
    assert state is not None
    for step, (kind, who, n) in enumerate(specs, start=1):
        command = _build(kind, who, n, step, state)
        if isinstance(command, SignedCommand):
            command = signed(command, state)
        try:
            new = decide(command, state)
        except Refusal:
            continue
        for produced in new:
            if isinstance(produced, CapaEffectivenessVerified):
                assert produced.data.actor_id not in state.implementers()
        events += new
        state = fold(events)
        assert state is not None
        assert_valid(state, events)
    hypothesis_event(f"final status: {state.status.value}")
    # Replaying the stream as it travels on Kafka reproduces the state exactly.
    replayed = [from_kafka_value(to_kafka_record(e).value) for e in events]
    assert fold(replayed) == state
    # ... and the as-of view at the last event's time is the state itself.
    assert fold(replayed, until=events[-1].time) == state
