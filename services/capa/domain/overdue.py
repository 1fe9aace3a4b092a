"""The one rule of a CAPA being overdue, for the CAPA service and for ClickHouse alike.

A CAPA is overdue on a day when one of its *running* due dates lies before that day (the
day is Vietnam's calendar day of the instant asked about). Which due dates run depends on
the status only, as this table says; the CAPA state applies it (`CapaState.overdue_since`)
and the metrics service writes its ClickHouse SQL from it
(`services.metrics.domain.capa_kpis`), so the API and the dashboards count the same CAPAs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.capa.domain.transitions import Status


class DueDate(StrEnum):
    CORRECTION = "correction"  # the CAPA's correction_due_on
    ACTION = "action"  # each action of the current plan not completed yet (its due_on)
    CLOSURE = "closure"  # the CAPA's closure_due_on


@dataclass(frozen=True, slots=True)
class RunningDueDate:
    """Due dates of `kind` run while the CAPA is in one of `while_in`."""

    kind: DueDate
    while_in: frozenset[Status]
    definition: str


FINISHED = frozenset({Status.CLOSED, Status.CANCELLED})
UNFINISHED = frozenset(Status) - FINISHED

OVERDUE_RULE: tuple[RunningDueDate, ...] = (
    RunningDueDate(
        DueDate.CORRECTION,
        frozenset({Status.OPENED}),
        "`correction_due_on`, until the correction (or any later step) is recorded",
    ),
    RunningDueDate(
        DueDate.ACTION,
        frozenset({Status.ACTIONS_PLANNED}),
        "the `due_on` of each action of the current plan not completed yet, while the plan runs",
    ),
    RunningDueDate(
        DueDate.CLOSURE,
        UNFINISHED,
        "`closure_due_on`, until the CAPA is closed or cancelled",
    ),
)


def running_kinds(status: Status) -> tuple[DueDate, ...]:
    """The kinds of due date that run in `status`."""
    return tuple(rule.kind for rule in OVERDUE_RULE if status in rule.while_in)
