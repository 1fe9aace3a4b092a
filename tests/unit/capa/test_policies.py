"""Which published events open a CAPA, and under which id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.capa import NonconformitySource, RootCauseCategory, Severity
from schemas.catalogue import parse_event
from schemas.envelope import CloudEvent
from services.capa.domain.policies import DueDatePolicy, commands_for, late_dossier_capa_id
from services.capa.domain.recurrence import RootCauseSighting, find_recurrence, remember
from tests.unit.capa.factories import audit_finding, given

pytestmark = pytest.mark.unit
POLICY = DueDatePolicy()


def dossier_resolved(code: str, resolved: datetime, due: datetime, **extra: Any) -> CloudEvent:
    return parse_event(
        {
            "id": f"ev-{code}",
            "source": "urn:test:one-stop-shop",
            "type": "vn.qms.dossier.resolved.v1",
            "subject": code,
            "time": resolved.isoformat(),
            "agencycode": extra.pop("agency", "H56.01"),
            "data": {
                "procedure_code": extra.pop("procedure", "1.001612"),
                "outcome": "approved",
                "received_at": (due - timedelta(days=10)).isoformat(),
                "due_at": due.isoformat(),
            },
        }
    )


@pytest.mark.parametrize(
    ("classification", "kind", "source"),
    [
        ("major", "internal_audit", NonconformitySource.AUDIT_FINDING),
        ("minor", "inspection", NonconformitySource.INSPECTION_FINDING),
    ],
)
def test_major_and_minor_findings_open_a_capa(
    classification: str, kind: str, source: NonconformitySource
) -> None:
    (command,) = commands_for(audit_finding(classification=classification, kind=kind), POLICY)
    assert command.source is source and command.severity is Severity(classification)
    assert command.agency == "H56.01" and command.iso_clause == "8.5.1"
    days = POLICY.correction_days[Severity(classification)]
    assert (command.correction_due_on - command.at.date()).days == days


@pytest.mark.parametrize("classification", ["observation", "improvement"])
def test_observations_open_nothing(classification: str) -> None:
    assert commands_for(audit_finding(classification=classification), POLICY) == []


def test_the_same_finding_maps_to_the_same_capa_and_another_to_another() -> None:
    first = commands_for(audit_finding(), POLICY)[0]
    again = commands_for(audit_finding(), POLICY)[0]
    other = commands_for(audit_finding(id="finding-ev-2"), POLICY)[0]
    assert first.capa_id == again.capa_id != other.capa_id


def test_late_dossiers_of_one_agency_procedure_and_month_share_one_capa() -> None:
    due = datetime(2026, 3, 5, 10, tzinfo=UTC)
    late1 = commands_for(dossier_resolved("D-1", due + timedelta(hours=3), due), POLICY)
    late2 = commands_for(dossier_resolved("D-2", due + timedelta(days=2), due), POLICY)
    on_time = commands_for(dossier_resolved("D-3", due - timedelta(hours=1), due), POLICY)
    other_proc = commands_for(
        dossier_resolved("D-4", due + timedelta(days=1), due, procedure="2.0001"), POLICY
    )
    assert on_time == []
    assert (
        late1[0].capa_id
        == late2[0].capa_id
        == late_dossier_capa_id("H56.01", "1.001612", "2026-03")
    )
    assert other_proc[0].capa_id != late1[0].capa_id
    state, events = given(late1[0], late2[0], late1[0])
    assert state is not None and len(state.references) == 2 and len(events) == 2


def test_month_is_counted_in_vietnam_time() -> None:
    # 20:00 UTC on 31 March is 03:00 on 1 April in Hanoi.
    due = datetime(2026, 3, 30, tzinfo=UTC)
    (command,) = commands_for(
        dossier_resolved("D-9", datetime(2026, 3, 31, 20, tzinfo=UTC), due), POLICY
    )
    assert command.period == "2026-04"


def test_substantiated_complaint_and_missed_objective_open_capas() -> None:
    base = {
        "source": "urn:test:portal",
        "time": "2026-03-01T08:00:00+07:00",
        "agencycode": "H57.01",
    }
    complaint = {
        **base,
        "id": "c-1",
        "type": "vn.qms.complaint.resolved.v1",
        "subject": "PA-1",
        "data": {"substantiated": True, "resolution": "Fee refunded", "officer_id": "officer-0002"},
    }
    unfounded = {**complaint, "id": "c-2", "data": {**complaint["data"], "substantiated": False}}  # type: ignore[dict-item]
    objective = {
        **base,
        "id": "o-1",
        "type": "vn.qms.objective.evaluated.v1",
        "subject": "OBJ-1",
        "data": {
            "indicator": "on_time_rate",
            "target": 98,
            "actual": 91.5,
            "met": False,
            "period": "2026-Q1",
        },
    }
    assert commands_for(parse_event(unfounded), POLICY) == []
    (c,) = commands_for(parse_event(complaint), POLICY)
    (o,) = commands_for(parse_event(objective), POLICY)
    assert (
        c.source is NonconformitySource.COMPLAINT
        and o.source is NonconformitySource.MISSED_OBJECTIVE
    )
    assert o.severity is Severity.MAJOR and "91.5" in o.description


def sighting(capa_id: str, days: int, **overrides: Any) -> RootCauseSighting:
    fields: dict[str, Any] = {
        "capa_id": capa_id,
        "agency": "H56.01",
        "process": "land registration",
        "category": RootCauseCategory.PROCESS,
        "opened_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=days),
    }
    fields.update(overrides)
    return RootCauseSighting(**fields)


def test_recurrence_within_twelve_months_of_the_same_key() -> None:
    first = sighting("CAPA-A", 0)
    assert find_recurrence([first], sighting("CAPA-B", 400)) is None
    assert (
        find_recurrence([first], sighting("CAPA-B", 30, category=RootCauseCategory.PEOPLE)) is None
    )
    assert find_recurrence([first], sighting("CAPA-B", 30, agency="H57.01")) is None
    assert find_recurrence([first], sighting("CAPA-A", 30)) is None
    found = find_recurrence([first], sighting("CAPA-B", 300))
    assert found is not None and (found.later.capa_id, found.earlier.capa_id) == (
        "CAPA-B",
        "CAPA-A",
    )
    # Recorded out of order: the later-opened CAPA is still the recurrence.
    backwards = find_recurrence([sighting("CAPA-B", 300)], first)
    assert backwards is not None and backwards.later.capa_id == "CAPA-B"


def test_the_index_keeps_one_sighting_per_capa() -> None:
    index = remember(remember([], sighting("CAPA-A", 0)), sighting("CAPA-A", 5))
    assert [s.opened_at.day for s in index] == [6]
