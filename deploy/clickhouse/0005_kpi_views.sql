-- KPI views per agency and local (UTC+07:00) month, read by the API, Grafana and reports.
-- Definitions: docs/kpis.md. `addHours(t, 7)` turns a UTC instant into local wall time.

-- Agencies in scope: every agency seen on a dossier or as the subject of an audit.
CREATE VIEW IF NOT EXISTS agencies AS
SELECT DISTINCT agency FROM
(
    SELECT DISTINCT agency FROM dossier_daily
    UNION ALL
    SELECT DISTINCT audited_agency AS agency FROM audit_events
);

CREATE VIEW IF NOT EXISTS kpi_complaints_agency_month AS
SELECT
    agency,
    month,
    sum(filed) AS filed,
    sum(resolved) AS resolved,
    sum(substantiated) AS substantiated,
    sum(resolution_days) AS resolution_days_sum,
    sum(timed) AS timed_resolutions,
    resolution_days_sum / nullIf(timed_resolutions, 0) AS avg_resolution_days
FROM
(
    SELECT agency, toStartOfMonth(toDate(addHours(filed_time, 7))) AS month,
           1 AS filed, 0 AS resolved, 0 AS substantiated, 0.0 AS resolution_days, 0 AS timed
    FROM complaint_state WHERE filed_time IS NOT NULL
    UNION ALL
    SELECT agency, toStartOfMonth(toDate(addHours(resolved_time, 7))) AS month,
           0, 1, toUInt8(ifNull(substantiated, 0)),
           if(filed_time IS NULL, 0.0, dateDiff('second', filed_time, resolved_time) / 86400.0),
           toUInt8(filed_time IS NOT NULL)
    FROM complaint_state WHERE resolved_time IS NOT NULL
)
GROUP BY agency, month;

CREATE VIEW IF NOT EXISTS kpi_satisfaction_agency_month AS
SELECT
    agency,
    toStartOfMonth(day) AS month,
    count() AS ratings,
    countIf(score >= 4) AS satisfied,
    100.0 * satisfied / ratings AS satisfaction_rate,
    avg(score) AS avg_score
FROM
(
    SELECT agency, rating, min(day) AS day, argMax(score, time) AS score
    FROM satisfaction_ratings GROUP BY agency, rating
)
GROUP BY agency, month;

CREATE VIEW IF NOT EXISTS kpi_audits_agency_month AS
SELECT
    agency,
    toStartOfMonth(toDate(addHours(conducted_time, 7))) AS month,
    countIf(kind = 'internal_audit') AS internal_audits,
    countIf(kind = 'external_audit') AS external_audits,
    countIf(kind = 'inspection') AS inspections,
    countIf(kind = 'inspection' AND on_site = 1) AS onsite_inspections,
    sum(findings) AS findings,
    sum(major_findings) AS major_findings,
    sum(minor_findings) AS minor_findings
FROM audit_state
WHERE conducted_time IS NOT NULL
GROUP BY agency, month;

CREATE VIEW IF NOT EXISTS kpi_capa_agency AS
SELECT
    agency,
    count() AS capas,
    countIf(status = 'open') AS backlog,
    countIf(status = 'open' AND closure_due_on < toDate(addHours(now64(3), 7))) AS overdue,
    countIf(status = 'closed') AS closed,
    countIf(status = 'cancelled') AS cancelled,
    avgIf(dateDiff('second', opened_time, now64(3)) / 86400.0, status = 'open')
        AS avg_open_age_days,
    countIf(status = 'open' AND dateDiff('day', opened_time, now64(3)) <= 30) AS age_0_30,
    countIf(status = 'open' AND dateDiff('day', opened_time, now64(3)) BETWEEN 31 AND 60)
        AS age_31_60,
    countIf(status = 'open' AND dateDiff('day', opened_time, now64(3)) BETWEEN 61 AND 90)
        AS age_61_90,
    countIf(status = 'open' AND dateDiff('day', opened_time, now64(3)) > 90) AS age_over_90,
    countIf(verified) AS verified,
    countIf(first_verification = 'effective') AS effective_first_time,
    100.0 * effective_first_time / nullIf(verified, 0) AS first_time_effectiveness,
    countIf(recurrence) AS recurrences,
    100.0 * recurrences / nullIf(capas, 0) AS recurrence_rate
FROM capa_state
WHERE opened_time IS NOT NULL
GROUP BY agency;

-- Real-time public-service score in the spirit of Decision 766/QĐ-TTg, 0–100 per month.
CREATE VIEW IF NOT EXISTS kpi_public_service_score_month AS
SELECT
    d.agency AS agency,
    d.month AS month,
    if(d.resolved = 0, NULL, 100.0 * d.on_time / d.resolved) AS progress,
    if(d.received = 0, NULL, 100.0 * d.received_online / d.received) AS online_service,
    if(s.ratings = 0, NULL, s.satisfaction_rate) AS satisfaction,
    if(d.late = 0, 100.0, least(100.0, 100.0 * d.apologies / d.late)) AS transparency,
    if(d.received = 0, NULL, 100.0 * d.received_online_l34 / d.received) AS digitisation,
    (30 * ifNull(progress, 0) + 20 * ifNull(online_service, 0) + 20 * ifNull(satisfaction, 0)
        + 15 * ifNull(transparency, 0) + 15 * ifNull(digitisation, 0))
    / nullIf(30 * (progress IS NOT NULL) + 20 * (online_service IS NOT NULL)
        + 20 * (satisfaction IS NOT NULL) + 15 * (transparency IS NOT NULL)
        + 15 * (digitisation IS NOT NULL), 0) AS score
FROM kpi_dossiers_agency_month AS d
LEFT JOIN kpi_satisfaction_agency_month AS s ON s.agency = d.agency AND s.month = d.month
SETTINGS join_use_nulls = 1;
