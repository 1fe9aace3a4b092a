"""The generated province: valid, unique, ordered, in the past, reproducible, realistic."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta

import pytest
from pydantic import BaseModel

from schemas import event_to_json, parse_event
from schemas.dossier import (
    DossierApologyIssued,
    DossierReceived,
    DossierResolved,
    DossierSupplementReceived,
)
from schemas.objective import QualityObjectiveEvaluated
from services.common.working_days import vietnam_calendar
from services.demo.domain.calendar import VN_TZ
from services.demo.domain.catalogue import PROCEDURES
from services.demo.domain.province import Province, generate_province
from services.demo.domain.register import REGISTER_KEEPER
from services.demo.domain.truth import ground_truth
from tests.unit.demo.conftest import NOW

pytestmark = pytest.mark.unit


def test_every_event_passes_intake_validation(default_province: Province) -> None:
    failures = []
    for event in default_province.events:
        raw = event_to_json(event)
        try:
            parsed = parse_event(raw, refuse_unknown_fields=True)
        except ValueError as exc:
            failures.append((event.type, event.subject, str(exc)))
        else:
            assert parsed == event
    assert failures == []
    assert not any("receivedtime" in event_to_json(e) for e in default_province.events)


def test_ids_are_unique_per_source(default_province: Province) -> None:
    keys = [(e.source, e.id) for e in default_province.events]
    assert len(keys) == len(set(keys))
    assert {e.source for e in default_province.events} == {
        "urn:vn:gov:h56:one-stop-shop",
        "urn:vn:gov:h56:citizen-feedback",
        "urn:vn:gov:h56:satisfaction-survey",
        "urn:vn:gov:h56:procedure-register",
        "urn:vn:gov:h56:iso-secretariat",
        "urn:vn:gov:h56:document-office",
    }


def test_every_family_and_type_is_published(default_province: Province) -> None:
    types = {e.type for e in default_province.events}
    for short in (
        "dossier.received", "dossier.step_transferred", "dossier.supplement_requested",
        "dossier.supplement_received", "dossier.resolved", "dossier.result_returned",
        "dossier.withdrawn", "dossier.apology_issued", "complaint.filed",
        "complaint.acknowledged", "complaint.resolved", "complaint.withdrawn",
        "satisfaction.rated", "audit.planned", "audit.conducted", "audit.finding_recorded",
        "audit.closed", "objective.set", "objective.evaluated", "document.issued",
        "document.checked", "document.revised", "document.withdrawn",
        "document.process_published", "document.process_revised", "procedure.amended",
    ):  # fmt: skip
        assert f"vn.qms.{short}.v1" in types


def test_events_are_in_the_past_in_time_order_and_in_provincial_time(
    default_province: Province,
) -> None:
    events = default_province.events
    times = [e.time for e in events]
    assert times == sorted(times)
    assert max(times) <= NOW - timedelta(minutes=10)
    assert all(t.utcoffset() == timedelta(hours=7) for t in times)
    # office hours on the calendar's working days (a Saturday worked in exchange, never a
    # holiday), so a day or month bucket is the same in UTC and +07:00
    official = vietnam_calendar()
    for t in times:
        local = t.astimezone(VN_TZ)
        assert official.is_working_day(local.date()), local
        assert (7, 30) <= (local.hour, local.minute) <= (17, 0)


def test_the_province_works_a_swapped_saturday_and_rests_over_the_holidays(
    default_province: Province,
) -> None:
    days = {e.time.astimezone(VN_TZ).date() for e in default_province.events}
    covered = [d for d in vietnam_calendar().days_off(2026) if min(days) <= d <= max(days)]
    assert covered and not days & set(covered)
    worked_saturdays = {date(2026, 1, 10), date(2026, 8, 22)}
    assert days & {d for d in worked_saturdays if min(days) <= d <= max(days)}


def test_each_aggregate_is_strictly_ordered(default_province: Province) -> None:
    last: dict[tuple[str, str], object] = {}
    for event in default_province.events:
        key = (event.type.split(".")[2], event.subject)
        previous = last.get(key)
        assert previous is None or previous < event.time, key  # type: ignore[operator]
        last[key] = event.time


def test_dossiers_are_received_in_the_window(default_province: Province) -> None:
    p = default_province
    assert p.window_end.isoformat() == "2026-06-01T00:00:00+07:00"
    assert p.window_start.isoformat() == "2025-12-01T00:00:00+07:00"
    received = [e for e in p.events if isinstance(e, DossierReceived)]
    assert len(received) == 8000
    assert all(p.window_start <= e.time < p.window_end for e in received)


def test_resolved_carries_the_due_time_in_force(default_province: Province) -> None:
    """Due time in force = the last of: received due, supplement's or apology's new due."""
    due: dict[str, object] = {}
    received_at: dict[str, object] = {}
    checked = 0
    for event in default_province.events:
        if isinstance(event, DossierReceived):
            due[event.subject] = event.data.due_at
            received_at[event.subject] = event.time
        elif isinstance(event, DossierSupplementReceived | DossierApologyIssued):
            due[event.subject] = event.data.new_due_at
        elif isinstance(event, DossierResolved):
            assert event.data.due_at == due[event.subject]
            assert event.data.received_at == received_at[event.subject]
            checked += 1
    assert checked > 7000


def test_same_seed_same_events_other_seed_other_events() -> None:
    first = generate_province(3, agencies=12, dossiers=300, months=2, now=NOW)
    again = generate_province(3, agencies=12, dossiers=300, months=2, now=NOW)
    other = generate_province(4, agencies=12, dossiers=300, months=2, now=NOW)
    assert [event_to_json(e) for e in first.events] == [event_to_json(e) for e in again.events]
    assert {e.id for e in first.events}.isdisjoint({e.id for e in other.events})


def test_later_in_the_same_month_only_adds_events() -> None:
    """Re-running in the same month republishes the same ids (intake sees duplicates)."""
    early = generate_province(5, agencies=12, dossiers=300, months=2, now=NOW)
    later = generate_province(5, agencies=12, dossiers=300, months=2, now=NOW + timedelta(days=10))
    early_json = [event_to_json(e) for e in early.events]
    later_by_id = {e.id: event_to_json(e) for e in later.events}
    assert all(later_by_id[e["id"]] == e for e in early_json)
    assert len(later.events) >= len(early.events)


def test_agencies_procedures_and_pseudonyms(default_province: Province) -> None:
    p = default_province
    codes = [a.code for a in p.agencies]
    assert len(codes) == len(set(codes)) == 150
    assert codes[:2] == ["H56.01", "H56.02"] and "H56.101" in codes
    # The province's People's Committee keeps the procedure register.
    assert {e.agencycode for e in p.events} <= {*codes, REGISTER_KEEPER}
    assert len(p.procedures) >= 40
    assert all(re.fullmatch(r"[12]\.\d{6}\.000\.00\.00\.H56", x.code) for x in PROCEDURES)
    assert all(1 <= x.statutory_days <= 30 for x in PROCEDURES)
    people = re.compile(r"(app|off|cit|auditor)-[0-9a-f]{8,12}")
    for event in p.events:
        data: BaseModel = event.data  # type: ignore[attr-defined]
        for name, value in data.model_dump().items():
            if name.endswith("_id") and name not in ("finding_id",) and value is not None:
                assert people.fullmatch(value), (name, value)


def test_province_figures_are_realistic(default_province: Province) -> None:
    truth = ground_truth(default_province.events)
    t = truth.totals
    assert 0.95 <= t["dossiers_on_time"] / t["dossiers_resolved"] <= 0.99
    assert 0.60 <= t["dossiers_received_online"] / t["dossiers_received"] <= 0.70
    assert 0.93 <= t["ratings_satisfied"] / t["ratings"] <= 0.98
    assert 1 <= 1000 * t["complaints_filed"] / t["dossiers_received"] <= 10
    assert t["complaints_substantiated"] > 0 and t["complaints_withdrawn"] > 0
    assert t["supplements_requested"] > 0 and t["apologies_issued"] > 0
    assert t["dossiers_withdrawn"] > 0
    assert all(truth.findings[c] > 0 for c in ("major", "minor", "observation", "improvement"))
    assert 0 < t["objectives_missed"] < t["objectives_evaluated"]
    # every agency is audited or inspected; inspections on site well above the 30 % minimum
    audited = {e.agencycode for e in default_province.events if e.type.endswith("conducted.v1")}
    assert audited == {a.code for a in default_province.agencies}
    assert t["audits_conducted_on_site"] / t["audits_conducted"] > 0.5
    assert set(truth.agencies) == {a.code for a in default_province.agencies}


def _months_of(period: str) -> set[str]:
    year, part = period.split("-")
    if part.startswith("Q"):
        first = 3 * (int(part[1]) - 1) + 1
        return {f"{year}-{m:02d}" for m in range(first, first + 3)}
    return {period}


@pytest.mark.parametrize("fixture", ["small_province", "default_province"])
def test_objective_evaluations_match_what_happened(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    """An on-time objective's actual equals the agency's on-time rate in its period."""
    p: Province = request.getfixturevalue(fixture)
    evaluations = [e for e in p.events if isinstance(e, QualityObjectiveEvaluated)]
    assert evaluations
    resolved: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for e in p.events:
        if isinstance(e, DossierResolved):
            month = e.time.astimezone(VN_TZ).strftime("%Y-%m")
            resolved[e.agencycode, month].append(e.time <= e.data.due_at)
    checked = 0
    for e in evaluations:
        if e.data.indicator == "on_time_rate":
            outcomes = [
                ok for month in _months_of(e.data.period) for ok in resolved[e.agencycode, month]
            ]
            assert e.data.actual == round(100 * sum(outcomes) / len(outcomes), 2)
            assert e.data.met == (e.data.actual >= 95.0)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize(("agencies", "dossiers", "months"), [(5, 10, 0), (0, 10, 1), (5, -1, 1)])
def test_refuses_impossible_sizes(agencies: int, dossiers: int, months: int) -> None:
    with pytest.raises(ValueError):
        generate_province(1, agencies, dossiers, months, NOW)
