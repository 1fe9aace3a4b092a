"""One CAPA "overdue": the CAPA service's summary (its domain, folded as of T) and the
ClickHouse board (real chDB, the SQL written from the same rule) count the same CAPAs at the
same instant, as of T and as known now; the board as of T ignores events dated after T."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from schemas.capa import PlannedAction, RootCauseCategory, RootCauseMethod, VerificationResult
from schemas.envelope import CloudEvent
from services.capa.domain.commands import (
    CancelCapa,
    CloseCapa,
    Command,
    CompleteAction,
    PlanActions,
    RecordCorrection,
    RecordRootCause,
    SignedCommand,
    VerifyEffectiveness,
)
from services.capa.domain.decide import decide
from services.capa.domain.evolve import fold
from services.capa.domain.state import CapaState, local_date
from services.capa.domain.summary import summarise
from services.metrics.adapters import kpi_queries
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.domain.kpi_catalogue import EventsKnown
from tests.integration.metrics.conftest import insert_events
from tests.unit.capa.factories import open_capa, signed

pytestmark = pytest.mark.integration

T = datetime(2026, 3, 25, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam, 25 March
COUNTED = ("capas", "backlog", "overdue", "closed", "cancelled")


def day(d: int, month: int = 3) -> date:
    return date(2026, month, d)


def moment(d: int, month: int = 3) -> datetime:
    return datetime(2026, month, d, 2, 0, tzinfo=UTC)


def plan(*actions: tuple[str, date]) -> tuple[PlannedAction, ...]:
    return tuple(
        PlannedAction(action_id=a, description="Retrain", owner_id="officer-1", due_on=due)
        for a, due in actions
    )


class Life:
    """One CAPA's commands, decided in order by the CAPA domain."""

    def __init__(self, capa_id: str, agency: str, opened: datetime, **due: date) -> None:
        self.capa_id = capa_id
        self.events: list[CloudEvent] = []
        self.state: CapaState | None = None
        self.apply(
            open_capa(
                capa_id=capa_id,
                agency=agency,
                at=opened,
                correction_due_on=due.get("correction", day(8)),
                closure_due_on=due.get("closure", day(30, 4)),
            )
        )

    def apply(self, command: Command) -> Life:
        if isinstance(command, SignedCommand):  # a decision, signed by its decider
            command = signed(command, self.state)
        self.events += decide(command, self.state)
        self.state = fold(self.events)
        return self

    def by(self, role: str, at: datetime) -> dict[str, Any]:
        actors = {"owner": "owner:H56.01", "auditor": "auditor-1", "secretary": "secretary-1"}
        roles = {"owner": "capa_owner", "auditor": "auditor", "secretary": "iso_secretary"}
        return {"capa_id": self.capa_id, "actor_id": actors[role], "actor_role": roles[role],
                "at": at, "reason": "step"}  # fmt: skip

    def correct(self, at: datetime) -> Life:
        return self.apply(RecordCorrection(**self.by("owner", at), correction="Re-done"))

    def analyse(self, at: datetime) -> Life:
        return self.apply(
            RecordRootCause(
                **self.by("owner", at),
                method=RootCauseMethod.FIVE_WHYS,
                category=RootCauseCategory.PROCESS,
                text="No step owner",
            )
        )

    def plan(self, at: datetime, *actions: tuple[str, date]) -> Life:
        return self.apply(PlanActions(**self.by("owner", at), actions=plan(*actions)))

    def complete(self, at: datetime, action_id: str) -> Life:
        return self.apply(CompleteAction(**self.by("owner", at), action_id=action_id))

    def verify(self, at: datetime, result: VerificationResult) -> Life:
        return self.apply(VerifyEffectiveness(**self.by("auditor", at), result=result))

    def close(self, at: datetime) -> Life:
        return self.apply(CloseCapa(**self.by("secretary", at)))

    def cancel(self, at: datetime) -> Life:
        return self.apply(CancelCapa(**self.by("secretary", at), justification="duplicate"))


