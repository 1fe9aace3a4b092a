"""The read API's SQL: KPI questions over the ClickHouse views and aggregate tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from schemas.catalogue import PUBLISHED_FAMILIES
from services.common.credentials import AgencyScope
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.adapters.scope_sql import EVERY_AGENCY, scope_condition
from services.metrics.domain import kpi_catalogue, procedure_kpis
from services.metrics.domain.capa_kpis import AT_PARAMETER, capa_by_agency_sql
from services.metrics.domain.kpi_catalogue import (
    AS_OF,
    DOSSIER_COUNT_GROUPS,
    DOSSIER_COUNT_TABLE,
    EventsKnown,
    agencies_in_scope_sql,
    dossier_counts_sql,
    dossiers_at_sql,
    objective_evaluations_sql,
    objective_state_sql,
    score_columns_sql,
)
from services.metrics.domain.periods import DayRange


def _where(
    days: DayRange,
    column: str = "day",
    scope: AgencyScope = EVERY_AGENCY,
    **equals: str | None,
) -> tuple[str, dict[str, Any]]:
    """A WHERE clause (possibly empty) with server-side bound parameters.

    `scope` limits the rows to the caller's agencies (on the `agency` column).
    """
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if (visible := scope_condition(scope, "agency", params)) is not None:
        clauses.append(visible)
    if days.start is not None:
        clauses.append(f"{column} >= {{start:Date}}")
        params["start"] = days.start
    if days.end is not None:
        clauses.append(f"{column} < {{end:Date}}")
        params["end"] = days.end
    for name, value in equals.items():
        if value is not None:
            clauses.append(f"{name} = {{{name}:String}}")
            params[name] = value
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# Counts of dossier marks (deploy/clickhouse/0007_dossier_marks.sql, summed by 0019): a
# dossier has at most one mark per measure and month, so a count over months is a sum.
DOSSIER_COUNTS = dossier_counts_sql()


def _month_text(value: Any) -> str:
    return value.strftime("%Y-%m") if isinstance(value, date) else str(value)[:7]


def dossiers_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    procedure: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Dossier counts grouped by any of agency / procedure / month over a day range."""
    keys = [("toStartOfMonth(day) AS month" if g == "month" else g) for g in group]
    where, params = _where(days, scope=scope, agency=agency, procedure=procedure)
    sql = (
        f"SELECT {', '.join(keys)}, {DOSSIER_COUNTS} FROM {DOSSIER_COUNT_TABLE}{where} "
        f"GROUP BY {', '.join(group)} {DOSSIER_COUNT_GROUPS} ORDER BY {', '.join(group)}"
    )
    rows = store.query_dicts(sql, params)
    for row in rows:
        if "month" in row:
            row["month"] = _month_text(row["month"])
        row["late"] = int(row["late"])
    return rows


def update_timeliness_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Lag of recording (median, p90 in hours) and the share recorded late, per `group`."""
    return _grouped(store, kpi_catalogue.update_timeliness_sql, days, group, agency, scope)


def steps_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Time spent and late steps on the process control sheets per `group`, by the month
    of each step's handover."""
    return _grouped(store, kpi_catalogue.step_kpis_sql, days, group, agency, scope)


def time_lost_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Late dossiers per step or unit where they lost their time, by month of resolution."""
    return _grouped(store, kpi_catalogue.time_lost_kpis_sql, days, group, agency, scope)


def documents_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Documents issued, checked and conforming at their first check, per `group`."""
    return _grouped(store, kpi_catalogue.documents_sql, days, group, agency, scope)


