"""Write the Grafana dashboards of QMS Trail (deploy/grafana/dashboards/*.json).

    .venv/bin/python deploy/grafana/build_dashboards.py

The JSON files are what Grafana loads and what the tests run; this script only keeps them
consistent (one data source, the same variables, a grid layout). Every panel's target
carries `qmsColumns`, the columns the panel reads, which the tests check against chDB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.metrics.domain.kpi_catalogue import (
    AS_OF,
    COUNTER_SHARE,
    DOCUMENT_COLUMNS,
    DOSSIER_COUNT_GROUPS,
    DOSSIER_COUNT_TABLE,
    FULL_ONLINE_SHARE,
    LATE_UPDATE_AFTER_WORKING_DAYS,
    ON_TIME_RATE,
    ONLINE_SHARE,
    ONSITE_INSPECTION_MINIMUM_PCT,
    PARTLY_ONLINE_SHARE,
    POSTAL_SHARE,
    PROCESS_REVISION_COLUMNS,
    PROCESS_REVISION_DAYS,
    SCORE_COMPONENTS,
    UPDATE_TIMELINESS_COLUMNS,
    count_sql,
    documents_sql,
    dossier_counts_sql,
    dossiers_at_sql,
    step_kpis_sql,
    time_lost_kpis_sql,
)

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "qms-clickhouse"}

# Agencies are codes like H56.01: the province is the part before the first dot.
PROVINCE_OF = "splitByChar('.', agency)[1]"
IN_PROVINCE = f"$__conditionalAll({PROVINCE_OF} IN (${{province:singlequote}}), $province)"
IN_PROCEDURE = "$__conditionalAll(procedure IN (${procedure:singlequote}), $procedure)"


def scope(column: str = "agency") -> str:
    """The province and agency variables applied to an agency column."""
    return (
        f"$__conditionalAll(splitByChar('.', {column})[1] IN (${{province:singlequote}}), "
        f"$province) AND $__conditionalAll({column} IN (${{agency:singlequote}}), $agency)"
    )


SCOPE = scope()


def variable(name: str, label: str, sql: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": sql,
        "definition": sql,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": "",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


VARIABLES = [
    variable("province", "Province", f"SELECT DISTINCT {PROVINCE_OF} FROM agencies ORDER BY 1"),
    variable(
        "agency", "Agency", f"SELECT agency FROM agencies WHERE {IN_PROVINCE} ORDER BY agency"
    ),
    variable(
        "procedure",
        "Procedure",
        f"SELECT DISTINCT procedure FROM dossier_marks WHERE {SCOPE} ORDER BY procedure",
    ),
]


def panel(
    title: str,
    kind: str,
    sql: str,
    columns: list[str],
    *,
    w: int = 12,
    h: int = 8,
    timeseries: bool = False,
    unit: str | None = None,
    description: str = "",
) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if unit:
        defaults["unit"] = unit
    return {
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "description": description,
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "editorType": "sql",
                "queryType": "timeseries" if timeseries else "table",
                "format": 0 if timeseries else 1,
                "rawSql": " ".join(sql.split()),
                "qmsColumns": columns,
            }
        ],
    }


def dashboard(
    uid: str,
    title: str,
    panels: list[dict[str, Any]],
    variables: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    x = y = row_h = 0
    for number, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        p["id"] = number
        x, row_h = x + w, max(row_h, h)
    return {
        "uid": uid,
        "title": title,
        "tags": ["qms-trail"],
        "timezone": "Asia/Ho_Chi_Minh",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "1m",
        "time": {"from": "now-1y", "to": "now"},
        "templating": {"list": VARIABLES if variables is None else variables},
        "annotations": {"list": []},
        "panels": panels,
    }


# The KPI catalogue writes every dossier count and rate, and the CAPA figures come from the
# view kpi_capa_agency, the board as of now that services/metrics/domain/capa_kpis.py writes
# for the API too: the panels count what the API does.
CALENDARED = "calendared_updates"  # a denominator, not shown
OVERDUE_SHOWN = tuple(c for c in PROCESS_REVISION_COLUMNS if c != "month")  # the range's
# Every dossier count reads the summing table (kpi_catalogue.DOSSIER_COUNT_TABLE).
COUNTS, GROUPS = DOSSIER_COUNT_TABLE, DOSSIER_COUNT_GROUPS
DOSSIER_SUMS = dossier_counts_sql(("received", "resolved", "on_time", "late"))
SCORE_COLUMNS = ["score", *(c.name for c in SCORE_COMPONENTS)]
CHANNEL_SHARES = (PARTLY_ONLINE_SHARE, FULL_ONLINE_SHARE, COUNTER_SHARE, POSTAL_SHARE)
# Dossiers at the dashboard's end instant, as of then (docs/kpis.md "Dossiers at an instant").
AT_RANGE_END = dossiers_at_sql(
    "toDateTime64($__toTime, 3, 'UTC')", AS_OF, f"{SCOPE} AND {IN_PROCEDURE}"
)

province_overview = dashboard(
    "qms-province",
    "QMS Trail — province overview",
    [
        panel(
            "Dossiers received",
            "stat",
            f"SELECT {count_sql('received', 'received')} FROM {COUNTS} "
            f"WHERE $__dateFilter(day) AND {SCOPE} AND {IN_PROCEDURE}",
            ["received"],
            w=6,
            h=4,
        ),
        panel(
            ON_TIME_RATE.label,
            "stat",
            f"SELECT {ON_TIME_RATE.sql()} FROM {COUNTS} "
            f"WHERE $__dateFilter(day) AND {SCOPE} AND {IN_PROCEDURE}",
            ["on_time_rate"],
            w=6,
            h=4,
            unit="percent",
        ),
        panel(
            ONLINE_SHARE.label,
            "stat",
            f"SELECT {ONLINE_SHARE.sql()} FROM {COUNTS} "
            f"WHERE $__dateFilter(day) AND {SCOPE} AND {IN_PROCEDURE}",
            ["online_share"],
            w=6,
            h=4,
            unit="percent",
        ),
        panel(
            "Satisfaction",
            "stat",
            f"SELECT 100 * sum(satisfied) / nullIf(sum(ratings), 0) AS satisfaction_rate "
            f"FROM kpi_satisfaction_agency_month WHERE $__dateFilter(month) AND {SCOPE}",
            ["satisfaction_rate"],
            w=6,
            h=4,
            unit="percent",
        ),
        panel(
            "Dossiers per day",
            "timeseries",
            f"SELECT toDateTime(day) AS time, {DOSSIER_SUMS} FROM {COUNTS} "
            f"WHERE $__dateFilter(day) AND {SCOPE} AND {IN_PROCEDURE} GROUP BY time "
            f"{GROUPS} ORDER BY time",
            ["time", "received", "resolved", "on_time", "late"],
            w=24,
            timeseries=True,
        ),
        panel(
            "Per agency",
            "table",
            f"SELECT agency, {DOSSIER_SUMS}, round(100 * on_time / nullIf(resolved, 0), 1) "
            f"AS on_time_pct FROM {COUNTS} WHERE $__dateFilter(day) AND {SCOPE} AND "
            f"{IN_PROCEDURE} GROUP BY agency {GROUPS} ORDER BY late DESC, agency",
            ["agency", "received", "resolved", "on_time", "late", "on_time_pct"],
            w=12,
            h=10,
        ),
        panel(
            "Public-service score per month",
            "table",
            f"SELECT agency, month, {', '.join(f'round({c}, 1) AS {c}' for c in SCORE_COLUMNS)} "
            f"FROM kpi_public_service_score_month WHERE $__dateFilter(month) AND {SCOPE} "
            f"ORDER BY month DESC, score",
            ["agency", "month", *SCORE_COLUMNS],
            w=12,
            h=10,
        ),
        panel(
            "Complaints per 1,000 dossiers",
            "barchart",
            f"SELECT c.agency AS agency, 1000 * sum(c.filed) / nullIf(any(d.received), 0) "
            f"AS per_1000 FROM kpi_complaints_agency_month AS c LEFT JOIN (SELECT agency, "
            f"sum(received) AS received FROM kpi_dossiers_agency_month WHERE "
            f"$__dateFilter(month) GROUP BY agency) AS d ON d.agency = c.agency "
            f"WHERE $__dateFilter(c.month) AND {scope('c.agency')} "
            f"GROUP BY c.agency ORDER BY per_1000 DESC",
            ["agency", "per_1000"],
            w=12,
        ),
        panel(
            "Received by channel and online level",
            "bargauge",
            f"SELECT {', '.join(r.sql() for r in CHANNEL_SHARES)} FROM {COUNTS} "
            f"WHERE $__dateFilter(day) AND {SCOPE} AND {IN_PROCEDURE}",
            [r.name for r in CHANNEL_SHARES],
            w=12,
            unit="percent",
        ),
        panel(
            "Timeliness of updates: how late events were recorded",
            "table",
            f"SELECT agency, month, updates, round(median_lag_hours, 1) AS median_lag_hours, "
            f"round(p90_lag_hours, 1) AS p90_lag_hours, late_updates, "
            f"round(late_update_share, 1) AS late_update_share "
            f"FROM kpi_update_timeliness_agency_month WHERE $__dateFilter(month) AND {SCOPE} "
            f"ORDER BY month DESC, late_update_share DESC, agency",
            ["agency", "month", *(c for c in UPDATE_TIMELINESS_COLUMNS if c != CALENDARED)],
            w=12,
            h=10,
            description="Lag of an event: intake's receipt minus when it happened. Late: "
            f"received more than {LATE_UPDATE_AFTER_WORKING_DAYS} working day after the day it "
            "happened (docs/kpis.md, Timeliness of updates).",
        ),
        panel(
            "Document control: documents issued and their format conformity",
            "table",
            f"{documents_sql(('agency',), f'$__dateFilter(month) AND {SCOPE}')} "
            f"ORDER BY conforming_share ASC, agency",
            ["agency", *DOCUMENT_COLUMNS],
            w=12,
            h=10,
            description="Documents by their date of issue; conforming: at their first format "
            "check against Decree 30/2020 (docs/kpis.md, Document control).",
        ),
        panel(
            "ISO processes not revised after their procedure was amended",
            "table",
            f"SELECT {', '.join(OVERDUE_SHOWN)} FROM kpi_process_revisions_overdue "
            f"WHERE $__dateFilter(month) AND {SCOPE} AND {IN_PROCEDURE} "
            f"ORDER BY isNull(revised_on) DESC, days_overdue DESC, agency, document",
            list(OVERDUE_SHOWN),
            w=12,
            h=10,
            description=f"Not revised within {PROCESS_REVISION_DAYS} days after the amended "
            "version took effect, as of now; a late revision stays listed with its day "
            "(docs/kpis.md, Document control).",
        ),
        panel(
            "Dossiers in progress at the end of the range: waiting for supplement, overdue",
            "bargauge",
            f"SELECT agency, sum(is_waiting_for_supplement) AS waiting_for_supplement, "
            f"sum(is_overdue) AS overdue FROM ({AT_RANGE_END}) WHERE is_in_progress "
            f"GROUP BY agency HAVING overdue + waiting_for_supplement > 0 "
            f"ORDER BY overdue DESC LIMIT 20",
            ["agency", "waiting_for_supplement", "overdue"],
            w=12,
        ),
        panel(
            "Dossiers received under a procedure not in force",
            "table",
            f"SELECT agency, month, reason, dossiers FROM kpi_procedure_not_in_force_agency_month "
            f"WHERE $__dateFilter(month) AND {SCOPE} ORDER BY month DESC, dossiers DESC, agency",
            ["agency", "month", "reason", "dossiers"],
            w=8,
            h=10,
            description="Per month of receipt: the procedure was unknown to the register, not "
            "yet in force, repealed, or the dossier states an outdated version (docs/kpis.md, "
            "Procedure register). Each agency × procedure × month opens a CAPA.",
        ),
        panel(
            "Due dates extended beyond the statutory time",
            "table",
            f"SELECT agency, sum(dossiers) AS dossiers, sum(extended_due) AS extended_due, "
            f"round(100 * extended_due / nullIf(dossiers, 0), 1) AS extended_due_share "
            f"FROM kpi_statutory_due_agency_month WHERE $__dateFilter(month) AND {SCOPE} "
            f"GROUP BY agency ORDER BY extended_due DESC, agency",
            ["agency", "dossiers", "extended_due", "extended_due_share"],
            w=8,
            h=10,
            description="Dossiers whose published due time is later than the end of the "
            "statutory working days after receipt (or after a complete supplement); they hide "
            "lateness (docs/kpis.md, Statutory due time).",
        ),
        panel(
            "On time against the published and the statutory due time",
            "table",
            f"SELECT agency, sum(resolved) AS resolved, "
            f"round(100 * sum(on_time) / nullIf(resolved, 0), 1) AS on_time_rate, "
            f"round(100 * sum(on_time_statutory) / nullIf(resolved, 0), 1) "
            f"AS on_time_statutory_rate FROM kpi_on_time_statutory_agency_month "
            f"WHERE $__dateFilter(month) AND {SCOPE} GROUP BY agency "
            f"ORDER BY on_time_statutory_rate, agency",
            ["agency", "resolved", "on_time_rate", "on_time_statutory_rate"],
            w=8,
            h=10,
            unit="percent",
            description="Resolved dossiers (per month of resolution) with a statutory due time: "
            "on time by the due time the publisher sent, and by the statutory one.",
        ),
    ],
)


def process_sheet_panels() -> list[dict[str, Any]]:
    """Where time is lost on the process control sheets (docs/kpis.md): the unit and step
    where late dossiers lost their time, and late steps per unit and month."""
    in_range = f"$__dateFilter(month) AND {SCOPE} AND {IN_PROCEDURE}"
    lost = time_lost_kpis_sql(("agency", "unit", "step"), in_range)
    steps = step_kpis_sql(("agency", "unit", "month"), in_range)
    return [
        panel(
            "Where time is lost: late dossiers by the unit and step that lost their time",
            "table",
            f"SELECT agency, unit, step, late_dossiers, overran_dossiers, "
            f"round(hours_overrun, 1) AS hours_overrun, round(avg_step_hours, 1) AS "
            f"avg_step_hours FROM ({lost}) ORDER BY late_dossiers DESC, agency, unit, step",
            [
                "agency",
                "unit",
                "step",
                "late_dossiers",
                "overran_dossiers",
                "hours_overrun",
                "avg_step_hours",
            ],
            w=12,
            h=10,
            description="A late dossier (by the month of its resolution) lost its time at "
            "the step that overran its due time most, else at its longest step.",
        ),
        panel(
            "Late steps per unit and month (process control sheet)",
            "table",
            f"SELECT agency, unit, month, steps, round(avg_hours, 1) AS avg_hours, "
            f"late_steps, round(late_step_share, 1) AS late_step_share FROM ({steps}) "
            f"ORDER BY month DESC, late_steps DESC, agency, unit",
            ["agency", "unit", "month", "steps", "avg_hours", "late_steps", "late_step_share"],
            w=12,
            h=10,
            description="A step is late when handed over after the step due time its "
            "publisher stated; time is elapsed hours from the previous unit's hand-over.",
        ),
    ]


agency_drilldown = dashboard(
    "qms-agency",
    "QMS Trail — agency drill-down",
    [
        panel(
            "On-time rate per month",
            "timeseries",
            f"SELECT toDateTime(toStartOfMonth(day)) AS time, {ON_TIME_RATE.sql()} "
            f"FROM {COUNTS} "
            f"WHERE $__dateFilter(day) AND {SCOPE} AND {IN_PROCEDURE} GROUP BY time "
            f"{GROUPS} ORDER BY time",
            ["time", "on_time_rate"],
            timeseries=True,
            unit="percent",
        ),
        panel(
            "Dossiers per week",
            "timeseries",
            f"SELECT $__timeInterval(day) AS time, {DOSSIER_SUMS} FROM {COUNTS} "
            f"WHERE $__dateFilter(day) AND {SCOPE} AND {IN_PROCEDURE} GROUP BY time "
            f"{GROUPS} ORDER BY time",
            ["time", "received", "resolved", "on_time", "late"],
            timeseries=True,
        ),
        panel(
            "Per procedure",
            "table",
            f"SELECT procedure, {DOSSIER_SUMS}, "
            f"{count_sql('supplement_requested', 'supplements')}, "
            f"{count_sql('apologies', 'apologies')} FROM {COUNTS} "
            f"WHERE $__dateFilter(day) AND {SCOPE} AND {IN_PROCEDURE} GROUP BY procedure "
            f"{GROUPS} ORDER BY late DESC, procedure",
            ["procedure", "received", "resolved", "on_time", "late", "supplements", "apologies"],
            w=24,
            h=10,
        ),
        panel(
            "Satisfaction per month",
            "timeseries",
            f"SELECT toDateTime(month) AS time, 100 * sum(satisfied) / nullIf(sum(ratings), 0) "
            f"AS satisfaction_rate FROM kpi_satisfaction_agency_month WHERE $__dateFilter(month) "
            f"AND {SCOPE} GROUP BY time ORDER BY time",
            ["time", "satisfaction_rate"],
            timeseries=True,
            unit="percent",
        ),
        panel(
            "Complaints per month",
            "timeseries",
            f"SELECT toDateTime(month) AS time, sum(filed) AS filed, sum(resolved) AS resolved, "
            f"sum(substantiated) AS substantiated FROM kpi_complaints_agency_month "
            f"WHERE $__dateFilter(month) AND {SCOPE} GROUP BY time ORDER BY time",
            ["time", "filed", "resolved", "substantiated"],
            timeseries=True,
        ),
        panel(
            "Quality objectives",
            "table",
            f"SELECT agency, period, indicator, target, comparison, reported_actual, reported_met "
            f"FROM objective_state WHERE {SCOPE} ORDER BY agency, period, indicator",
            [
                "agency",
                "period",
                "indicator",
                "target",
                "comparison",
                "reported_actual",
                "reported_met",
            ],
            w=24,
        ),
        *process_sheet_panels(),
    ],
)

capa_board = dashboard(
    "qms-capa",
    "QMS Trail — CAPA board",
    [
        panel(
            "Backlog",
            "stat",
            f"SELECT sum(backlog) AS backlog FROM kpi_capa_agency WHERE {SCOPE}",
            ["backlog"],
            w=6,
            h=4,
        ),
        panel(
            "Overdue",
            "stat",
            f"SELECT sum(overdue) AS overdue FROM kpi_capa_agency WHERE {SCOPE}",
            ["overdue"],
            w=6,
            h=4,
        ),
        panel(
            "First-time effectiveness",
            "stat",
            f"SELECT 100 * sum(effective_first_time) / nullIf(sum(verified), 0) "
            f"AS first_time_effectiveness FROM kpi_capa_agency WHERE {SCOPE}",
            ["first_time_effectiveness"],
            w=6,
            h=4,
            unit="percent",
        ),
        panel(
            "Recurrence",
            "stat",
            f"SELECT 100 * sum(recurrences) / nullIf(sum(capas), 0) AS recurrence_rate "
            f"FROM kpi_capa_agency WHERE {SCOPE}",
            ["recurrence_rate"],
            w=6,
            h=4,
            unit="percent",
        ),
        panel(
            "Opened and closed per month",
            "timeseries",
            f"SELECT toDateTime(toStartOfMonth(day)) AS time, "
            f"uniqExactIf(capa, type = 'vn.qms.capa.opened.v1') AS opened, "
            f"uniqExactIf(capa, type = 'vn.qms.capa.closed.v1') AS closed "
            f"FROM capa_events WHERE $__dateFilter(day) AND {SCOPE} GROUP BY time ORDER BY time",
            ["time", "opened", "closed"],
            timeseries=True,
        ),
        panel(
            "Ageing of open CAPAs",
            "barchart",
            f"SELECT agency, sum(age_0_30) AS age_0_30, sum(age_31_60) AS age_31_60, "
            f"sum(age_61_90) AS age_61_90, sum(age_over_90) AS age_over_90 FROM kpi_capa_agency "
            f"WHERE {SCOPE} GROUP BY agency ORDER BY agency",
            ["agency", "age_0_30", "age_31_60", "age_61_90", "age_over_90"],
        ),
        panel(
            "CAPAs effective by measurement vs by verdict",
            "barchart",
            f"SELECT agency, sum(effective_by_verdict) AS effective_by_verdict, "
            f"sum(effective_by_measurement) AS effective_by_measurement, "
            f"sum(ineffective_by_measurement) AS ineffective_by_measurement, "
            f"sum(verdict_contradicted) AS verdict_contradicted FROM kpi_capa_agency "
            f"WHERE {SCOPE} GROUP BY agency ORDER BY agency",
            [
                "agency",
                "effective_by_verdict",
                "effective_by_measurement",
                "ineffective_by_measurement",
                "verdict_contradicted",
            ],
            w=24,
            description="Per agency: CAPAs the auditor's latest verdict calls effective, and "
            "CAPAs whose nonconformity's own measure, followed over the window after their "
            "actions were done, stayed at or below its threshold (effective by measurement) or "
            "went above it (ineffective). Contradicted: verified effective, measured "
            "ineffective.",
        ),
        panel(
            "Open CAPAs",
            "table",
            f"SELECT capa, agency, nc_source, severity, process, opened_time, closure_due_on, "
            f"last_type, escalated, recurrence FROM capa_state WHERE status = 'open' AND {SCOPE} "
            f"ORDER BY closure_due_on, capa LIMIT 500",
            [
                "capa",
                "agency",
                "nc_source",
                "severity",
                "process",
                "opened_time",
                "closure_due_on",
                "last_type",
                "escalated",
                "recurrence",
            ],
            w=24,
            h=10,
        ),
    ],
)

audit_programme = dashboard(
    "qms-audits",
    "QMS Trail — audit programme",
    [
        panel(
            "Internal-audit coverage",
            "stat",
            f"SELECT 100 * uniqExactIf(agency, kind = 'internal_audit' AND conducted_time IS NOT "
            f"NULL AND $__timeFilter(conducted_time)) / nullIf((SELECT count() FROM agencies "
            f"WHERE {SCOPE}), 0) AS coverage FROM audit_state WHERE {SCOPE}",
            ["coverage"],
            w=8,
            h=4,
            unit="percent",
        ),
        panel(
            f"On-site inspections (minimum {ONSITE_INSPECTION_MINIMUM_PCT:.0f}%)",
            "stat",
            f"SELECT 100 * countIf(on_site = 1) / nullIf(count(), 0) AS onsite_share "
            f"FROM audit_state WHERE kind = 'inspection' AND conducted_time IS NOT NULL "
            f"AND $__timeFilter(conducted_time) AND {SCOPE}",
            ["onsite_share"],
            w=8,
            h=4,
            unit="percent",
        ),
        panel(
            "Findings",
            "stat",
            f"SELECT count() AS findings FROM audit_findings WHERE $__timeFilter(time) AND {SCOPE}",
            ["findings"],
            w=8,
            h=4,
        ),
        panel(
            "Audits and inspections per month",
            "timeseries",
            f"SELECT toDateTime(month) AS time, sum(internal_audits) AS internal_audits, "
            f"sum(external_audits) AS external_audits, sum(inspections) AS inspections, "
            f"sum(onsite_inspections) AS onsite_inspections FROM kpi_audits_agency_month "
            f"WHERE $__dateFilter(month) AND {SCOPE} GROUP BY time ORDER BY time",
            ["time", "internal_audits", "external_audits", "inspections", "onsite_inspections"],
            timeseries=True,
            w=24,
        ),
        panel(
            "Findings by classification and clause",
            "table",
            f"SELECT classification, iso_clause, count() AS findings FROM audit_findings "
            f"WHERE $__timeFilter(time) AND {SCOPE} GROUP BY classification, iso_clause "
            f"ORDER BY findings DESC",
            ["classification", "iso_clause", "findings"],
        ),
        panel(
            "Agencies not audited in the range",
            "table",
            f"SELECT agency FROM agencies WHERE {SCOPE} AND agency NOT IN (SELECT agency FROM "
            f"audit_state WHERE kind = 'internal_audit' AND conducted_time IS NOT NULL AND "
            f"$__timeFilter(conducted_time)) ORDER BY agency",
            ["agency"],
        ),
    ],
)

audit_trail = dashboard(
    "qms-trail-integrity",
    "QMS Trail — audit-trail integrity",
    [
        panel(
            "Events stored",
            "stat",
            "SELECT uniqExact(source, id) AS events FROM events WHERE $__timeFilter(time)",
            ["events"],
            w=8,
            h=4,
        ),
        panel(
            "Checkpoints received",
            "stat",
            "SELECT count() AS checkpoints FROM ledger_checkpoints FINAL "
            "WHERE $__timeFilter(ingested_at)",
            ["checkpoints"],
            w=8,
            h=4,
        ),
        panel(
            "Largest checkpointed tree",
            "stat",
            "SELECT max(tree_size) AS tree_size FROM ledger_checkpoints FINAL",
            ["tree_size"],
            w=8,
            h=4,
        ),
        panel(
            "Latest checkpoint per log",
            "table",
            "SELECT origin, argMax(tree_size, offset) AS tree_size, argMax(root_hash, offset) "
            "AS root_hash, max(ingested_at) AS last_seen FROM ledger_checkpoints FINAL "
            "GROUP BY origin ORDER BY origin",
            ["origin", "tree_size", "root_hash", "last_seen"],
            w=24,
        ),
        panel(
            "Events per partition (compare with the checkpointed sizes)",
            "table",
            "SELECT topic, partition, uniqExact(source, id) AS events, max(offset) + 1 "
            "AS next_offset FROM events GROUP BY topic, partition ORDER BY topic, partition",
            ["topic", "partition", "events", "next_offset"],
        ),
        panel(
            "Intake receipt delay (p95, seconds)",
            "timeseries",
            "SELECT $__timeInterval(time) AS time_bucket, "
            "quantile(0.95)(dateDiff('millisecond', time, received_time) / 1000) AS p95_delay_s "
            "FROM events WHERE $__timeFilter(time) AND received_time IS NOT NULL "
            "GROUP BY time_bucket ORDER BY time_bucket",
            ["time_bucket", "p95_delay_s"],
            timeseries=True,
        ),
    ],
    variables=[],
)

PROMETHEUS = {"type": "prometheus", "uid": "qms-prometheus"}
RATE = "$__rate_interval"
# Two workers of one group report the same group-wide lag: the max is the group's figure.
GROUP_LAG = "max by (consumer, topic, partition) (qms_consumer_lag_records)"


def prometheus_panel(
    title: str,
    queries: list[tuple[str, str]],
    *,
    kind: str = "timeseries",
    w: int = 12,
    h: int = 8,
    unit: str | None = None,
    description: str = "",
) -> dict[str, Any]:
    """A panel on the platform's own Prometheus metrics: (PromQL, legend) per query."""
    defaults: dict[str, Any] = {"unit": unit} if unit else {}
    return {
        "title": title,
        "type": kind,
        "datasource": PROMETHEUS,
        "description": description,
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + n),
                "datasource": PROMETHEUS,
                "expr": " ".join(expr.split()),
                "legendFormat": legend,
            }
            for n, (expr, legend) in enumerate(queries)
        ],
    }


