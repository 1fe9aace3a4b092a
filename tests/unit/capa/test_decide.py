"""Scenarios: given events, when a command, then events (or a refusal)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from schemas.capa import (
    CapaActionCompleted,
    CapaClosed,
    CapaEffectivenessVerified,
    CapaEscalated,
    CapaNonconformityLinked,
    CapaOpened,
    CapaReopened,
    RootCauseCategory,
    RootCauseMethod,
    SourceReference,
    VerificationResult,
)
from services.capa.domain.commands import (
    CancelCapa,
    CloseCapa,
    CompleteAction,
    EscalateOverdue,
    FlagRecurrence,
    PlanActions,
    RecordCorrection,
    RecordRootCause,
    VerifyEffectiveness,
)
from services.capa.domain.decide import decide
from services.capa.domain.evolve import fold
from services.capa.domain.refusals import (
    CapaNotFound,
    IllegalTransition,
    InvalidCommand,
    NotPermitted,
    StaleVersion,
)
from services.capa.domain.transitions import Status
from tests.unit.capa.factories import T0, action, given, open_capa, signed

pytestmark = pytest.mark.unit

OWNER: dict[str, Any] = {
    "actor_id": "owner:H56.01",
    "actor_role": "capa_owner",
    "capa_id": "CAPA-1",
}
SECRETARY: dict[str, Any] = {
    "actor_id": "secretary-01",
    "actor_role": "iso_secretary",
    "capa_id": "CAPA-1",
}
AUDITOR: dict[str, Any] = {"actor_id": "auditor-0009", "actor_role": "auditor", "capa_id": "CAPA-1"}


def at(days: int) -> dict[str, Any]:
    return {"at": T0 + timedelta(days=days)}


def full_plan() -> list[object]:
    return [
        open_capa(),
        RecordCorrection(**OWNER, **at(1), reason="stop the bleeding", correction="Sheets re-done"),
        RecordRootCause(
            **OWNER,
            **at(2),
            reason="5 whys",
            method=RootCauseMethod.FIVE_WHYS,
            category=RootCauseCategory.PROCESS,
            text="No step owner for archiving",
        ),
        PlanActions(**OWNER, **at(3), reason="plan", actions=(action("A1"), action("A2"))),
        CompleteAction(**OWNER, **at(4), reason="done", action_id="A1", evidence=("doc-1",)),
        CompleteAction(**OWNER, **at(5), reason="done", action_id="A2"),
    ]


def test_an_opened_capa_starts_at_version_one() -> None:
    state, events = given(open_capa())
    assert [type(e) for e in events] == [CapaOpened]
    assert state is not None and state.version == 1 and state.status is Status.OPENED
    assert events[0].id == "CAPA-1/1" and events[0].subject == "CAPA-1"


def test_the_same_source_event_twice_opens_one_capa() -> None:
    state, events = given(open_capa(), open_capa())
    assert len(events) == 1 and state is not None and state.version == 1


def test_another_occurrence_is_linked() -> None:
    other = SourceReference(source="urn:test:audit", id="ev-2", subject="D-2")
    state, events = given(open_capa(), open_capa(reference=other, at=T0 + timedelta(hours=1)))
    assert isinstance(events[1], CapaNonconformityLinked)
    assert state is not None and len(state.references) == 2


def test_full_life_cycle_closes_after_an_effective_verification() -> None:
    state, events = given(
        *full_plan(),
        VerifyEffectiveness(
            **AUDITOR, **at(6), reason="sampled 10", result=VerificationResult.EFFECTIVE
        ),
        CloseCapa(**SECRETARY, **at(7), reason="verified"),
    )
    assert state is not None and state.status is Status.CLOSED
    assert isinstance(events[-1], CapaClosed) and state.version == len(events) == 8
    assert [e.data.sequence for e in events] == list(range(1, 9))  # type: ignore[attr-defined]
    assert all(isinstance(e.data.reason, str) for e in events)  # type: ignore[attr-defined]


def test_ineffective_verification_reopens_for_a_new_plan() -> None:
    state, events = given(
        *full_plan(),
        VerifyEffectiveness(
            **AUDITOR, **at(6), reason="still late", result=VerificationResult.INEFFECTIVE
        ),
    )
    assert [type(e) for e in events[-2:]] == [CapaEffectivenessVerified, CapaReopened]
    assert state is not None and state.status is Status.REOPENED
    replanned = decide(
        PlanActions(**OWNER, **at(7), reason="again", actions=(action("B1"),)), state
    )
    assert fold([*events, *replanned]).status is Status.ACTIONS_PLANNED  # type: ignore[union-attr]


def test_an_action_owner_cannot_verify() -> None:
    state, _ = given(*full_plan())
    verifier = {**AUDITOR, "actor_id": "officer-0001"}
    with pytest.raises(InvalidCommand, match="other than the implementers"):
        verify = VerifyEffectiveness(**verifier, **at(6), result=VerificationResult.EFFECTIVE)
        decide(signed(verify, state), state)


def test_illegal_transition_names_status_and_allowed_commands() -> None:
    state, _ = given(open_capa())
    with pytest.raises(IllegalTransition) as refused:
        decide(signed(CloseCapa(**SECRETARY, **at(1)), state), state)
    assert refused.value.status == "opened"
    assert refused.value.allowed == ["cancel", "record_correction", "record_root_cause"]


def test_stale_expected_version_is_refused() -> None:
    state, _ = given(open_capa())
    command = RecordCorrection(**OWNER, **at(1), correction="x", expected_version=3)
    with pytest.raises(StaleVersion) as refused:
        decide(command, state)
    assert (refused.value.expected, refused.value.actual) == (3, 1)


def test_cancel_needs_an_iso_secretary_and_a_justification() -> None:
    state, _ = given(open_capa())
    with pytest.raises(NotPermitted):
        decide(CancelCapa(**OWNER, **at(1), justification="duplicate"), state)
    with pytest.raises(InvalidCommand):
        decide(signed(CancelCapa(**SECRETARY, **at(1), justification="  "), state), state)
    cancel = CancelCapa(**SECRETARY, **at(1), justification="duplicate of CAPA-0")
    events = decide(signed(cancel, state), state)
    assert fold([*given(open_capa())[1], *events]).status is Status.CANCELLED  # type: ignore[union-attr]


def test_commands_on_an_unknown_capa_are_not_found() -> None:
    with pytest.raises(CapaNotFound):
        decide(RecordCorrection(**OWNER, **at(1), correction="x"), None)


def test_unknown_or_repeated_action_completion_is_refused() -> None:
    state, _ = given(*full_plan()[:4])
    with pytest.raises(InvalidCommand, match="no action 'Z9'"):
        decide(CompleteAction(**OWNER, **at(4), action_id="Z9"), state)
    state, _ = given(*full_plan()[:5])
    with pytest.raises(InvalidCommand, match="was completed"):
        decide(CompleteAction(**OWNER, **at(5), action_id="A1"), state)
    partly = decide(CompleteAction(**OWNER, **at(5), action_id="A2"), state)
    assert isinstance(partly[0], CapaActionCompleted)


def test_escalation_once_per_passed_due_date() -> None:
    state, events = given(open_capa())
    system: dict[str, Any] = {
        "actor_id": "system:timer",
        "actor_role": "system",
        "capa_id": "CAPA-1",
    }
    assert state is not None
    assert decide(EscalateOverdue(**system, **at(1), today=date(2026, 3, 9)), state) == []
    late = decide(EscalateOverdue(**system, **at(8), today=date(2026, 3, 10)), state)
    assert [e.data.overdue_since for e in late] == [date(2026, 3, 9)]  # type: ignore[attr-defined]
    assert isinstance(late[0], CapaEscalated) and late[0].data.escalated_to == "leader"
    escalated = fold([*events, *late])
    assert escalated is not None and escalated.is_overdue(date(2026, 3, 10))
    again = decide(EscalateOverdue(**system, **at(9), today=date(2026, 3, 11)), escalated)
    assert again == []


def test_closed_capa_is_never_overdue() -> None:
    state, _ = given(
        *full_plan(),
        VerifyEffectiveness(**AUDITOR, **at(6), result=VerificationResult.EFFECTIVE),
        CloseCapa(**SECRETARY, **at(7)),
    )
    assert state is not None and not state.is_overdue(date(2030, 1, 1))


def test_recurrence_is_flagged_once() -> None:
    state, events = given(open_capa())
    system: dict[str, Any] = {
        "actor_id": "system:recurrence",
        "actor_role": "system",
        "capa_id": "CAPA-1",
    }
    flag = FlagRecurrence(
        **system, **at(1), earlier_capa_id="CAPA-0", category=RootCauseCategory.PROCESS
    )
    first = decide(flag, state)
    assert len(first) == 1
    assert decide(flag, fold([*events, *first])) == []


def test_event_time_never_goes_back() -> None:
    state, events = given(open_capa(at=T0 + timedelta(days=3)))
    assert state is not None
    late_clock = decide(RecordCorrection(**OWNER, **at(1), correction="x"), state)
    assert late_clock[0].time == events[0].time


def test_as_of_folds_the_events_up_to_then() -> None:
    _, events = given(*full_plan())
    assert fold(events, until=T0 + timedelta(days=2, hours=1)).status is Status.ROOT_CAUSE_RECORDED  # type: ignore[union-attr]
    assert fold(events, until=T0 - timedelta(days=1)) is None


def test_redelivered_events_are_skipped_on_replay() -> None:
    state, events = given(*full_plan())
    assert fold([events[0], *events, events[3]]) == state
    assert replace(state, version=1) != state  # type: ignore[type-var]
