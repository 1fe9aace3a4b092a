-- The process control sheet (phiếu kiểm soát quá trình): each dossier's steps in order,
-- the time each unit held it, late steps and the step where a late dossier lost its time.
-- A step transfer's step, units, due time, allotted working hours and the next unit's
-- take-over time become columns of `dossier_events` (0 / '' / NULL on the other dossier
-- events; `officer` is filled on every dossier event that names one). Rows stored before
-- this migration hold those neutral values until a replay rewrites them.
-- Definitions: docs/kpis.md, "The process control sheet".

ALTER TABLE dossier_events ADD COLUMN IF NOT EXISTS step UInt8 AFTER outcome;
ALTER TABLE dossier_events ADD COLUMN IF NOT EXISTS from_unit LowCardinality(String) AFTER step;
ALTER TABLE dossier_events ADD COLUMN IF NOT EXISTS to_unit LowCardinality(String) AFTER from_unit;
ALTER TABLE dossier_events ADD COLUMN IF NOT EXISTS officer String AFTER to_unit;
ALTER TABLE dossier_events ADD COLUMN IF NOT EXISTS step_due_at Nullable(DateTime64(3, 'UTC')) AFTER officer;
ALTER TABLE dossier_events ADD COLUMN IF NOT EXISTS allotted_working_hours Nullable(Float64) AFTER step_due_at;
ALTER TABLE dossier_events ADD COLUMN IF NOT EXISTS to_unit_received_at Nullable(DateTime64(3, 'UTC')) AFTER allotted_working_hours;

-- One row per dossier and step on its sheet.
CREATE OR REPLACE VIEW dossier_steps AS
SELECT
    agency, procedure, dossier, step, unit, to_unit, officer, started_at, handed_over_at,
    taken_over_at, step_due_at, allotted_working_hours,
    if(started_at IS NULL, NULL, greatest(0, dateDiff('millisecond', started_at, handed_over_at)) / 3600000.0) AS duration_hours,
    if(step_due_at IS NULL, NULL, greatest(0, dateDiff('millisecond', step_due_at, handed_over_at)) / 3600000.0) AS overrun_hours,
    toUInt8(ifNull(handed_over_at > step_due_at, 0)) AS is_late,
    toStartOfMonth(toDate(addHours(handed_over_at, 7))) AS month
FROM
(
    SELECT agency, dossier, step,
        transfer.1 AS procedure, transfer.2 AS unit, transfer.3 AS to_unit,
        transfer.4 AS officer, transfer.5 AS step_due_at, transfer.6 AS allotted_working_hours,
        handed_over_at,
        toNullable(if(step = 0, handed_over_at, transfer.7)) AS taken_over_at,
        lagInFrame(taken_over_at, 1, NULL) OVER (PARTITION BY agency, dossier ORDER BY step
            ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS started_at
    FROM
    (
        SELECT agency, dossier, step,
            argMax(tuple(procedure, from_unit, to_unit, officer, step_due_at,
                allotted_working_hours, greatest(time, ifNull(to_unit_received_at, time))),
                (time, source, id)) AS transfer,
            if(step = 0, min(time), max(time)) AS handed_over_at
        FROM dossier_events
        WHERE (type = 'vn.qms.dossier.step_transferred.v1' OR type = 'vn.qms.dossier.received.v1')
        GROUP BY agency, dossier, step
    )
)
WHERE step > 0;

-- Time spent and late steps per agency, procedure, unit, step and month of the handover.
CREATE OR REPLACE VIEW kpi_steps_agency_unit_month AS
SELECT
    agency, procedure, unit, step, month,
    count() AS steps,
    count(duration_hours) AS timed_steps,
    sum(duration_hours) AS hours_spent,
    avg(duration_hours) AS avg_hours,
    max(duration_hours) AS max_hours,
    count(step_due_at) AS steps_with_due,
    sum(is_late) AS late_steps,
    100.0 * late_steps / nullIf(steps_with_due, 0) AS late_step_share
FROM dossier_steps
GROUP BY agency, procedure, unit, step, month;

-- Each late dossier and the step (and unit) where it lost its time.
CREATE OR REPLACE VIEW kpi_time_lost_dossiers AS
SELECT
    late.agency AS agency, late.procedure AS procedure, late.dossier AS dossier,
    late.month AS month, lost.where_lost.1 AS step, lost.where_lost.2 AS unit,
    lost.where_lost.3 AS overrun_hours, lost.where_lost.4 AS duration_hours
FROM
(
    SELECT agency, dossier, argMin(procedure, time) AS procedure,
        toStartOfMonth(argMin(day, time)) AS month
    FROM dossier_events
    WHERE type = 'vn.qms.dossier.resolved.v1'
    GROUP BY agency, dossier
    HAVING argMin(toUInt8(time <= due_at), time) = 0
) AS late
INNER JOIN
(
    SELECT agency, dossier,
        argMax(tuple(step, unit, overrun_hours, duration_hours), (ifNull(overrun_hours, 0), ifNull(duration_hours, 0), -toInt16(step))) AS where_lost
    FROM dossier_steps
    GROUP BY agency, dossier
) AS lost ON lost.agency = late.agency AND lost.dossier = late.dossier;
