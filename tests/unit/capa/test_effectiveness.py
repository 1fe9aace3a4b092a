"""Effectiveness measured: given a late-dossier CAPA whose actions are done, when the
measure of the window is recorded, then effective / ineffective (and reopened, if asked)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from schemas.capa import (
    CapaEffectivenessMeasured,
    CapaReopened,
    MeasuredEffectiveness,
    NonconformitySource,
)
from services.capa.domain.commands import RecordEffectivenessMeasurement
from services.capa.domain.decide import decide
from services.capa.domain.effectiveness import (
    LATE_DOSSIERS_MEASURE,
    MeasurementWindow,
    NotMeasurable,
    measured_verdict,
    measurement_id,
)
from services.capa.domain.evolve import fold
from services.capa.domain.refusals import InvalidCommand, NotPermitted
from services.capa.domain.state import CapaState
from services.capa.domain.transitions import Status
from tests.unit.capa.factories import T0, given, open_capa
from tests.unit.capa.test_decide import full_plan

pytestmark = pytest.mark.unit

LATE = NonconformitySource.LATE_DOSSIERS
WINDOW = MeasurementWindow(T0, 30)


def done_late_dossier_capa() -> tuple[CapaState, list[Any]]:
    """A late-dossier CAPA whose two planned actions were done on T0 + 5 days."""
    state, events = given(open_capa(source=LATE, period="2026-03"), *full_plan()[1:])
    assert state is not None and state.status is Status.ACTIONS_COMPLETED
    return state, events


def measurement(state: CapaState, value: int, **overrides: Any) -> RecordEffectivenessMeasurement:
    """The checker's command for the window after the actions (or as `overrides` say)."""
    assert state.actions_completed_at is not None
    fields: dict[str, Any] = {
        "capa_id": state.capa_id,
        "actor_id": "system:effectiveness",
        "actor_role": "system",
        "at": state.actions_completed_at + timedelta(days=30, hours=1),
        "reason": "window elapsed",
        "measure": LATE_DOSSIERS_MEASURE,
        "window_start": state.actions_completed_at,
        "window_days": 30,
        "threshold": 0,
        "value": value,
        "reopen_if_ineffective": True,
    }
    fields.update(overrides)
    window = MeasurementWindow(fields["window_start"], fields["window_days"])
    fields.setdefault(
        "measurement_id", measurement_id(state.capa_id, LATE_DOSSIERS_MEASURE, window)
    )
    return RecordEffectivenessMeasurement(**fields)


def test_a_recurrence_above_the_threshold_is_ineffective_and_at_it_effective() -> None:
    assert measured_verdict(LATE, WINDOW, 2, 3) is MeasuredEffectiveness.INEFFECTIVE
    assert measured_verdict(LATE, WINDOW, 2, 2) is MeasuredEffectiveness.EFFECTIVE
    assert measured_verdict(LATE, WINDOW, 0, 0) is MeasuredEffectiveness.EFFECTIVE


def test_a_source_without_a_measure_is_not_measurable() -> None:
    with pytest.raises(NotMeasurable, match="audit_finding has no measure"):
        measured_verdict(NonconformitySource.AUDIT_FINDING, WINDOW, 0, 0)


def test_the_measurement_id_names_capa_measure_and_window_whatever_the_time_zone() -> None:
    ict = T0.astimezone(timezone(timedelta(hours=7)))
    same = measurement_id("CAPA-1", LATE_DOSSIERS_MEASURE, MeasurementWindow(ict, 30))
    assert same == measurement_id("CAPA-1", LATE_DOSSIERS_MEASURE, WINDOW)
    assert same != measurement_id("CAPA-1", LATE_DOSSIERS_MEASURE, MeasurementWindow(T0, 60))
    assert same != measurement_id("CAPA-2", LATE_DOSSIERS_MEASURE, WINDOW)


