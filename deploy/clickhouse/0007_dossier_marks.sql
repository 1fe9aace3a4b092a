-- Dossier KPIs as marks: one row per (agency, procedure, measure, dossier) and local month,
-- replacing the exact-set daily aggregate of 0003 (`dossier_daily`, uniqExact states),
-- whose queries cost as much as asking the raw events (every set merged at read time).
--
-- A mark says "this dossier counts for this measure in this month, first on `day`".
-- Repeated deliveries of an event give the same mark, and marks with the same key in the
-- same month partition collapse (the replacing engine keeps the earliest day: the highest
-- `earliness`; it merges faster at read time than an aggregating one); readers use
-- `dossier_marks_final` (FINAL), which merges what background merges have not yet merged.
-- The key never spans two partitions of the same month, so FINAL only has to merge inside
-- a partition (do_not_merge_across_partitions_select_final) and a settled month — one part
-- after background merges — is read without merging at all. So every count is a plain
-- count(): exact, and as cheap as a scan of one row per dossier and measure.
-- Definitions: docs/kpis.md (a dossier counts once per measure and month).
CREATE TABLE IF NOT EXISTS dossier_marks
(
    agency    LowCardinality(String),
    procedure LowCardinality(String),
    measure   Enum8('received' = 1, 'resolved' = 2, 'on_time' = 3, 'received_online' = 4,
                    'received_online_l34' = 5, 'supplement_requested' = 6, 'withdrawn' = 7,
                    'apologies' = 8),
    dossier   String,
    day       Date,
    earliness UInt16 DEFAULT 65535 - toUInt16(day)
)
ENGINE = ReplacingMergeTree(earliness)
PARTITION BY toYYYYMM(day)
ORDER BY (agency, procedure, measure, dossier)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_marks_mv TO dossier_marks AS
SELECT agency, procedure, measure, dossier, day
FROM dossier_events
ARRAY JOIN multiIf(
    type = 'vn.qms.dossier.received.v1',
        arrayConcat(['received'], if(channel = 'online', ['received_online'], []),
                    if(channel = 'online' AND online_level >= 3, ['received_online_l34'], [])),
    type = 'vn.qms.dossier.resolved.v1',
        if(time <= due_at, ['resolved', 'on_time'], ['resolved']),
    type = 'vn.qms.dossier.supplement_requested.v1', ['supplement_requested'],
    type = 'vn.qms.dossier.withdrawn.v1', ['withdrawn'],
    type = 'vn.qms.dossier.apology_issued.v1', ['apologies'],
    []
) AS measure;

-- Backfill from the facts already stored (a repeated run only adds marks that collapse).
INSERT INTO dossier_marks (agency, procedure, measure, dossier, day)
SELECT agency, procedure, measure, dossier, day
FROM dossier_events
ARRAY JOIN multiIf(
    type = 'vn.qms.dossier.received.v1',
        arrayConcat(['received'], if(channel = 'online', ['received_online'], []),
                    if(channel = 'online' AND online_level >= 3, ['received_online_l34'], [])),
    type = 'vn.qms.dossier.resolved.v1',
        if(time <= due_at, ['resolved', 'on_time'], ['resolved']),
    type = 'vn.qms.dossier.supplement_requested.v1', ['supplement_requested'],
    type = 'vn.qms.dossier.withdrawn.v1', ['withdrawn'],
    type = 'vn.qms.dossier.apology_issued.v1', ['apologies'],
    []
) AS measure;

-- The marks with duplicates merged away: what every dossier-count query reads.
CREATE VIEW IF NOT EXISTS dossier_marks_final AS
SELECT agency, procedure, measure, dossier, day
FROM dossier_marks FINAL
SETTINGS do_not_merge_across_partitions_select_final = 1;

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
    countIf(measure = 'apologies') AS apologies
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
    countIf(measure = 'apologies') AS apologies
FROM dossier_marks_final
GROUP BY agency, procedure, month;

-- Agencies in scope: every agency seen on a dossier event or as the subject of an audit.
CREATE OR REPLACE VIEW agencies AS
SELECT DISTINCT agency FROM
(
    SELECT DISTINCT agency FROM dossier_events
    UNION ALL
    SELECT DISTINCT audited_agency AS agency FROM audit_events
);

-- Nothing reads the exact-set aggregate any more; stop feeding it.
DROP VIEW IF EXISTS dossier_daily_mv;
DROP TABLE IF EXISTS dossier_daily;
