"""A small province of dossiers and the KPI counts they must give, computed independently."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from schemas.dossier import DossierReceived, DossierResolved
from schemas.envelope import CloudEvent
from tests.unit.metrics import factories as f

ICT = timezone(timedelta(hours=7))
AGENCIES = ("H56.01", "H56.02", "H56.03")


def dossier_province(seed: int, dossiers: int) -> list[CloudEvent]:
    """Dossiers received Jan–Mar 2026; most resolved, some late, some supplemented."""
    rng = random.Random(seed)
    events: list[CloudEvent] = []
    for n in range(dossiers):
        agency = rng.choice(AGENCIES)
        code = f"{agency}-{n:06d}"
        received_at = datetime(2026, 1, 1, 8, tzinfo=ICT) + timedelta(
            minutes=rng.randrange(0, 89 * 24 * 60)
        )
        due = received_at + f.days(rng.choice((3, 5, 10)))
        online = rng.random() < 0.5
        events.append(
            f.received(
                code,
                agency,
                received_at,
                due,
                channel="online" if online else "counter",
                level=rng.choice((2, 3, 4)) if online else None,
            )
        )
        if rng.random() < 0.15:
            due = due + f.days(4)
            events.append(f.supplement_received(code, agency, received_at + f.days(1), due))
        if rng.random() < 0.85:
            took = (due - received_at) * rng.uniform(0.3, 1.4)
            events.append(f.resolved(code, agency, received_at, received_at + took, due))
    return events


SHEET_UNITS = ("Bộ phận Tiếp nhận và Trả kết quả", "Phòng chuyên môn", "Lãnh đạo đơn vị")


def process_sheets(events: list[CloudEvent]) -> list[CloudEvent]:
    """Two step transfers on the sheet of each resolved dossier, at a third and two thirds
    of its time, each step due at the same share of the time allowed: a late dossier's
    steps are late. Derived from the events (no draws), so the province stays the same."""
    received = {e.subject: e for e in events if isinstance(e, DossierReceived)}
    steps: list[CloudEvent] = []
    for e in events:
        if not isinstance(e, DossierResolved) or e.subject not in received:
            continue
        start, took, allowed = e.data.received_at, e.time - e.data.received_at, e.data.due_at
        for step in (1, 2):
            steps.append(
                f.step_transferred(
                    e.subject, e.agencycode, start + took * step / 3, step,
                    SHEET_UNITS[step - 1], SHEET_UNITS[step],
                    due=start + (allowed - start) * step / 3,
                    procedure=e.data.procedure_code,
                )
            )  # fmt: skip
    return steps


def expected_by_agency_month(events: list[CloudEvent]) -> dict[tuple[str, str], dict[str, int]]:
    """The docs/kpis.md definitions, applied in plain Python (months in UTC+07:00)."""
    sets: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(
        lambda: {"received": set(), "resolved": set(), "on_time": set()}
    )
    for e in events:
        month = e.time.astimezone(ICT).strftime("%Y-%m")
        if isinstance(e, DossierReceived):
            sets[(e.agencycode, month)]["received"].add(e.subject)
        elif isinstance(e, DossierResolved):
            sets[(e.agencycode, month)]["resolved"].add(e.subject)
            if e.time <= e.data.due_at:
                sets[(e.agencycode, month)]["on_time"].add(e.subject)
    return {
        key: {
            "received": len(s["received"]),
            "resolved": len(s["resolved"]),
            "on_time": len(s["on_time"]),
            "late": len(s["resolved"]) - len(s["on_time"]),
        }
        for key, s in sets.items()
    }


def expected_by_agency(events: list[CloudEvent]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(
        lambda: {"received": 0, "resolved": 0, "on_time": 0, "late": 0}
    )
    for (agency, _), counts in expected_by_agency_month(events).items():
        for name, value in counts.items():
            totals[agency][name] += value
    return dict(totals)


def other_families(seed: int) -> list[CloudEvent]:
    """Complaints, ratings, audits, objectives and CAPAs for the same agencies, Q1 2026."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, 9, tzinfo=ICT)
    events: list[CloudEvent] = []
    for n in range(60):
        agency = rng.choice(AGENCIES)
        filed = start + timedelta(hours=rng.randrange(0, 85 * 24))
        events.append(
            f.complaint_filed(
                f"C-{n:04d}", agency, filed, kind=rng.choice(("complaint", "feedback"))
            )
        )
        if rng.random() < 0.7:
            events.append(
                f.complaint_resolved(
                    f"C-{n:04d}",
                    agency,
                    filed + f.days(rng.uniform(1, 20)),
                    substantiated=rng.random() < 0.4,
                )
            )
    for n in range(200):
        events.append(
            f.rating(
                f"R-{n:04d}",
                rng.choice(AGENCIES),
                start + timedelta(hours=rng.randrange(0, 88 * 24)),
                rng.randint(1, 5),
            )
        )
    # Internal audits of two of the three agencies; four inspections, one on site.
    for n, audited in enumerate(AGENCIES[:2]):
        at = start + f.days(10 + n)
        events.append(
            f.audit_conducted(f"A-{n}", "H56", audited, at, kind="internal_audit", on_site=True)
        )
        events.append(f.finding(f"A-{n}", "H56", audited, at, f"F-{n}-1", "minor"))
        events.append(f.finding(f"A-{n}", "H56", audited, at, f"F-{n}-2", "observation"))
    for n in range(4):
        events.append(
            f.audit_conducted(
                f"I-{n}",
                "H56",
                AGENCIES[n % 3],
                start + f.days(30 + n),
                kind="inspection",
                on_site=n == 0,
            )
        )
    for agency in AGENCIES:
        events.append(
            f.objective_set(f"O-{agency}", agency, start, "on_time_rate", 90.0, "2026-Q1")
        )
    # CAPAs: one closed effective first time, one reopened then effective, one open overdue,
    # one open with recurrence, one cancelled.
    t = start + f.days(5)
    events += [
        f.capa("opened", "CAPA-1", "H56.01", t, 1),
        f.capa("effectiveness_verified", "CAPA-1", "H56.01", t + f.days(20), 2, result="effective"),
        f.capa("closed", "CAPA-1", "H56.01", t + f.days(21), 3),
        f.capa("opened", "CAPA-2", "H56.01", t, 1),
        f.capa(
            "effectiveness_verified", "CAPA-2", "H56.01", t + f.days(20), 2, result="ineffective"
        ),
        f.capa("reopened", "CAPA-2", "H56.01", t + f.days(20), 3),
        f.capa("effectiveness_verified", "CAPA-2", "H56.01", t + f.days(40), 4, result="effective"),
        f.capa("closed", "CAPA-2", "H56.01", t + f.days(41), 5),
        f.capa("opened", "CAPA-3", "H56.02", t, 1, closure_days=10),
        f.capa("opened", "CAPA-4", "H56.02", t, 1),
        f.capa(
            "recurrence_flagged", "CAPA-4", "H56.02", t + f.days(1), 2, earlier_capa_id="CAPA-1"
        ),
        f.capa("opened", "CAPA-5", "H56.03", t, 1),
        f.capa("cancelled", "CAPA-5", "H56.03", t + f.days(2), 2, justification="duplicate"),
    ]
    return events


def document_control() -> list[CloudEvent]:
    """For each agency, Q1 2026: a document issued and checked (H56.02's fails), and an ISO
    process document never revised after its procedure was amended on 1 February."""
    procedure = "1.001785.000.00.00.H56"
    events = [
        f.procedure_version(procedure, 1, datetime(2025, 12, 1, 9, tzinfo=ICT), "2026-01-01", 10),
        f.procedure_version(procedure, 2, datetime(2026, 1, 20, 9, tzinfo=ICT), "2026-02-01", 7),
    ]
    for n, agency in enumerate(AGENCIES):
        issued = datetime(2026, 1, 10 + n, 9, tzinfo=ICT)
        broken = ("seal",) if agency == "H56.02" else ()
        events += [
            f.document_issued(f"DOC-{agency}", agency, issued, issued.date().isoformat()),
            f.document_checked(f"DOC-{agency}", agency, issued + timedelta(hours=2), *broken),
            f.process_document(f"ISO-{agency}", agency, issued, 1, (procedure, 1)),
        ]
    return events
