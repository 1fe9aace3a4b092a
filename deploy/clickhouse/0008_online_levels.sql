-- Online level 3 (partly online) and level 4 (full online, "toàn trình") counted apart, and
-- the receiving channels: four new dossier measures (received_online_l3, received_online_l4,
-- received_counter, received_postal). The public-service score's "online service" is now
-- the full-online (level 4) share, no longer the share of every online dossier.
-- Definitions: docs/kpis.md.

-- New Enum8 values come after the existing ones: a stored mark keeps its number.
ALTER TABLE dossier_marks MODIFY COLUMN measure Enum8(
    'received' = 1, 'resolved' = 2, 'on_time' = 3, 'received_online' = 4,
    'received_online_l34' = 5, 'supplement_requested' = 6, 'withdrawn' = 7, 'apologies' = 8,
    'received_online_l3' = 9, 'received_online_l4' = 10, 'received_counter' = 11,
    'received_postal' = 12);

-- A view keeps the column types it was created with: re-create the one every count reads,
-- or it would still read `measure` as the old Enum8 and miss the new values.
CREATE OR REPLACE VIEW dossier_marks_final AS
SELECT agency, procedure, measure, dossier, day
FROM dossier_marks FINAL
SETTINGS do_not_merge_across_partitions_select_final = 1;

-- The view marks the new measures from now on; the backfill below marks what is stored
-- (and anything inserted between the two statements: a repeated mark collapses).
DROP VIEW IF EXISTS dossier_marks_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_marks_mv TO dossier_marks AS
SELECT agency, procedure, measure, dossier, day
FROM dossier_events
ARRAY JOIN multiIf(
    type = 'vn.qms.dossier.received.v1',
        arrayConcat(['received'], if(channel = 'online', ['received_online'], []),
                    if(channel = 'online' AND online_level >= 3, ['received_online_l34'], []),
                    if(channel = 'online' AND online_level = 3, ['received_online_l3'], []),
                    if(channel = 'online' AND online_level = 4, ['received_online_l4'], []),
                    if(channel = 'counter', ['received_counter'], []),
                    if(channel = 'postal', ['received_postal'], [])),
    type = 'vn.qms.dossier.resolved.v1',
        if(time <= due_at, ['resolved', 'on_time'], ['resolved']),
    type = 'vn.qms.dossier.supplement_requested.v1', ['supplement_requested'],
    type = 'vn.qms.dossier.withdrawn.v1', ['withdrawn'],
    type = 'vn.qms.dossier.apology_issued.v1', ['apologies'],
    []
) AS measure;

INSERT INTO dossier_marks (agency, procedure, measure, dossier, day)
SELECT agency, procedure, measure, dossier, day
FROM dossier_events
ARRAY JOIN multiIf(
    type = 'vn.qms.dossier.received.v1',
        arrayConcat(['received'], if(channel = 'online', ['received_online'], []),
                    if(channel = 'online' AND online_level >= 3, ['received_online_l34'], []),
                    if(channel = 'online' AND online_level = 3, ['received_online_l3'], []),
                    if(channel = 'online' AND online_level = 4, ['received_online_l4'], []),
                    if(channel = 'counter', ['received_counter'], []),
                    if(channel = 'postal', ['received_postal'], [])),
    type = 'vn.qms.dossier.resolved.v1',
        if(time <= due_at, ['resolved', 'on_time'], ['resolved']),
    type = 'vn.qms.dossier.supplement_requested.v1', ['supplement_requested'],
    type = 'vn.qms.dossier.withdrawn.v1', ['withdrawn'],
    type = 'vn.qms.dossier.apology_issued.v1', ['apologies'],
    []
) AS measure;

CREATE OR REPLACE VIEW kpi_dossiers_agency_month AS
SELECT
    agency,
    toStartOfMonth(day) AS month,
    countIf(measure = 'received') AS received,
    countIf(measure = 'resolved') AS resolved,
    countIf(measure = 'on_time') AS on_time,
    resolved - on_time AS late,
    countIf(measure = 'received_online') AS received_online,
    countIf(measure = 'received_online_l34') AS received_online_l34,
    countIf(measure = 'supplement_requested') AS supplement_requested,
    countIf(measure = 'withdrawn') AS withdrawn,
    countIf(measure = 'apologies') AS apologies,
    countIf(measure = 'received_online_l3') AS received_online_l3,
    countIf(measure = 'received_online_l4') AS received_online_l4,
    countIf(measure = 'received_counter') AS received_counter,
    countIf(measure = 'received_postal') AS received_postal
FROM dossier_marks_final
GROUP BY agency, month;

CREATE OR REPLACE VIEW kpi_dossiers_agency_procedure_month AS
SELECT
    agency,
    procedure,
    toStartOfMonth(day) AS month,
    countIf(measure = 'received') AS received,
    countIf(measure = 'resolved') AS resolved,
    countIf(measure = 'on_time') AS on_time,
    resolved - on_time AS late,
    countIf(measure = 'received_online') AS received_online,
    countIf(measure = 'received_online_l34') AS received_online_l34,
    countIf(measure = 'supplement_requested') AS supplement_requested,
    countIf(measure = 'withdrawn') AS withdrawn,
    countIf(measure = 'apologies') AS apologies,
    countIf(measure = 'received_online_l3') AS received_online_l3,
    countIf(measure = 'received_online_l4') AS received_online_l4,
    countIf(measure = 'received_counter') AS received_counter,
    countIf(measure = 'received_postal') AS received_postal
FROM dossier_marks_final
GROUP BY agency, procedure, month;

-- Real-time public-service score in the spirit of Decision 766/QĐ-TTg, 0–100 per month.
CREATE OR REPLACE VIEW kpi_public_service_score_month AS
SELECT
    d.agency AS agency,
    d.month AS month,
    if(d.resolved = 0, NULL, 100.0 * d.on_time / d.resolved) AS progress,
    if(d.received = 0, NULL, 100.0 * d.received_online_l4 / d.received) AS online_service,
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