def process_revisions_overdue(
    store: ClickHouseStore,
    at: datetime,
    agency: str | None = None,
    *,
    known: EventsKnown = EventsKnown.AT,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """ISO process documents not revised within the catalogue's days after a procedure
    they implement was amended, as of `at` (one row per document and amended version)."""
    where, params = _where(DayRange(), scope=scope, agency=agency)
    params["at"] = at
    overdue = kpi_catalogue.process_revisions_overdue_sql(kpi_catalogue.AT_PARAMETER, known)
    columns = ", ".join(kpi_catalogue.PROCESS_REVISION_COLUMNS)
    sql = f"SELECT {columns} FROM ({overdue}){where} ORDER BY agency, document, procedure, version"
    rows = _rows(store, sql, params)
    for row in rows:
        for key in ("amended_on", "due_on", "revised_on"):
            if isinstance(row[key], date):
                row[key] = row[key].isoformat()
    return rows


def stats(store: ClickHouseStore) -> dict[str, Any]:
    """Distinct events stored, per type, per family, and how many of them intake published."""
    by_type = {
        str(t): int(n)
        for t, n in store.query(
            "SELECT type, uniqExact(source, id) FROM events GROUP BY type ORDER BY type"
        )
    }
    by_family: dict[str, int] = {}
    for event_type, count in by_type.items():
        family = event_type.removeprefix("vn.qms.").split(".", 1)[0]
        by_family[family] = by_family.get(family, 0) + count
    (checkpoints,) = store.query("SELECT count() FROM ledger_checkpoints FINAL")[0]
    return {
        "events": sum(by_type.values()),
        "published_events": sum(n for f, n in by_family.items() if f in PUBLISHED_FAMILIES),
        "by_type": by_type,
        "by_family": by_family,
        "ledger_checkpoints": int(checkpoints),
    }


def _rows(
    store: ClickHouseStore, sql: str, params: dict[str, Any], *, rounded: bool = True
) -> list[dict[str, Any]]:
    """The rows as dicts: `month` as `YYYY-MM`, floats to 4 places unless not `rounded`."""
    rows = store.query_dicts(sql, params)
    for row in rows:
        for key, value in list(row.items()):
            if key == "month":
                row[key] = _month_text(value)
            elif rounded and isinstance(value, float):
                row[key] = round(value, 4)
    return rows


def _grouped(
    store: ClickHouseStore,
    sql_of: Callable[[tuple[str, ...], str], str],
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None,
    scope: AgencyScope,
    *,
    month_column: str = "month",
    rounded: bool = True,
) -> list[dict[str, Any]]:
    """A catalogue query per `group` (`sql_of(group, condition)`), narrowed to the months
    of `days` (on `month_column`), the caller's scope and `agency`, ordered by the group."""
    where, params = _where(days, column=month_column, scope=scope, agency=agency)
    sql = sql_of(group, where.removeprefix(" WHERE "))
    return _rows(store, f"{sql} ORDER BY {', '.join(group)}", params, rounded=rounded)


def _group(group: tuple[str, ...]) -> tuple[str, str]:
    keys = ", ".join(group)
    return keys, (f" GROUP BY {keys} ORDER BY {keys}" if group else "")


def complaints_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Complaints filed (by filing month), resolved and substantiated (by resolution month),
    average resolution days, and complaints per 1,000 dossiers received."""
    keys, grouping = _group(group)
    where, params = _where(days, column="month", scope=scope, agency=agency)
    join_on = " AND ".join(f"c.{g} = d.{g}" for g in group) or "1"
    sql = f"""
        SELECT {", ".join(f"c.{g} AS {g}" for g in group)}{"," if group else ""}
            c.filed AS filed, c.resolved AS resolved, c.substantiated AS substantiated,
            c.avg_resolution_days AS avg_resolution_days, d.received AS dossiers_received,
            if(d.received = 0, NULL, 1000.0 * c.filed / d.received) AS per_1000_dossiers
        FROM (
            SELECT {keys}{"," if group else ""} sum(filed) AS filed, sum(resolved) AS resolved,
                sum(substantiated) AS substantiated,
                sum(resolution_days_sum) / nullIf(sum(timed_resolutions), 0)
                    AS avg_resolution_days
            FROM kpi_complaints_agency_month{where}{grouping}
        ) AS c
        LEFT JOIN (
            SELECT {keys}{"," if group else ""} sum(received) AS received
            FROM kpi_dossiers_agency_month{where}{grouping}
        ) AS d ON {join_on}
        ORDER BY {", ".join(f"c.{g}" for g in group) or "filed"}
        SETTINGS join_use_nulls = 1
    """
    return _rows(store, sql, params)


def satisfaction_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Ratings, satisfied (score 4–5), satisfaction rate and average score."""
    where, params = _where(days, column="month", scope=scope, agency=agency)
    return _rows(store, _satisfaction_sql(group, where), params)


def _satisfaction_sql(group: tuple[str, ...], where: str) -> str:
    """The satisfaction figures per `group` over the months `where` selects (sums of the
    monthly view: a rate over a period is its ratings' rate, not a mean of the months')."""
    keys, grouping = _group(group)
    return f"""
        SELECT {keys}{"," if group else ""} n AS ratings, happy AS satisfied,
            100.0 * happy / nullIf(n, 0) AS satisfaction_rate,
            score_sum / nullIf(n, 0) AS avg_score
        FROM (
            SELECT {keys}{"," if group else ""} sum(ratings) AS n, sum(satisfied) AS happy,
                sum(avg_score * ratings) AS score_sum
            FROM kpi_satisfaction_agency_month{where}{grouping}
        ){(" ORDER BY " + keys) if group else ""}
    """


def audits_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Audits and inspections conducted, on-site inspections and findings per audited agency."""
    keys, grouping = _group(group)
    where, params = _where(days, column="month", scope=scope, agency=agency)
    sql = f"""
        SELECT {keys}{"," if group else ""} sum(internal_audits) AS internal_audits,
            sum(external_audits) AS external_audits, sum(inspections) AS inspections,
            sum(onsite_inspections) AS onsite_inspections, sum(findings) AS findings,
            sum(major_findings) AS major_findings, sum(minor_findings) AS minor_findings
        FROM kpi_audits_agency_month{where}{grouping}
    """
    return _rows(store, sql, params)


def audit_coverage(
    store: ClickHouseStore,
    days: DayRange,
    *,
    knowledge: str = AS_OF,
    scope: AgencyScope = EVERY_AGENCY,
) -> dict[str, Any]:
    """Share of agencies internally audited, and the on-site share of inspections. The
    agencies in scope are those seen by the end of the range (as of it), or of all time
    (`knowledge="now"`, or a range without an end)."""
    where, params = _where(days, column="toDate(addHours(conducted_time, 7))", scope=scope)
    agencies_where, _ = _where(DayRange(), scope=scope)  # the same parameters, bound once
    by_end = "{end:Date}" if knowledge == AS_OF and days.end is not None else None
    sql = f"""
        SELECT
            (SELECT count() FROM ({agencies_in_scope_sql(by_end)}){agencies_where}) AS agencies,
            uniqExactIf(agency, kind = 'internal_audit') AS internally_audited,
            uniqExactIf(agency, kind = 'inspection') AS inspected,
            countIf(kind = 'inspection') AS inspections,
            countIf(kind = 'inspection' AND on_site = 1) AS onsite_inspections
        FROM audit_state{where}{" AND" if where else " WHERE"} conducted_time IS NOT NULL
    """
    (row,) = store.query_dicts(sql, params)
    return {k: int(v) for k, v in row.items()}


def capa_by_agency(
    store: ClickHouseStore,
    at: datetime,
    agency: str | None = None,
    *,
    known: EventsKnown = EventsKnown.AT,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """CAPA backlog, overdue, ageing buckets, first-time effectiveness and recurrence as of
    `at`: over the CAPA events up to `at`, or every event stored (`EventsKnown.NOW`)."""
    where, params = _where(DayRange(), scope=scope, agency=agency)
    params["at"] = at
    board = capa_by_agency_sql(AT_PARAMETER, known)
    return _rows(store, f"SELECT * FROM ({board}){where} ORDER BY agency", params)


def dossiers_open(
    store: ClickHouseStore,
    at: Any,
    agency: str | None = None,
    procedure: str | None = None,
    *,
    knowledge: str = AS_OF,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Per agency, dossiers in progress at instant `at`: waiting for a supplement (the clock
    stopped) and overdue (past their due time in force), as of `at` or as known now."""
    where, params = _where(DayRange(), scope=scope, agency=agency, procedure=procedure)
    params["at"] = at
    dossiers = dossiers_at_sql(
        "{at:DateTime64(3, 'UTC')}", knowledge, where.removeprefix(" WHERE ")
    )
    sql = f"""
        SELECT agency, count() AS in_progress,
            sum(is_waiting_for_supplement) AS waiting_for_supplement, sum(is_overdue) AS overdue
        FROM ({dossiers})
        WHERE is_in_progress
        GROUP BY agency ORDER BY agency
    """
    return _rows(store, sql, params)


AT = "{at:DateTime64(3, 'UTC')}"


def objectives(
    store: ClickHouseStore,
    agency: str | None = None,
    period: str | None = None,
    *,
    at: Any = None,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Objectives with their target in force and the publisher's own latest evaluation, as
    of instant `at` (only events dated by then; None: every event)."""
    where, params = _where(DayRange(), scope=scope, agency=agency, period=period)
    if at is not None:
        params["at"] = at
    sql = f"""
        SELECT agency, objective, indicator, period, target, comparison, reported_actual,
               reported_met
        FROM ({objective_state_sql(AT if at is not None else None)}){where}
        ORDER BY agency, period, indicator, objective
    """
    return _rows(store, sql, params)


def objective_evaluations(
    store: ClickHouseStore,
    agency: str | None = None,
    period: str | None = None,
    *,
    at: Any = None,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Each objective's evaluation per period as reported, with the comparison in force, as
    of instant `at` (only events dated by then; None: every event)."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if (visible := scope_condition(scope, "e.agency", params)) is not None:
        clauses.append(visible)
    if agency is not None:
        clauses.append("e.agency = {agency:String}")
        params["agency"] = agency
    if period is not None:
        clauses.append("e.period = {period:String}")
        params["period"] = period
    if at is not None:
        params["at"] = at
    bound = AT if at is not None else None
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = f"""
        SELECT e.agency AS agency, e.objective AS objective, e.indicator AS indicator,
            e.period AS period, e.target AS target, s.comparison AS comparison,
            e.reported_actual AS reported_actual, e.reported_met AS reported_met
        FROM ({objective_evaluations_sql(bound)}) AS e
        LEFT JOIN ({objective_state_sql(bound)}) AS s
            ON s.agency = e.agency AND s.objective = e.objective
        {where}
        ORDER BY agency, period, indicator, objective
    """
    return _rows(store, sql, params)


def score_by(
    store: ClickHouseStore,
    days: DayRange,
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Public-service score and its components per agency and month."""
    where, params = _where(days, column="month", scope=scope, agency=agency)
    return _rows(
        store,
        f"SELECT * FROM kpi_public_service_score_month{where} ORDER BY agency, month",
        params,
    )


def score_over(
    store: ClickHouseStore,
    days: DayRange,
    period: str,
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Public-service score and its components per agency over a whole period: the
    catalogue's score columns over the period's totals (not an average of the months)."""
    on_days, params = _where(days, scope=scope, agency=agency)
    on_months, month_params = _where(days, column="month", scope=scope, agency=agency)
    sql = f"""
        SELECT d.agency AS agency, {{period:String}} AS period,
            {score_columns_sql()}
        FROM (
            SELECT agency, {DOSSIER_COUNTS} FROM {DOSSIER_COUNT_TABLE}{on_days}
            GROUP BY agency {DOSSIER_COUNT_GROUPS}
        ) AS d
        LEFT JOIN ({_satisfaction_sql(("agency",), on_months)}) AS s ON s.agency = d.agency
        ORDER BY agency
        SETTINGS join_use_nulls = 1
    """
    return _rows(store, sql, {**params, **month_params, "period": period})


def procedure_not_in_force_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Dossiers received under a procedure not in force, per `group` (month of receipt)."""
    return _grouped(
        store,
        procedure_kpis.procedure_not_in_force_counts_sql,
        days,
        group,
        agency,
        scope,
        rounded=False,
    )


def statutory_due_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Dossiers with a statutory due time and those whose published due time extends it,
    per `group` (month of receipt)."""
    return _grouped(
        store, procedure_kpis.statutory_due_counts_sql, days, group, agency, scope, rounded=False
    )


def on_time_statutory_by(
    store: ClickHouseStore,
    days: DayRange,
    group: tuple[str, ...],
    agency: str | None = None,
    *,
    scope: AgencyScope = EVERY_AGENCY,
) -> list[dict[str, Any]]:
    """Resolved dossiers on time against the published and the statutory due time, per
    `group` (month of resolution)."""
    return _grouped(
        store,
        procedure_kpis.on_time_statutory_sql,
        days,
        group,
        agency,
        scope,
        month_column="resolved_month",
        rounded=False,
    )