def test_late_dossiers_back_in_the_window_flag_it_ineffective_and_reopen_it() -> None:
    state, events = done_late_dossier_capa()
    new = decide(measurement(state, value=3), state)
    assert [type(e) for e in new] == [CapaEffectivenessMeasured, CapaReopened]
    measured = new[0]
    assert isinstance(measured, CapaEffectivenessMeasured)
    assert measured.data.verdict is MeasuredEffectiveness.INEFFECTIVE
    assert (measured.data.value, measured.data.threshold) == (3, 0)
    assert measured.data.window_end - measured.data.window_start == timedelta(days=30)
    after = fold([*events, *new])
    assert after is not None and after.status is Status.REOPENED
    assert after.measurements[0].verdict is MeasuredEffectiveness.INEFFECTIVE
    assert after.verifications == ()  # beside the auditor's verdict, not instead of it


def test_no_recurrence_confirms_it_effective_and_leaves_the_status() -> None:
    state, events = done_late_dossier_capa()
    new = decide(measurement(state, value=0), state)
    assert [type(e) for e in new] == [CapaEffectivenessMeasured]
    after = fold([*events, *new])
    assert after is not None and after.status is Status.ACTIONS_COMPLETED
    assert after.measurements[0].verdict is MeasuredEffectiveness.EFFECTIVE


def test_without_the_reopening_policy_an_ineffective_capa_is_only_flagged() -> None:
    state, _ = done_late_dossier_capa()
    new = decide(measurement(state, value=5, reopen_if_ineffective=False), state)
    assert [type(e) for e in new] == [CapaEffectivenessMeasured]


def test_a_second_measurement_of_the_same_window_records_nothing() -> None:
    state, events = done_late_dossier_capa()
    command = measurement(state, value=0)
    after = fold([*events, *decide(command, state)])
    assert after is not None
    assert decide(command, after) == []
    # ... and once an ineffective one reopened it, a late duplicate records nothing either.
    reopened = fold([*events, *decide(measurement(state, value=2), state)])
    assert reopened is not None and decide(measurement(state, value=2), reopened) == []


def test_a_closed_capa_is_measured_but_stays_closed() -> None:
    state, _ = done_late_dossier_capa()
    new = decide(measurement(state, value=4), replace(state, status=Status.CLOSED))
    assert [type(e) for e in new] == [CapaEffectivenessMeasured]


def test_a_capa_verified_effective_is_reopened_by_an_ineffective_measurement() -> None:
    state, _ = done_late_dossier_capa()
    verified = replace(state, status=Status.VERIFIED_EFFECTIVE)
    new = decide(measurement(state, value=4), verified)
    assert [type(e) for e in new] == [CapaEffectivenessMeasured, CapaReopened]


def test_a_window_that_has_not_elapsed_or_starts_before_the_actions_is_refused() -> None:
    state, _ = done_late_dossier_capa()
    assert state.actions_completed_at is not None
    early = measurement(state, value=0, at=state.actions_completed_at + timedelta(days=29))
    with pytest.raises(InvalidCommand, match="the window ends"):
        decide(early, state)
    before = measurement(state, value=0, window_start=state.actions_completed_at - timedelta(1))
    with pytest.raises(InvalidCommand, match="does not follow the completion"):
        decide(before, state)


def test_a_measurement_id_not_derived_from_capa_measure_and_window_is_refused() -> None:
    state, _ = done_late_dossier_capa()
    with pytest.raises(InvalidCommand, match="measurement_id is not the id"):
        decide(measurement(state, value=0, measurement_id="M-random"), state)


def test_only_a_measurable_source_and_only_the_system_record_a_measurement() -> None:
    state, _ = done_late_dossier_capa()
    audit = replace(state, source=NonconformitySource.AUDIT_FINDING)
    with pytest.raises(InvalidCommand, match="no measure to follow"):
        decide(measurement(state, value=0), audit)
    with pytest.raises(NotPermitted):
        decide(measurement(state, value=0, actor_role="auditor"), state)


def test_the_window_starts_when_the_last_action_was_done() -> None:
    state, events = done_late_dossier_capa()
    assert state.actions_completed_at == events[-1].time == datetime(2026, 3, 7, 8, tzinfo=UTC)
