"""Ground truth: a plain fold over events, blind to order and to repeated deliveries."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from schemas import CloudEvent, parse_event
from services.demo.domain.calendar import VN_TZ
from services.demo.domain.document_truth import document_truth
from services.demo.domain.province import Province
from services.demo.domain.truth import DossierCounts, ground_truth
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.unit

SOURCE = "urn:vn:gov:h56:one-stop-shop"
PROC_A = "1.001612.000.00.00.H56"
PROC_B = "2.000894.000.00.00.H56"


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, 1, hour, tzinfo=VN_TZ) + timedelta(days=day)


def event(
    kind: str, subject: str, time: datetime, data: dict[str, Any], **extra: Any
) -> CloudEvent:
    raw = {
        "id": f"{subject}/{kind}/{time.isoformat()}",
        "source": extra.pop("source", SOURCE),
        "type": f"vn.qms.{kind}.v1",
        "subject": subject,
        "time": time.isoformat(),
        "agencycode": extra.pop("agency", "H56.01"),
        "data": data,
    }
    return parse_event(raw, refuse_unknown_fields=True)


def received(subject: str, day: int, due_day: int, **extra: Any) -> CloudEvent:
    data = {"procedure_code": extra.pop("procedure", PROC_A), "channel": "counter",
            "due_at": at(due_day, 17).isoformat(), "applicant_id": "app-00000001"}  # fmt: skip
    return event("dossier.received", subject, at(day), data, **extra)


def resolved(subject: str, day: int, received_day: int, due_day: int, **extra: Any) -> CloudEvent:
    data = {
        "procedure_code": extra.pop("procedure", PROC_A),
        "outcome": "approved",
        "received_at": at(received_day).isoformat(),
        "due_at": at(due_day, 17).isoformat(),
    }
    return event("dossier.resolved", subject, at(day, 10), data, **extra)


def story() -> list[CloudEvent]:
    return [
        received("D1", 0, 3),
        resolved("D1", 2, 0, 3),  # on time
        received("D2", 0, 3),
        # supplement restarted the clock: due day 12, resolved day 10 -> on time
        event(
            "dossier.supplement_received",
            "D2",
            at(5),
            {"procedure_code": PROC_A, "new_due_at": at(12, 17).isoformat()},
        ),
        resolved("D2", 10, 0, 12),
        received("D3", 1, 4),
        resolved("D3", 8, 1, 4),  # late, March
        received("D4", 20, 25),
        resolved("D4", 33, 20, 25),  # late, April (day 33 = 3 April)
        received("D5", 2, 5, agency="H56.101", procedure=PROC_B),  # still in progress
        event(
            "satisfaction.rated",
            "R1",
            at(3),
            {"channel": "online", "score": 5},
            source="urn:vn:gov:h56:satisfaction-survey",
        ),
        event(
            "satisfaction.rated",
            "R2",
            at(3),
            {"channel": "online", "score": 3},
            source="urn:vn:gov:h56:satisfaction-survey",
        ),
        event(
            "complaint.filed",
            "C1",
            at(9),
            {
                "kind": "complaint",
                "channel": "online",
                "category": "processing_delay",
                "complainant_id": "cit-00000001",
            },
        ),
        event(
            "complaint.resolved",
            "C1",
            at(15),
            {"substantiated": True, "resolution": "ok", "officer_id": "off-00000001"},
        ),
    ]


def test_counts_follow_the_definitions() -> None:
    truth = ground_truth(story())
    assert truth.agencies["H56.01"] == DossierCounts(received=4, resolved=4, on_time=2)
    assert truth.agencies["H56.01"].late == 2
    assert truth.agencies["H56.101"] == DossierCounts(received=1, resolved=0, on_time=0)
    assert truth.agency_months["H56.01", "2026-03"] == DossierCounts(4, 3, 2)
    assert truth.agency_months["H56.01", "2026-04"] == DossierCounts(0, 1, 0)
    t = truth.totals
    assert (t["dossiers_received"], t["dossiers_resolved"], t["dossiers_late"]) == (5, 4, 2)
    assert (t["ratings"], t["ratings_satisfied"]) == (2, 1)
    assert (t["complaints_filed"], t["complaints_substantiated"]) == (1, 1)
    # late D3 (March) and D4 (April) are two (agency, procedure, month) groups
    assert truth.expected_capas == {
        "from_findings": 0,
        "from_complaints": 1,
        "from_late_dossiers": 2,
        "from_missed_objectives": 0,
        "from_procedures_not_in_force": 0,
        "from_extended_due_dates": 0,
        "from_processes_not_revised": 0,
        "total": 3,
    }


def test_late_dossiers_of_one_agency_procedure_and_month_make_one_capa() -> None:
    events = [*story(), received("D6", 2, 4), resolved("D6", 9, 2, 4)]  # late, March, PROC_A
    assert ground_truth(events).expected_capas["from_late_dossiers"] == 2
    other = [received("D7", 2, 4, procedure=PROC_B), resolved("D7", 9, 2, 4, procedure=PROC_B)]
    assert ground_truth(events + other).expected_capas["from_late_dossiers"] == 3


def test_resolution_exactly_at_the_due_time_is_on_time() -> None:
    events = [received("D1", 0, 3), resolved("D1", 3, 0, 3)]
    edge = event("dossier.resolved", "D2", at(3, 17), {"procedure_code": PROC_A,
                 "outcome": "approved", "received_at": at(0).isoformat(),
                 "due_at": at(3, 17).isoformat()})  # fmt: skip
    truth = ground_truth([*events, received("D2", 0, 3), edge])
    assert truth.agencies["H56.01"].on_time == 2


def test_repeated_and_reordered_delivery_gives_the_same_truth(small_province: Province) -> None:
    events = list(small_province.events)
    expected = ground_truth(events).as_json()
    shuffled = events + events[: len(events) // 3]
    random.Random(1).shuffle(shuffled)
    assert ground_truth(shuffled).as_json() == expected


def test_totals_agree_with_the_per_agency_and_per_month_rows(small_province: Province) -> None:
    truth = ground_truth(small_province.events)
    for field in ("received", "resolved", "on_time", "late"):
        by_agency = sum(getattr(c, field) for c in truth.agencies.values())
        by_month = sum(getattr(c, field) for c in truth.agency_months.values())
        assert by_agency == by_month == truth.totals[f"dossiers_{field}"]
    assert truth.expected_capas["total"] == sum(
        v for k, v in truth.expected_capas.items() if k != "total"
    )


def test_json_form_is_complete(small_province: Province) -> None:
    data = ground_truth(small_province.events).as_json()
    assert set(data) == {"agencies", "agency_months", "totals", "findings", "expected_capas"}
    row = data["agency_months"][0]
    assert set(row) == {"agency", "month", "received", "resolved", "on_time", "late"}


def test_document_control_truth_counts_first_checks_and_overdue_processes() -> None:
    ict = timezone(timedelta(hours=7))
    day = datetime(2026, 3, 2, 9, tzinfo=ict)
    proc = "1.000001"
    events = [
        f.document_issued("D-1", "H56.01", day, "2026-03-02"),
        f.document_checked("D-1", "H56.01", day + timedelta(hours=1), "seal"),
        f.document_checked("D-1", "H56.01", day + timedelta(days=1)),
        f.document_issued("D-2", "H56.01", day, "2026-04-01"),
        f.procedure_version(proc, 2, day, "2026-03-10", 5),
        f.process_document("P-1", "H56.02", day, 1, (proc, 1)),
        f.process_document("P-2", "H56.03", day, 1, (proc, 1)),
        f.process_document("P-2", "H56.03", day + timedelta(days=20), 2, (proc, 2)),
    ]
    truth = document_truth([*events, *reversed(events)])
    assert truth.document_counts(("agency", "month")) == {
        ("H56.01", "2026-03"): {"issued": 1, "checked": 1, "conforming": 0, "nonconforming": 1},
        ("H56.01", "2026-04"): {"issued": 1, "checked": 0, "conforming": 0, "nonconforming": 0},
    }
    assert truth.processes_overdue(datetime(2026, 4, 9, 12, tzinfo=ict)) == []  # due 9 April
    (row,) = truth.processes_overdue(datetime(2026, 4, 12, 12, tzinfo=ict))
    assert (row["document"], row["due_on"], row["days_overdue"], row["month"]) == (
        "P-1",
        "2026-04-09",
        3,
        "2026-04",
    )
