"""The life-cycle table is the one home of every status change."""

from __future__ import annotations

import pytest

from services.capa.domain.transitions import (
    TRANSITIONS,
    CommandName,
    Status,
    UnlistedTransition,
    allowed_commands,
    next_status,
)

pytestmark = pytest.mark.unit


def test_every_status_the_table_leads_to_is_in_the_table() -> None:
    targets = {t for commands in TRANSITIONS.values() for ts in commands.values() for t in ts}
    assert targets <= set(TRANSITIONS)
    assert set(TRANSITIONS) == set(Status)


def test_every_status_but_opened_is_reached_from_opened() -> None:
    reached, frontier = {Status.OPENED}, [Status.OPENED]
    while frontier:
        for targets in TRANSITIONS[frontier.pop()].values():
            for target in targets - reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(Status)


def test_closed_and_cancelled_admit_nothing_from_a_user() -> None:
    assert allowed_commands(Status.CLOSED) == [] and TRANSITIONS[Status.CANCELLED] == {}
    # A closed CAPA is still measured after the fact, and stays closed.
    measure = CommandName.RECORD_EFFECTIVENESS_MEASUREMENT
    assert TRANSITIONS[Status.CLOSED] == {measure: frozenset({Status.CLOSED})}


def test_only_a_measurement_reopens_a_capa_verified_effective() -> None:
    measure = CommandName.RECORD_EFFECTIVENESS_MEASUREMENT
    reopening = {
        s for s, commands in TRANSITIONS.items() if Status.REOPENED in commands.get(measure, ())
    }
    assert reopening == {Status.ACTIONS_COMPLETED, Status.VERIFIED_EFFECTIVE}
    assert "record_effectiveness_measurement" not in allowed_commands(Status.ACTIONS_COMPLETED)


def test_a_single_outcome_is_read_from_the_table() -> None:
    assert next_status(Status.OPENED, CommandName.RECORD_CORRECTION) is Status.CORRECTION_RECORDED
    assert next_status(Status.REOPENED, CommandName.PLAN_ACTIONS) is Status.ACTIONS_PLANNED


def test_two_outcomes_need_the_one_that_happened() -> None:
    verify = CommandName.VERIFY_EFFECTIVENESS
    assert next_status(Status.ACTIONS_COMPLETED, verify, Status.REOPENED) is Status.REOPENED
    with pytest.raises(UnlistedTransition, match="needs its outcome"):
        next_status(Status.ACTIONS_COMPLETED, verify)
    with pytest.raises(UnlistedTransition, match="cannot lead to"):
        next_status(Status.ACTIONS_COMPLETED, verify, Status.CLOSED)


def test_a_command_the_status_does_not_admit_has_no_next_status() -> None:
    with pytest.raises(UnlistedTransition, match="not admitted"):
        next_status(Status.CLOSED, CommandName.CANCEL)
