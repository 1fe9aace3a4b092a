-- Dossier counts that need no FINAL: the marks of 0007 counted per agency, procedure,
-- measure and day in a summing table, each mark counted once, when it is first stored.
--
-- FINAL over the marks has to merge, in key order, every month that still takes inserts,
-- its big merged part included: while the worker inserts, a per-agency question over all
-- time cost seconds at 6 M dossier events (docs/metrics.md, "Dossier counts while inserts
-- arrive"). Here the deduplication happens once, when a fact is inserted, instead of at
-- every read:
--
-- - `dossier_mark_index`: every mark (agency, procedure, measure, dossier, month) with its
--   earliest day, ordered by a 128-bit hash of the dossier code, so that the marks of the
--   dossiers of one insert are found by one indexed read of the months it touches (a hash
--   column, not the code: the lookup then reads 16 bytes a mark, not strings);
-- - `dossier_mark_changes_mv`: for each insert into dossier_events, the marks it makes
--   (collapsed within the insert, earliest day) joined with the index; a mark not in the
--   index is new, a mark found with a later day moved to an earlier one; anything else
--   (redeliveries, repeated events) changes nothing. The changes go through a Null table
--   to the index and to `dossier_mark_counts` (+1 on the new day, −1 on the day it left).
--
-- A redelivered batch is refused whole by the insert deduplication token (no view runs)
-- and, if it were not, would find its marks in the index: no mark is counted twice. A sum
-- over `dossier_mark_counts` is exact in every state of its parts (a change's +1 and −1 are
-- in the same part) and equals the count over `dossier_marks_final` (tests:
-- tests/integration/metrics/test_dossier_mark_counts.py). The index is read before any of
-- the changes of an insert is written, so two facts of one dossier must not be inserted by
-- two writers at once: the metrics worker owns a topic partition (a dossier's events) and
-- finishes its insert before it gives the partition up (docs/metrics.md). Run this
-- migration with no metrics worker writing (as `qms migrate` before the workers start, the
-- Job on Kubernetes): the backfill counts the marks stored when it runs.

-- A run cut short runs again whole (a migration is recorded once all of it ran): start from
-- nothing, so that the backfill below never counts a mark twice.
DROP VIEW IF EXISTS dossier_mark_changes_mv;
DROP VIEW IF EXISTS dossier_mark_index_mv;
DROP VIEW IF EXISTS dossier_mark_counts_mv;
DROP TABLE IF EXISTS dossier_mark_changes;
DROP TABLE IF EXISTS dossier_mark_index;
DROP TABLE IF EXISTS dossier_mark_counts;

CREATE TABLE IF NOT EXISTS dossier_mark_index
(
    agency      LowCardinality(String),
    procedure   LowCardinality(String),
    measure     Enum8(
        'received' = 1, 'resolved' = 2, 'on_time' = 3, 'received_online' = 4,
        'received_online_l34' = 5, 'supplement_requested' = 6, 'withdrawn' = 7, 'apologies' = 8,
        'received_online_l3' = 9, 'received_online_l4' = 10, 'received_counter' = 11, 'received_postal' = 12),
    dossier_key UInt128,
    dossier     String,
    day         Date,
    earliness   UInt16 DEFAULT 65535 - toUInt16(day)
)
ENGINE = ReplacingMergeTree(earliness)
PARTITION BY toYYYYMM(day)
ORDER BY (dossier_key, measure, agency, procedure)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS dossier_mark_counts
(
    agency    LowCardinality(String),
    procedure LowCardinality(String),
    measure   Enum8(
        'received' = 1, 'resolved' = 2, 'on_time' = 3, 'received_online' = 4,
        'received_online_l34' = 5, 'supplement_requested' = 6, 'withdrawn' = 7, 'apologies' = 8,
        'received_online_l3' = 9, 'received_online_l4' = 10, 'received_counter' = 11, 'received_postal' = 12),
    day       Date,
    marks     Int64
)
ENGINE = SummingMergeTree(marks)
PARTITION BY toYYYYMM(day)
ORDER BY (agency, procedure, measure, day)
SETTINGS non_replicated_deduplication_window = 1000;

-- What an insert changes: a new mark (previous_day = 1970-01-01), or a mark moved from
-- previous_day to the earlier mark_day. Nothing is stored here (Null engine).
CREATE TABLE IF NOT EXISTS dossier_mark_changes
(
    agency       LowCardinality(String),
    procedure    LowCardinality(String),
    measure      Enum8(
        'received' = 1, 'resolved' = 2, 'on_time' = 3, 'received_online' = 4,
        'received_online_l34' = 5, 'supplement_requested' = 6, 'withdrawn' = 7, 'apologies' = 8,
        'received_online_l3' = 9, 'received_online_l4' = 10, 'received_counter' = 11, 'received_postal' = 12),
    dossier_key  UInt128,
    dossier      String,
    mark_day     Date,
    previous_day Date
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_mark_index_mv TO dossier_mark_index AS
SELECT agency, procedure, measure, dossier_key, dossier, mark_day AS day
FROM dossier_mark_changes;

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_mark_counts_mv TO dossier_mark_counts AS
SELECT agency, procedure, measure, change.1 AS day, change.2 AS marks
FROM dossier_mark_changes
ARRAY JOIN if(previous_day = toDate(0), [(mark_day, toInt64(1))],
              [(mark_day, toInt64(1)), (previous_day, toInt64(-1))]) AS change;

-- The marks stored so far (no worker writing: see above).
INSERT INTO dossier_mark_index (agency, procedure, measure, dossier_key, dossier, day)
SELECT agency, procedure, measure, reinterpretAsUInt128(sipHash128(dossier)), dossier, day
FROM dossier_marks_final;

INSERT INTO dossier_mark_counts (agency, procedure, measure, day, marks)
SELECT agency, procedure, measure, day, toInt64(count())
FROM dossier_marks_final
GROUP BY agency, procedure, measure, day;

-- Every insert into dossier_events from now on: its marks against the index. Every
-- reference to dossier_events in this view is the inserted block, not the table. A mark
-- not found joins as 1970-01-01 (or NULL where a profile sets join_use_nulls): new.
CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_mark_changes_mv TO dossier_mark_changes AS
SELECT n.agency AS agency, n.procedure AS procedure, n.measure AS measure,
    n.dossier_key AS dossier_key, n.dossier AS dossier, n.first_day AS mark_day,
    coalesce(k.known_day, toDate(0)) AS previous_day
FROM
(
    SELECT agency, procedure, measure, dossier,
        reinterpretAsUInt128(sipHash128(dossier)) AS dossier_key,
        toStartOfMonth(day) AS month, min(day) AS first_day
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
    ) AS measure
    GROUP BY agency, procedure, measure, dossier, dossier_key, month
) AS n
LEFT JOIN
(
    SELECT agency, procedure, toString(measure) AS measure_name, dossier_key,
        toStartOfMonth(day) AS month, min(day) AS known_day
    FROM dossier_mark_index
    WHERE toYYYYMM(day) IN (SELECT toYYYYMM(day) FROM dossier_events)
      AND dossier_key IN (SELECT reinterpretAsUInt128(sipHash128(dossier)) FROM dossier_events)
    GROUP BY agency, procedure, measure_name, dossier_key, month
) AS k
ON k.dossier_key = n.dossier_key AND k.month = n.month AND k.measure_name = n.measure
    AND k.agency = n.agency AND k.procedure = n.procedure
WHERE previous_day = toDate(0) OR n.first_day < previous_day;

-- The dossier KPI views count from the summing table (same columns, same answers).
CREATE OR REPLACE VIEW kpi_dossiers_agency_month AS
SELECT
    agency,
    toStartOfMonth(day) AS month,
    toUInt64(sumIf(marks, measure = 'received')) AS received,
    toUInt64(sumIf(marks, measure = 'resolved')) AS resolved,
    toUInt64(sumIf(marks, measure = 'on_time')) AS on_time,
    resolved - on_time AS late,
    toUInt64(sumIf(marks, measure = 'received_online')) AS received_online,
    toUInt64(sumIf(marks, measure = 'received_online_l34')) AS received_online_l34,
    toUInt64(sumIf(marks, measure = 'supplement_requested')) AS supplement_requested,
    toUInt64(sumIf(marks, measure = 'withdrawn')) AS withdrawn,
    toUInt64(sumIf(marks, measure = 'apologies')) AS apologies,
    toUInt64(sumIf(marks, measure = 'received_online_l3')) AS received_online_l3,
    toUInt64(sumIf(marks, measure = 'received_online_l4')) AS received_online_l4,
    toUInt64(sumIf(marks, measure = 'received_counter')) AS received_counter,
    toUInt64(sumIf(marks, measure = 'received_postal')) AS received_postal
FROM dossier_mark_counts
GROUP BY agency, month
HAVING sum(marks) > 0;

CREATE OR REPLACE VIEW kpi_dossiers_agency_procedure_month AS
SELECT
    agency, procedure,
    toStartOfMonth(day) AS month,
    toUInt64(sumIf(marks, measure = 'received')) AS received,
    toUInt64(sumIf(marks, measure = 'resolved')) AS resolved,
    toUInt64(sumIf(marks, measure = 'on_time')) AS on_time,
    resolved - on_time AS late,
    toUInt64(sumIf(marks, measure = 'received_online')) AS received_online,
    toUInt64(sumIf(marks, measure = 'received_online_l34')) AS received_online_l34,
    toUInt64(sumIf(marks, measure = 'supplement_requested')) AS supplement_requested,
    toUInt64(sumIf(marks, measure = 'withdrawn')) AS withdrawn,
    toUInt64(sumIf(marks, measure = 'apologies')) AS apologies,
    toUInt64(sumIf(marks, measure = 'received_online_l3')) AS received_online_l3,
    toUInt64(sumIf(marks, measure = 'received_online_l4')) AS received_online_l4,
    toUInt64(sumIf(marks, measure = 'received_counter')) AS received_counter,
    toUInt64(sumIf(marks, measure = 'received_postal')) AS received_postal
FROM dossier_mark_counts
GROUP BY agency, procedure, month
HAVING sum(marks) > 0;
