"""Quality objectives against target: the publisher's target, our own measurement."""

from __future__ import annotations

from typing import Any

from services.common.credentials import AgencyScope
from services.metrics.adapters import kpi_queries
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.adapters.scope_sql import EVERY_AGENCY
from services.metrics.domain.kpis import objective_met, pct
from services.metrics.domain.periods import PeriodError, period_range


def measured_by_agency(
    store: ClickHouseStore, period: str, scope: AgencyScope = EVERY_AGENCY
) -> dict[str, dict[str, float | None]]:
    """Each indicator of docs/kpis.md measured per agency (of the scope) over one period."""
    days = period_range(period)
    measured: dict[str, dict[str, float | None]] = {}
    for row in kpi_queries.dossiers_by(store, days, ("agency",), scope=scope):
        m = measured.setdefault(row["agency"], {})
        m["on_time_rate"] = pct(row["on_time"], row["resolved"])
        m["online_share"] = pct(row["received_online"], row["received"])
    for row in kpi_queries.satisfaction_by(store, days, ("agency",), scope=scope):
        measured.setdefault(row["agency"], {})["satisfaction_rate"] = pct(
            row["satisfied"], row["ratings"]
        )
    for row in kpi_queries.complaints_by(store, days, ("agency",), scope=scope):
        measured.setdefault(row["agency"], {})["complaint_resolution_rate"] = pct(
            row["resolved"], row["filed"]
        )
    for row in kpi_queries.update_timeliness_by(store, days, ("agency",), scope=scope):
        measured.setdefault(row["agency"], {})["late_update_share"] = row["late_update_share"]
    return measured


def objectives_against_target(
    store: ClickHouseStore,
    agency: str | None = None,
    period: str | None = None,
    scope: AgencyScope = EVERY_AGENCY,
    at: Any = None,
) -> list[dict[str, Any]]:
    """Every objective with its measured value and whether it meets the target, as of `at`
    (the target and the evaluation in force then; None: every event)."""
    rows = kpi_queries.objectives(store, agency, period, at=at, scope=scope)
    return _with_measurement(store, rows, scope)


def evaluations_against_target(
    store: ClickHouseStore,
    agency: str | None = None,
    period: str | None = None,
    scope: AgencyScope = EVERY_AGENCY,
    at: Any = None,
) -> list[dict[str, Any]]:
    """Every reported evaluation (objective × period) beside our own measurement of it, as
    of `at` (None: every event)."""
    rows = kpi_queries.objective_evaluations(store, agency, period, at=at, scope=scope)
    return _with_measurement(store, rows, scope)


def _with_measurement(
    store: ClickHouseStore, rows: list[dict[str, Any]], scope: AgencyScope
) -> list[dict[str, Any]]:
    """Adds `measured_actual` and `measured_met` for each row's agency and period."""
    cache: dict[str, dict[str, dict[str, float | None]]] = {}
    for row in rows:
        try:
            if row["period"] not in cache:
                cache[row["period"]] = measured_by_agency(store, row["period"], scope)
        except PeriodError:
            cache[row["period"]] = {}
        actual = cache[row["period"]].get(row["agency"], {}).get(row["indicator"])
        row["measured_actual"] = None if actual is None else round(actual, 4)
        row["measured_met"] = objective_met(actual, row["target"], row["comparison"] or "")
        if row["reported_met"] is not None:
            row["reported_met"] = bool(row["reported_met"])
    return rows
