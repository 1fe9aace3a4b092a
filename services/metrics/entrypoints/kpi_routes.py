"""Read API routes of the KPI families beyond dossier counts (all JSON, `{"rows": [...]}`).

Every route reads within the caller's agency scope (`Visible`, entrypoints/deps.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.metrics.adapters import kpi_queries
from services.metrics.domain.kpi_catalogue import PROCESS_REVISION_DAYS, EventsKnown
from services.metrics.domain.kpis import ONSITE_INSPECTION_MINIMUM_PCT, pct
from services.metrics.entrypoints.deps import (
    READ_RESPONSES,
    Instant,
    Knowledge,
    Months,
    Now,
    Period,
    ProcedureFilter,
    RequiredPeriod,
    Store,
    Visible,
    checked_period,
)
from services.metrics.service_layer.objectives import (
    evaluations_against_target,
    objectives_against_target,
)

router = APIRouter(prefix="/v1/kpi", responses=READ_RESPONSES)


@router.get("/dossiers/by-agency")
def dossiers_by_agency(
    store: Store, visible: Visible, months: Months, procedure: ProcedureFilter = None
) -> dict[str, Any]:
    """Dossiers received, resolved, on time and late per agency over the months."""
    return {"rows": _dossiers(store, visible, months, ("agency",), procedure)}


@router.get("/dossiers/by-agency-month")
def dossiers_by_agency_month(
    store: Store, visible: Visible, months: Months, procedure: ProcedureFilter = None
) -> dict[str, Any]:
    """Dossier counts per agency and month (YYYY-MM)."""
    return {"rows": _dossiers(store, visible, months, ("agency", "month"), procedure)}


@router.get("/dossiers/by-procedure")
def dossiers_by_procedure(
    store: Store, visible: Visible, months: Months, procedure: ProcedureFilter = None
) -> dict[str, Any]:
    """Dossier counts per agency and procedure over the months."""
    return {"rows": _dossiers(store, visible, months, ("agency", "procedure"), procedure)}


def _dossiers(
    store: Store, visible: Visible, months: Months, group: tuple[str, ...], procedure: str | None
) -> list[dict[str, Any]]:
    return kpi_queries.dossiers_by(
        store, months, group, visible.agency, procedure, scope=visible.scope
    )


@router.get("/dossiers/in-progress")
def dossiers_in_progress(
    store: Store,
    visible: Visible,
    now: Now,
    at: Instant = None,
    procedure: ProcedureFilter = None,
    known: Knowledge = EventsKnown.AT,
) -> dict[str, Any]:
    """Dossiers in progress at an instant, waiting for a supplement, and overdue."""
    moment = at or now
    rows = kpi_queries.dossiers_open(
        store, moment, visible.agency, procedure, knowledge=known, scope=visible.scope
    )
    return {"at": moment.isoformat(), "known": known, "rows": rows}


@router.get("/complaints/by-agency")
def complaints_by_agency(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Complaints filed, resolved, substantiated, per 1,000 dossiers, resolution days."""
    rows = kpi_queries.complaints_by(
        store, months, ("agency",), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/complaints/by-agency-month")
def complaints_by_agency_month(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Complaint KPIs per agency and month."""
    rows = kpi_queries.complaints_by(
        store, months, ("agency", "month"), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/satisfaction/by-agency")
def satisfaction_by_agency(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Ratings, satisfied, satisfaction rate and average score per agency."""
    rows = kpi_queries.satisfaction_by(
        store, months, ("agency",), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/satisfaction/by-agency-month")
def satisfaction_by_agency_month(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Satisfaction per agency and month."""
    rows = kpi_queries.satisfaction_by(
        store, months, ("agency", "month"), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/audits/by-agency")
def audits_by_agency(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Audits, inspections (on-site) and findings per audited agency."""
    rows = kpi_queries.audits_by(store, months, ("agency",), visible.agency, scope=visible.scope)
    return {"rows": rows}


@router.get("/audits/coverage")
def audits_coverage(
    store: Store, visible: Visible, months: Months, known: Knowledge = EventsKnown.AT
) -> dict[str, Any]:
    """Internal-audit coverage of the caller's agencies and on-site inspection share against 30%."""
    c = kpi_queries.audit_coverage(store, months, knowledge=known, scope=visible.scope)
    onsite = pct(c["onsite_inspections"], c["inspections"])
    return {
        **c,
        "internal_audit_coverage_pct": pct(c["internally_audited"], c["agencies"]),
        "onsite_inspection_pct": onsite,
        "onsite_minimum_pct": ONSITE_INSPECTION_MINIMUM_PCT,
        "meets_onsite_minimum": None if onsite is None else onsite >= ONSITE_INSPECTION_MINIMUM_PCT,
    }


@router.get("/capa/by-agency")
def capa_by_agency(
    store: Store,
    visible: Visible,
    now: Now,
    at: Instant = None,
    known: Knowledge = EventsKnown.AT,
) -> dict[str, Any]:
    """CAPA backlog, overdue, ageing, first-time effectiveness and recurrence as of `at`
    (default: now by the service's clock)."""
    moment = at or now
    rows = kpi_queries.capa_by_agency(
        store, moment, visible.agency, known=known, scope=visible.scope
    )
    return {"at": moment.isoformat(), "known": known, "rows": rows}


@router.get("/objectives")
def objectives(
    store: Store, visible: Visible, period: Period = None, at: Instant = None
) -> dict[str, Any]:
    """Quality objectives: target, reported and measured actual, met or missed (as of `at`)."""
    rows = objectives_against_target(store, visible.agency, period, visible.scope, at)
    return {"rows": rows}


@router.get("/objectives/evaluations")
def objective_evaluations(
    store: Store, visible: Visible, period: Period = None, at: Instant = None
) -> dict[str, Any]:
    """Each objective's evaluation per period: reported and measured actual, met or missed."""
    rows = evaluations_against_target(store, visible.agency, period, visible.scope, at)
    return {"rows": rows}


@router.get("/update-timeliness/by-agency")
def update_timeliness_by_agency(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """How late events were recorded per agency over the months: median and p90 lag (hours),
    share recorded more than one working day late."""
    rows = kpi_queries.update_timeliness_by(
        store, months, ("agency",), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/update-timeliness/by-agency-month")
def update_timeliness_by_agency_month(
    store: Store, visible: Visible, months: Months
) -> dict[str, Any]:
    """Timeliness of updates per agency and month."""
    rows = kpi_queries.update_timeliness_by(
        store, months, ("agency", "month"), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/steps/by-unit")
def steps_by_unit(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Time each unit held dossiers (hours in all, average, longest) and its late steps, per
    agency and unit, by the month of the handover (docs/kpis.md, "The process control sheet")."""
    return {"rows": _steps(store, visible, months, ("agency", "unit"))}


@router.get("/steps/by-procedure-step")
def steps_by_procedure_step(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Time spent and late steps per agency, procedure, step number and unit."""
    return {"rows": _steps(store, visible, months, ("agency", "procedure", "step", "unit"))}


@router.get("/steps/by-unit-month")
def steps_by_unit_month(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Late steps (and time spent) per agency, unit and month of the handover."""
    return {"rows": _steps(store, visible, months, ("agency", "unit", "month"))}


def _steps(
    store: Store, visible: Visible, months: Months, group: tuple[str, ...]
) -> list[dict[str, Any]]:
    return kpi_queries.steps_by(store, months, group, visible.agency, scope=visible.scope)


@router.get("/time-lost/by-unit")
def time_lost_by_unit(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Late dossiers per agency and unit where they lost their time (the step that overran
    most, else the longest), by the month of their resolution."""
    rows = kpi_queries.time_lost_by(
        store, months, ("agency", "unit"), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/time-lost/by-procedure-step")
def time_lost_by_procedure_step(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Late dossiers per agency, procedure, step and unit where they lost their time."""
    rows = kpi_queries.time_lost_by(
        store, months, ("agency", "procedure", "step", "unit"), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/documents/by-agency")
def documents_by_agency(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Documents issued per agency over the months (by their date of issue), checked for
    format conformity, conforming at their first check, and the conforming share."""
    rows = kpi_queries.documents_by(store, months, ("agency",), visible.agency, scope=visible.scope)
    return {"rows": rows}


@router.get("/documents/by-agency-month")
def documents_by_agency_month(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Documents issued and their format conformity per agency and month of issue."""
    rows = kpi_queries.documents_by(
        store, months, ("agency", "month"), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/process-documents/overdue")
def process_documents_overdue(
    store: Store,
    visible: Visible,
    now: Now,
    at: Instant = None,
    known: Knowledge = EventsKnown.AT,
) -> dict[str, Any]:
    """ISO process documents not revised within the allowed days after a procedure they
    implement was amended, as of `at` (default: now by the service's clock)."""
    moment = at or now
    rows = kpi_queries.process_revisions_overdue(
        store, moment, visible.agency, known=known, scope=visible.scope
    )
    return {
        "at": moment.isoformat(),
        "known": known,
        "revision_days": PROCESS_REVISION_DAYS,
        "rows": rows,
    }


@router.get("/public-service-score/by-agency-month")
def score_by_agency_month(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Public-service score (Decision 766 spirit) and its components per month."""
    return {"rows": kpi_queries.score_by(store, months, visible.agency, scope=visible.scope)}


@router.get("/public-service-score/by-agency")
def score_by_agency(
    store: Store,
    visible: Visible,
    period: RequiredPeriod,
) -> dict[str, Any]:
    """Public-service score over a whole period, from the period's totals."""
    days = checked_period(period)
    return {
        "rows": kpi_queries.score_over(store, days, period, visible.agency, scope=visible.scope)
    }


@router.get("/procedures/not-in-force/by-agency-month")
def procedures_not_in_force(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Dossiers received under a procedure not in force on their day, per agency, month of
    receipt and reason (unknown, not yet in force, repealed, outdated version)."""
    rows = kpi_queries.procedure_not_in_force_by(
        store, months, ("agency", "month", "reason"), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/statutory-due/by-agency-month")
def statutory_due(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Dossiers with a statutory due time and the count and share whose published due time
    is later than the law allows, per agency and month of receipt."""
    rows = kpi_queries.statutory_due_by(
        store, months, ("agency", "month"), visible.agency, scope=visible.scope
    )
    return {"rows": rows}


@router.get("/on-time-statutory/by-agency-month")
def on_time_statutory(store: Store, visible: Visible, months: Months) -> dict[str, Any]:
    """Resolved dossiers on time against the published due time and against the statutory
    one, per agency and month of resolution."""
    rows = kpi_queries.on_time_statutory_by(
        store, months, ("agency", "month"), visible.agency, scope=visible.scope
    )
    return {"rows": rows}
