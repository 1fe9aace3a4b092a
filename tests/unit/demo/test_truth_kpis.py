"""The KPI fold of the ground truth (`GroundTruth.kpis`): docs/kpis.md rules on small stories."""

from __future__ import annotations

import random

import pytest

from schemas import CloudEvent
from services.demo.domain.province import Province
from services.demo.domain.truth import fold, ground_truth, period_months, public_service_score
from tests.unit.demo.test_truth import PROC_A, PROC_B, at, event, received, resolved

pytestmark = pytest.mark.unit

SECRETARIAT = "urn:vn:gov:h56:iso-secretariat"
SURVEY = "urn:vn:gov:h56:satisfaction-survey"
FEEDBACK = "urn:vn:gov:h56:citizen-feedback"


def online(subject: str, day: int, due_day: int, level: int) -> CloudEvent:
    data = {
        "procedure_code": PROC_A,
        "channel": "online",
        "online_level": level,
        "due_at": at(due_day, 17).isoformat(),
        "applicant_id": "app-00000001",
    }
    return event("dossier.received", subject, at(day), data)


def dossier_event(kind: str, subject: str, day: int, **data: object) -> CloudEvent:
    return event(f"dossier.{kind}", subject, at(day), {"procedure_code": PROC_A, **data})


def dossiers() -> list[CloudEvent]:
    return [
        online("D1", 0, 3, level=3),
        resolved("D1", 2, 0, 3),
        online("D2", 1, 4, level=2),
        dossier_event(
            "supplement_requested", "D2", 2, reason="thiếu giấy tờ", officer_id="off-00000001"
        ),
        dossier_event("supplement_received", "D2", 6, new_due_at=at(12, 17).isoformat()),
        resolved("D2", 11, 1, 12),  # on time thanks to the supplement
        received("D3", 1, 4),
        dossier_event(
            "apology_issued", "D3", 4, new_due_at=at(40, 17).isoformat(), reason="xin lỗi"
        ),
        resolved("D3", 33, 1, 40),  # April, on time against the apology's new due time
        received("D4", 2, 5),
        dossier_event("withdrawn", "D4", 3, reason="rút hồ sơ"),
        received("D5", 3, 6, agency="H56.101", procedure=PROC_B),  # never resolved
        dossier_event(
            "supplement_requested", "D1", 35, reason="again", officer_id="off-00000001"
        ),  # a second dossier with a request, April
        dossier_event(
            "supplement_requested", "D2", 36, reason="again", officer_id="off-00000001"
        ),  # D2's second request, in April
    ]


def test_dossier_measures_per_agency_month_and_over_a_range() -> None:
    kpis = fold(dossiers())
    march = kpis.dossier_counts(("agency", "month"))[("H56.01", "2026-03")]
    assert march == {
        "received": 4,
        "resolved": 2,
        "on_time": 2,
        "late": 0,
        "received_online": 2,
        "received_online_l34": 1,
        "supplement_requested": 1,
        "withdrawn": 1,
        "apologies": 1,
        "received_online_l3": 1,  # D1: level 3; D2 (level 2) is online but neither
        "received_online_l4": 0,
        "received_counter": 2,
        "received_postal": 0,
    }
    april = kpis.dossier_counts(("agency", "month"))[("H56.01", "2026-04")]
    assert (april["resolved"], april["on_time"], april["supplement_requested"]) == (1, 1, 2)
    # A dossier counts once per measure and month; a range adds its months up (D2 had
    # requests in March and in April: one in each month, two over both).
    both = kpis.dossier_counts(("agency",), ("2026-03", "2026-04"))[("H56.01",)]
    assert both["supplement_requested"] == 3 and both["resolved"] == 3
    assert kpis.dossier_counts(("agency", "procedure"))[("H56.101", PROC_B)]["received"] == 1
    assert ("H56.01",) not in kpis.dossier_counts(("agency",), ("2026-05", "2026-05"))