platform_health = dashboard(
    "qms-platform-health",
    "QMS Trail — platform health",
    [
        prometheus_panel(
            "Consumer lag per consumer (records)",
            [(f"sum by (consumer) ({GROUP_LAG})", "{{consumer}}")],
            description="Records of the event topics not yet committed by each consumer group.",
        ),
        prometheus_panel(
            "Consumer lag per partition (records)",
            [(GROUP_LAG, "{{consumer}} {{topic}}/{{partition}}")],
        ),
        prometheus_panel(
            "Dead letters",
            [
                (
                    f"sum by (consumer, reason_class) (increase(qms_dead_letters_total[{RATE}]))",
                    "{{consumer}} {{reason_class}}",
                )
            ],
            description="Records sent to deadletter.v1: read their qms-dlq-reason header.",
        ),
        prometheus_panel(
            "Batch duration p95 (seconds)",
            [
                (
                    "histogram_quantile(0.95, sum by (le, consumer) "
                    f"(rate(qms_consumer_batch_seconds_bucket[{RATE}])))",
                    "{{consumer}}",
                ),
            ],
            unit="s",
        ),
        prometheus_panel(
            "Records per batch (mean)",
            [
                (
                    f"sum by (consumer) (rate(qms_consumer_batch_records_sum[{RATE}])) / "
                    f"sum by (consumer) (rate(qms_consumer_batch_records_count[{RATE}]))",
                    "{{consumer}}",
                ),
            ],
        ),
        prometheus_panel(
            "Ledger lag per chain (records)",
            [("max by (chain) (qms_ledger_lag_records)", "{{chain}}")],
            description="Accepted events of each partition not yet in its hash chain.",
        ),
        prometheus_panel(
            "Checkpoint age per chain (seconds)",
            [("max by (chain) (qms_ledger_checkpoint_age_seconds)", "{{chain}}")],
            unit="s",
            description="How long the oldest chained entry has waited for a signed checkpoint.",
        ),
        prometheus_panel(
            "CAPA commands by outcome (per second)",
            [
                (
                    f"sum by (command, outcome) (rate(qms_capa_commands_total[{RATE}]))",
                    "{{command}} {{outcome}}",
                ),
            ],
        ),
        prometheus_panel(
            "CAPA refusals by kind (per second)",
            [
                (
                    'sum by (refusal) (rate(qms_capa_commands_total{outcome="refused"}'
                    f"[{RATE}]))",
                    "{{refusal}}",
                ),
            ],
        ),
        prometheus_panel(
            "CAPA command latency p95 (seconds)",
            [
                (
                    "histogram_quantile(0.95, sum by (le, command) "
                    f"(rate(qms_capa_command_seconds_bucket[{RATE}])))",
                    "{{command}}",
                ),
            ],
            unit="s",
        ),
        prometheus_panel(
            "Intake events accepted and refused (per second)",
            [
                (
                    f"sum by (family) (rate(qms_intake_events_accepted_total[{RATE}]))",
                    "accepted {{family}}",
                ),
                (
                    f"sum by (reason) (rate(qms_intake_events_rejected_total[{RATE}]))",
                    "refused {{reason}}",
                ),
                (
                    f"sum by (reason) (rate(qms_intake_requests_rejected_total[{RATE}]))",
                    "request refused {{reason}}",
                ),
            ],
        ),
        prometheus_panel(
            "Intake latency p95 (seconds)",
            [
                (
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(qms_intake_publish_seconds_bucket[{RATE}])))",
                    "Kafka acknowledgement",
                ),
                (
                    "histogram_quantile(0.95, sum by (le, route) "
                    f"(rate(qms_intake_request_seconds_bucket[{RATE}])))",
                    "request {{route}}",
                ),
            ],
            unit="s",
        ),
        prometheus_panel(
            "Resident memory",
            [("process_resident_memory_bytes", "{{job}} {{instance}}")],
            unit="bytes",
        ),
        prometheus_panel(
            "CPU (cores)",
            [(f"rate(process_cpu_seconds_total[{RATE}])", "{{job}} {{instance}}")],
        ),
    ],
    variables=[],
)
platform_health["refresh"] = "30s"
platform_health["time"] = {"from": "now-6h", "to": "now"}

DASHBOARDS = {
    "province-overview.json": province_overview,
    "agency-drilldown.json": agency_drilldown,
    "capa-board.json": capa_board,
    "audit-programme.json": audit_programme,
    "audit-trail-integrity.json": audit_trail,
    "platform-health.json": platform_health,
}


def main() -> None:
    out = HERE / "dashboards"
    out.mkdir(exist_ok=True)
    for name, board in DASHBOARDS.items():
        (out / name).write_text(
            json.dumps(board, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"wrote {out / name} ({len(board['panels'])} panels)")


if __name__ == "__main__":
    main()
