"""The CAPA board's SQL is written from the CAPA domain's overdue rule, and the frozen
migration that defines the dashboards' view is what the catalogue writes."""

from __future__ import annotations

import re

import pytest

from schemas.capa import CAPA_EVENTS
from services.capa.domain.overdue import OVERDUE_RULE, DueDate, running_kinds
from services.capa.domain.transitions import Status
from services.metrics.domain import capa_kpis
from services.metrics.domain.kpi_catalogue import EventsKnown
from tests.unit.metrics.test_kpi_catalogue import flat, latest_create

pytestmark = pytest.mark.unit


def test_the_dashboards_view_is_the_catalogues_board_as_of_now() -> None:
    view = latest_create("VIEW", "kpi_capa_agency")
    assert view == flat(capa_kpis.capa_board_view_sql()).rstrip(";")


def test_every_capa_event_is_a_step_or_named_as_none() -> None:
    types = {event.model_fields["type"].annotation.__args__[0] for event in CAPA_EVENTS}  # type: ignore[union-attr]
    steps = set(capa_kpis.STATUS_AFTER_STEP)
    assert steps | set(capa_kpis.NOT_STEPS) == types
    assert not steps & set(capa_kpis.NOT_STEPS)


def test_every_status_is_reached_by_some_step() -> None:
    reached = " ".join(capa_kpis.STATUS_AFTER_STEP.values())
    assert all(f"'{status}'" in reached for status in Status)


def test_the_overdue_sql_has_one_term_per_running_due_date() -> None:
    sql = capa_kpis.overdue_sql()
    assert sql.count(" OR ") == len(OVERDUE_RULE) - 1
    assert "(status IN ('opened') AND ifNull(correction_due_on < at_day, 0))" in sql


def test_which_due_dates_run_in_which_status() -> None:
    assert running_kinds(Status.OPENED) == (DueDate.CORRECTION, DueDate.CLOSURE)
    assert running_kinds(Status.ACTIONS_PLANNED) == (DueDate.ACTION, DueDate.CLOSURE)
    assert running_kinds(Status.VERIFIED_EFFECTIVE) == (DueDate.CLOSURE,)
    assert running_kinds(Status.CLOSED) == running_kinds(Status.CANCELLED) == ()


def test_as_known_now_drops_only_the_event_time_filter() -> None:
    at = capa_kpis.capa_states_sql("X", EventsKnown.AT)
    now = capa_kpis.capa_states_sql("X", EventsKnown.NOW)
    event_time = re.compile(r"(?<!opened_)time <= X")
    assert len(event_time.findall(at)) == 2 and not event_time.findall(now)
    assert "opened_time <= X" in at and "opened_time <= X" in now