def test_in_progress_and_overdue_use_the_due_time_in_force() -> None:
    kpis = fold(dossiers())
    # Day 8: D2 waits (due day 12 after the supplement), D3 waits (due day 40 after the
    # apology), D5 waits and is past its due day 6; D4 was withdrawn, D1 resolved.
    assert kpis.dossiers_open_at(at(8)) == {
        "H56.01": {"in_progress": 2, "waiting_for_supplement": 0, "overdue": 0},
        "H56.101": {"in_progress": 1, "waiting_for_supplement": 0, "overdue": 1},
    }
    assert kpis.dossiers_open_at(at(0, 8)) == {}  # nothing received yet at 08:00 on day 0


def test_a_dossier_waiting_for_its_supplement_is_not_overdue_as_of_then() -> None:
    kpis = fold(dossiers())
    # Day 5: D2 waits for the supplement requested on day 2 (it arrives on day 6), past its
    # first due time (day 4): the clock is stopped, so not overdue. D3 is past its first due
    # time but the apology of day 4 moved it to day 40.
    assert kpis.dossiers_open_at(at(5))["H56.01"] == {
        "in_progress": 2,
        "waiting_for_supplement": 1,
        "overdue": 0,
    }
    # D9, due on day 2, gets an apology on day 4 moving its due time to day 9: on day 3 it
    # was overdue as of then; as known now (the later due time applies) it was not.
    late = fold([received("D9", 1, 2), dossier_event("apology_issued", "D9", 4,
                 new_due_at=at(9, 17).isoformat(), reason="xin lỗi")])  # fmt: skip
    assert late.dossiers_open_at(at(3))["H56.01"]["overdue"] == 1
    assert late.dossiers_open_at(at(3), as_known_now=True)["H56.01"]["overdue"] == 0


def test_complaints_ratings_audits_and_objectives() -> None:
    filed = {
        "kind": "complaint",
        "channel": "online",
        "category": "processing_delay",
        "complainant_id": "cit-00000001",
    }
    closing = {"substantiated": True, "resolution": "ok", "officer_id": "off-00000001"}
    audit = {"kind": "inspection", "audited_agency": "H56.101"}
    evaluated = {"indicator": "on_time_rate", "target": 95.0, "met": False}
    events = [
        *dossiers(),
        event("complaint.filed", "C1", at(9), filed, source=FEEDBACK),
        event("complaint.resolved", "C1", at(12), closing, source=FEEDBACK),
        event("complaint.filed", "C2", at(40), filed, source=FEEDBACK),  # April, open
        event("satisfaction.rated", "R1", at(3), {"channel": "online", "score": 2}, source=SURVEY),
        event(
            "satisfaction.rated", "R1", at(4), {"channel": "online", "score": 5}, source=SURVEY
        ),  # re-sent: the latest score counts, the rating once
        event(
            "audit.planned",
            "A1",
            at(1),
            {
                **audit,
                "planned_on": "2026-03-10",
                "on_site": True,
                "scope": "ISO",
                "lead_auditor_id": "auditor-00000001",
            },
            source=SECRETARIAT,
            agency="H56.101",
        ),
        event(
            "audit.conducted",
            "A1",
            at(9),
            {**audit, "on_site": False, "auditor_ids": ["auditor-00000001"]},
            source=SECRETARIAT,
            agency="H56.101",
        ),
        event(
            "audit.finding_recorded",
            "A1",
            at(9, 10),
            {
                **audit,
                "finding_id": "A1-F1",
                "classification": "major",
                "iso_clause": "8.5.1",
                "process": "p",
                "description": "d",
                "auditor_id": "auditor-00000001",
            },
            source=SECRETARIAT,
            agency="H56.101",
        ),
        event(
            "objective.evaluated",
            "O1",
            at(31),
            {**evaluated, "actual": 90.0, "period": "2026-03"},
            source=SECRETARIAT,
        ),
        event(
            "objective.evaluated",
            "O1",
            at(32),
            {**evaluated, "actual": 91.0, "period": "2026-03"},
            source=SECRETARIAT,
        ),  # a correction: the later wins
    ]
    kpis = fold(events)
    c = kpis.complaint_counts(("agency", "month"))
    assert c[("H56.01", "2026-03")] == {
        "filed": 1,
        "resolved": 1,
        "substantiated": 1,
        "days": 3.0,
        "timed": 1,
        "avg_resolution_days": 3.0,
    }
    assert c[("H56.01", "2026-04")]["filed"] == 1
    assert kpis.satisfaction_counts(("agency",))[("H56.01",)] == {
        "ratings": 1,
        "satisfied": 1,
        "score_sum": 5,
    }
    assert kpis.audit_counts()["H56.101"] == {
        "inspections": 1,
        "onsite_inspections": 1,
        "findings": 1,
        "major_findings": 1,
        "minor_findings": 0,
    }
    assert kpis.audit_coverage() == {
        "agencies": 2,
        "internally_audited": 0,
        "inspected": 1,
        "inspections": 1,
        "onsite_inspections": 1,
    }
    assert kpis.audit_coverage(("2026-04", "2026-04"))["inspections"] == 0
    assert kpis.findings_by_classification()["major"] == 1
    (evaluation,) = kpis.objective_evaluations.values()
    assert (evaluation.actual, evaluation.met) == (91.0, False)
    assert kpis.objectives_met() == {"evaluated": 1, "met": 0, "missed": 1}
    assert kpis.measured("H56.01", "on_time_rate", "2026-03") == 100.0
    assert kpis.measured("H56.01", "complaint_resolution_rate", "2026-Q1") == 100.0
    assert kpis.measured("H56.01", "satisfaction_rate", "2026") == 100.0