def lives() -> list[Life]:
    effective, ineffective = VerificationResult.EFFECTIVE, VerificationResult.INEFFECTIVE
    return [
        # Correction due date passed, closure not: overdue (closure_due_on alone says no).
        Life("CAPA-correction-late", "H56.01", moment(1)),
        # An action of the plan is past due while another is done: overdue.
        Life("CAPA-action-late", "H56.01", moment(1))
        .correct(moment(2))
        .analyse(moment(3))
        .plan(moment(4), ("A1", day(20)), ("A2", day(20, 4)))
        .complete(moment(10), "A2"),
        # Every action done, closure still to come: not overdue.
        Life("CAPA-actions-done", "H56.01", moment(1))
        .correct(moment(2))
        .analyse(moment(3))
        .plan(moment(4), ("A1", day(20)))
        .complete(moment(15), "A1"),
        # Closure due date passed: overdue whatever the step.
        Life(
            "CAPA-closure-late", "H56.01", moment(1, 2), correction=day(8, 2), closure=day(10)
        ).correct(moment(2, 2)),
        # Closed before T, cancelled before T (past closure): neither overdue.
        Life("CAPA-closed", "H56.01", moment(1))
        .correct(moment(2))
        .analyse(moment(3))
        .plan(moment(4), ("A1", day(6)))
        .complete(moment(5), "A1")
        .verify(moment(6), effective)
        .close(moment(7)),
        Life("CAPA-cancelled", "H56.02", moment(1, 2), correction=day(8, 2), closure=day(1)).cancel(
            moment(20)
        ),
        # Reopened and planned again, reusing the action id done in the first round: overdue.
        Life("CAPA-replanned", "H56.02", moment(1))
        .correct(moment(2))
        .analyse(moment(3))
        .plan(moment(4), ("A1", day(5)))
        .complete(moment(5), "A1")
        .verify(moment(6), ineffective)
        .plan(moment(7), ("A1", day(22))),
        # Corrected the day after T: overdue as of T, not as known now.
        Life("CAPA-corrected-after-T", "H56.02", moment(1)).correct(moment(26)),
        # Closed the day after T: in the backlog as of T, closed as known now.
        Life("CAPA-closed-after-T", "H56.02", moment(1))
        .correct(moment(2))
        .analyse(moment(3))
        .plan(moment(4), ("A1", day(6)))
        .complete(moment(5), "A1")
        .verify(moment(6), effective)
        .close(moment(26)),
        # Opened after T: not on the board as of T in either reading.
        Life("CAPA-opened-after-T", "H56.02", moment(27)),
    ]


def capa_api_summary(
    lives: list[Life], at: datetime, known: EventsKnown
) -> dict[str, dict[str, int]]:
    """What the CAPA service's summary answers per agency at `at` (its domain's rule)."""
    states: dict[str, list[CapaState]] = defaultdict(list)
    for life in lives:
        state = fold(life.events, until=at if known is EventsKnown.AT else None)
        if state is not None and state.opened_at <= at:
            states[state.agency].append(state)
    counted = {}
    for agency, of_agency in states.items():
        summary = summarise(of_agency, local_date(at))
        counted[agency] = {
            "capas": summary["opened"],
            "backlog": summary["open"],
            "overdue": summary["overdue"],
            "closed": summary["closed"],
            "cancelled": summary["cancelled"],
        }
    return counted


@pytest.fixture(scope="module")
def board(chdb_dsn: str) -> Iterator[tuple[ClickHouseStore, list[Life]]]:
    store = ClickHouseStore(chdb_dsn, f"t_{uuid.uuid4().hex[:12]}").open()
    scenario = lives()
    events = [e for life in scenario for e in life.events]
    insert_events(store, events, batch=7)
    insert_events(store, list(reversed(events)), batch=5)  # redelivered, out of order
    yield store, scenario
    store.close()


@pytest.mark.parametrize("known", list(EventsKnown))
def test_the_capa_summary_and_the_clickhouse_board_agree_at_an_instant(
    board: tuple[ClickHouseStore, list[Life]], known: EventsKnown
) -> None:
    store, scenario = board
    rows = kpi_queries.capa_by_agency(store, T, known=known)
    clickhouse = {r["agency"]: {k: r[k] for k in COUNTED} for r in rows}
    assert clickhouse == capa_api_summary(scenario, T, known)


def test_the_board_as_of_t_counts_only_events_up_to_t(
    board: tuple[ClickHouseStore, list[Life]],
) -> None:
    store, _ = board
    as_of = {r["agency"]: r for r in kpi_queries.capa_by_agency(store, T)}
    known_now = {
        r["agency"]: r for r in kpi_queries.capa_by_agency(store, T, known=EventsKnown.NOW)
    }
    # H56.01: correction, action and closure late (3 of 5); closed and done ones are not.
    assert (as_of["H56.01"]["capas"], as_of["H56.01"]["overdue"]) == (5, 3)
    # H56.02 as of T: replanned and corrected-after-T overdue; closed-after-T in the backlog.
    assert as_of["H56.02"]["capas"] == known_now["H56.02"]["capas"] == 4
    assert (as_of["H56.02"]["overdue"], as_of["H56.02"]["backlog"]) == (2, 3)
    assert (known_now["H56.02"]["overdue"], known_now["H56.02"]["backlog"]) == (1, 2)
    # A day later every due date of April is still ahead; the board moves with the instant.
    later = {r["agency"]: r for r in kpi_queries.capa_by_agency(store, T + timedelta(days=40))}
    assert later["H56.01"]["overdue"] == 4  # actions-done passed its closure too


def test_the_dashboards_view_is_the_board_as_of_now(
    board: tuple[ClickHouseStore, list[Life]],
) -> None:
    store, scenario = board
    view = {r[0]: r[1] for r in store.query("SELECT agency, overdue FROM kpi_capa_agency")}
    now = datetime.now(UTC)
    expected = capa_api_summary(scenario, now, EventsKnown.AT)
    assert view == {agency: counts["overdue"] for agency, counts in expected.items()}
