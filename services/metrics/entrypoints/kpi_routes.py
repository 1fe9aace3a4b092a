"""Read API routes of the KPI families beyond dossier counts (all JSON, `{"rows": [...]}`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from services.metrics.adapters import kpi_queries
from services.metrics.domain.kpis import (
    ONSITE_INSPECTION_MINIMUM_PCT,
    pct,
    public_service_score,
    score_components,
)
from services.metrics.domain.periods import PeriodError, period_range
from services.metrics.entrypoints.deps import AgencyFilter, Months, ProcedureFilter, Store
from services.metrics.service_layer.objectives import (
    evaluations_against_target,
    objectives_against_target,
)

router = APIRouter(prefix="/v1/kpi")
PeriodQuery = Annotated[str | None, Query(description="YYYY, YYYY-Qn or YYYY-MM")]


@router.get("/dossiers/in-progress")
def dossiers_in_progress(
    store: Store,
    agency: AgencyFilter = None,
    procedure: ProcedureFilter = None,
    at: Annotated[datetime | None, Query(description="Instant (RFC 3339); default now")] = None,
) -> dict[str, Any]:
    """Dossiers in progress at an instant, and how many are overdue."""
    if at is not None and at.tzinfo is None:
        raise HTTPException(422, "at: the instant needs a time zone")
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return {
        "at": moment.isoformat(),
        "rows": kpi_queries.dossiers_open(store, moment, agency, procedure),
    }


@router.get("/complaints/by-agency")
def complaints_by_agency(
    store: Store, months: Months, agency: AgencyFilter = None
) -> dict[str, Any]:
    """Complaints filed, resolved, substantiated, per 1,000 dossiers, resolution days."""
    return {"rows": kpi_queries.complaints_by(store, months, ("agency",), agency)}


@router.get("/complaints/by-agency-month")
def complaints_by_agency_month(
    store: Store, months: Months, agency: AgencyFilter = None
) -> dict[str, Any]:
    """Complaint KPIs per agency and month."""
    return {"rows": kpi_queries.complaints_by(store, months, ("agency", "month"), agency)}


@router.get("/satisfaction/by-agency")
def satisfaction_by_agency(
    store: Store, months: Months, agency: AgencyFilter = None
) -> dict[str, Any]:
    """Ratings, satisfied, satisfaction rate and average score per agency."""
    return {"rows": kpi_queries.satisfaction_by(store, months, ("agency",), agency)}


@router.get("/satisfaction/by-agency-month")
def satisfaction_by_agency_month(
    store: Store, months: Months, agency: AgencyFilter = None
) -> dict[str, Any]:
    """Satisfaction per agency and month."""
    return {"rows": kpi_queries.satisfaction_by(store, months, ("agency", "month"), agency)}


@router.get("/audits/by-agency")
def audits_by_agency(store: Store, months: Months, agency: AgencyFilter = None) -> dict[str, Any]:
    """Audits, inspections (on-site) and findings per audited agency."""
    return {"rows": kpi_queries.audits_by(store, months, ("agency",), agency)}


@router.get("/audits/coverage")
def audits_coverage(store: Store, months: Months) -> dict[str, Any]:
    """Internal-audit coverage of agencies and on-site inspection share against 30%."""
    c = kpi_queries.audit_coverage(store, months)
    onsite = pct(c["onsite_inspections"], c["inspections"])
    return {
        **c,
        "internal_audit_coverage_pct": pct(c["internally_audited"], c["agencies"]),
        "onsite_inspection_pct": onsite,
        "onsite_minimum_pct": ONSITE_INSPECTION_MINIMUM_PCT,
        "meets_onsite_minimum": None if onsite is None else onsite >= ONSITE_INSPECTION_MINIMUM_PCT,
    }


@router.get("/capa/by-agency")
def capa_by_agency(store: Store, agency: AgencyFilter = None) -> dict[str, Any]:
    """CAPA backlog, overdue, ageing, first-time effectiveness and recurrence, now."""
    return {"rows": kpi_queries.capa_by_agency(store, agency)}


@router.get("/objectives")
def objectives(
    store: Store, agency: AgencyFilter = None, period: PeriodQuery = None
) -> dict[str, Any]:
    """Quality objectives: target, reported and measured actual, met or missed."""
    return {"rows": objectives_against_target(store, agency, period)}


@router.get("/objectives/evaluations")
def objective_evaluations(
    store: Store, agency: AgencyFilter = None, period: PeriodQuery = None
) -> dict[str, Any]:
    """Each objective's evaluation per period: reported and measured actual, met or missed."""
    return {"rows": evaluations_against_target(store, agency, period)}


@router.get("/public-service-score/by-agency-month")
def score_by_agency_month(
    store: Store, months: Months, agency: AgencyFilter = None
) -> dict[str, Any]:
    """Public-service score (Decision 766 spirit) and its components per month."""
    return {"rows": kpi_queries.score_by(store, months, agency)}


@router.get("/public-service-score/by-agency")
def score_by_agency(
    store: Store,
    period: Annotated[str, Query(description="YYYY, YYYY-Qn or YYYY-MM")],
    agency: AgencyFilter = None,
) -> dict[str, Any]:
    """Public-service score over a whole period, from the period's totals."""
    try:
        days = period_range(period)
    except PeriodError as exc:
        raise HTTPException(422, str(exc)) from exc
    ratings = {
        r["agency"]: r for r in kpi_queries.satisfaction_by(store, days, ("agency",), agency)
    }
    rows = []
    for d in kpi_queries.dossiers_by(store, days, ("agency",), agency):
        s = ratings.get(d["agency"], {})
        components = score_components(
            received=d["received"],
            resolved=d["resolved"],
            on_time=d["on_time"],
            late=d["late"],
            received_online=d["received_online"],
            received_online_l34=d["received_online_l34"],
            apologies=d["apologies"],
            ratings=int(s.get("ratings") or 0),
            satisfied=int(s.get("satisfied") or 0),
        )
        rows.append(
            {
                "agency": d["agency"],
                "period": period,
                **components,
                "score": public_service_score(components),
            }
        )
    return {"rows": rows}