def test_the_generators_reported_objective_actuals_are_what_the_fold_measures(
    small_province: Province,
) -> None:
    kpis = ground_truth(small_province.events).kpis
    assert kpis.objective_evaluations
    for (_, period), e in kpis.objective_evaluations.items():
        assert kpis.measured(e.agency, e.indicator, period) == pytest.approx(e.actual, abs=0.006)


def test_order_and_repeated_delivery_do_not_change_any_count(small_province: Province) -> None:
    events = list(small_province.events)
    again = events + events[::2]
    random.Random(5).shuffle(again)
    a, b = fold(events), fold(again)
    for group in (("agency",), ("agency", "month"), ("agency", "procedure")):
        assert a.dossier_counts(group) == b.dossier_counts(group)
        assert a.complaint_counts(group[:1]) == b.complaint_counts(group[:1])
    assert a.satisfaction_counts(("agency", "month")) == b.satisfaction_counts(("agency", "month"))
    assert a.audit_counts() == b.audit_counts() and a.audit_coverage() == b.audit_coverage()
    assert a.events_by_type == b.events_by_type
    assert sum(a.events_by_type.values()) == len(events)
    assert a.latest_time is not None
    assert a.dossiers_open_at(a.latest_time) == b.dossiers_open_at(a.latest_time)


def test_the_kpi_fold_agrees_with_the_demo_totals(small_province: Province) -> None:
    truth = ground_truth(small_province.events)
    by_agency = truth.kpis.dossier_counts(("agency",))
    assert {
        a: {k: by_agency[(a,)][k] for k in ("received", "resolved", "on_time", "late")}
        for (a,) in by_agency
    } == {a: c.as_dict() for a, c in truth.agencies.items()}
    assert truth.kpis.findings_by_classification() == truth.findings
    assert truth.kpis.objectives_met()["missed"] == truth.totals["objectives_missed"]


def test_periods_and_the_public_service_score() -> None:
    assert period_months("2026") == ("2026-01", "2026-12")
    assert period_months("2026-Q2") == ("2026-04", "2026-06")
    assert period_months("2026-05") == ("2026-05", "2026-05")
    counts = {
        "received": 10,
        "resolved": 8,
        "on_time": 6,
        "late": 2,
        "received_online": 5,
        "received_online_l34": 4,
        "received_online_l4": 1,
        "apologies": 1,
    }
    score = public_service_score(counts, ratings=0, satisfied=0)
    assert score["satisfaction"] is None and score["transparency"] == 50.0
    assert score["online_service"] == 10.0  # the full-online (level 4) share
    # (30·75 + 20·10 + 15·50 + 15·40) / 80, satisfaction dropped out
    assert score["score"] == pytest.approx((30 * 75 + 20 * 10 + 15 * 50 + 15 * 40) / 80)
