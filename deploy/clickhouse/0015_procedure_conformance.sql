-- The procedure register in force and the statutory due time (docs/kpis.md, "Procedure
-- register" and "Statutory due time"); the views are written by
-- services/metrics/domain/procedure_kpis.py.
--
-- `dossier_events.procedure_version`: the register's version a dossier states it was
-- received under (NULL when it states none; rows stored before hold NULL until a replay).
-- `working_calendar`: one row per day of every year the calendar's data files cover, with
-- `worked_through`, the working days from the first covered day through this day; the
-- metrics service fills it from deploy/calendar/ whenever it migrates (a new year is a new
-- file, no migration). After a year without a file the running count jumps by 1000, more
-- than any statutory time, so no span is counted across a hole in the calendar.

ALTER TABLE dossier_events ADD COLUMN IF NOT EXISTS procedure_version Nullable(UInt32) AFTER outcome;

CREATE TABLE IF NOT EXISTS working_calendar
(
    day            Date,
    working        UInt8,
    worked_through UInt32
)
ENGINE = ReplacingMergeTree
ORDER BY day
SETTINGS non_replicated_deduplication_window = 1000;

CREATE OR REPLACE VIEW procedure_versions_in_force AS
SELECT
    procedure,
    version,
    name,
    statutory_working_days,
    levels,
    legal_basis,
    effective_from,
    leadInFrame(toNullable(effective_from)) OVER (
        PARTITION BY procedure ORDER BY effective_from, version
        ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING
    ) AS next_version_from,
    arrayFilter(r -> r >= effective_from, repeal_days) AS later_repeals,
    if(empty(later_repeals), NULL, arrayMin(later_repeals)) AS repealed_from,
    multiIf(
        next_version_from IS NULL, repealed_from,
        repealed_from IS NULL, next_version_from,
        least(assumeNotNull(next_version_from), assumeNotNull(repealed_from))
    ) AS effective_to
FROM
(
    SELECT
        procedure,
        version,
        argMax(name, (time, id)) AS name,
        argMax(statutory_working_days, (time, id)) AS statutory_working_days,
        argMax(levels, (time, id)) AS levels,
        argMax(legal_basis, (time, id)) AS legal_basis,
        argMax(effective_from, (time, id)) AS effective_from
    FROM procedure_events
    WHERE type IN ('vn.qms.procedure.published.v1', 'vn.qms.procedure.amended.v1')
    GROUP BY procedure, version
) AS v
LEFT JOIN
(
    SELECT procedure, groupUniqArray(effective_from) AS repeal_days
    FROM procedure_events
    WHERE type = 'vn.qms.procedure.repealed.v1'
    GROUP BY procedure
) AS r USING (procedure);

CREATE OR REPLACE VIEW dossier_register AS
SELECT
    d.agency AS agency,
    d.procedure AS procedure,
    d.dossier AS dossier,
    d.received_time AS received_time,
    d.received_day AS received_day,
    toStartOfMonth(d.received_day) AS month,
    d.stated_version AS stated_version,
    d.start_time AS start_time,
    d.published_due_at AS published_due_at,
    d.resolved_time AS resolved_time,
    d.resolved_due_at AS resolved_due_at,
    p.in_register AS in_register,
    v.version AS matched_version,
    v.effective_to AS effective_to,
    matched_version > 0 AND (effective_to IS NULL OR d.received_day < effective_to)
        AS is_in_force,
    if(is_in_force, matched_version, 0) AS version_in_force,
    if(is_in_force, v.statutory_working_days, NULL) AS statutory_working_days,
    multiIf(
        in_register = 0, 'unknown',
        matched_version = 0, 'not_yet_in_force',
        NOT is_in_force, 'repealed',
        stated_version IS NOT NULL AND stated_version != version_in_force,
            'outdated_version',
        ''
    ) AS not_in_force
FROM
(
    SELECT
        agency,
        procedure,
        dossier,
        minIfOrNull(time, type = 'vn.qms.dossier.received.v1') AS received_time,
        argMinIf(day, time, type = 'vn.qms.dossier.received.v1') AS received_day,
        argMinIf(procedure_version, time, type = 'vn.qms.dossier.received.v1') AS stated_version,
        maxIfOrNull(time, type = 'vn.qms.dossier.supplement_received.v1') AS supplement_time,
        greatest(assumeNotNull(received_time), ifNull(supplement_time, received_time))
            AS start_time,
        argMaxIf(due_at, time, type IN ('vn.qms.dossier.received.v1', 'vn.qms.dossier.supplement_received.v1') AND due_at IS NOT NULL)
            AS published_due_at,
        minIfOrNull(time, type = 'vn.qms.dossier.resolved.v1') AS resolved_time,
        argMinIf(due_at, time, type = 'vn.qms.dossier.resolved.v1') AS resolved_due_at
    FROM dossier_events
    GROUP BY agency, procedure, dossier
    HAVING received_time IS NOT NULL
) AS d
LEFT JOIN
(
    SELECT DISTINCT procedure, toUInt8(1) AS in_register FROM procedure_events
) AS p ON d.procedure = p.procedure
ASOF LEFT JOIN
(
    SELECT * FROM procedure_versions_in_force
    WHERE effective_to IS NULL OR effective_to > effective_from
) AS v ON d.procedure = v.procedure AND d.received_day >= v.effective_from;

CREATE OR REPLACE VIEW procedure_nonconforming_dossiers AS
SELECT agency, procedure, month, dossier, received_time AS time,
    not_in_force AS reason
FROM dossier_register
WHERE not_in_force != '';

CREATE OR REPLACE VIEW kpi_procedure_not_in_force_agency_month AS
SELECT agency, month, reason, count() AS dossiers
FROM procedure_nonconforming_dossiers
GROUP BY agency, month, reason;

CREATE OR REPLACE VIEW dossier_statutory_due AS
SELECT
    agency, procedure, dossier, month, received_time, version_in_force, statutory_working_days,
    start_time, start_day, published_due_at, resolved_time, resolved_due_at,
    if(resolved_time IS NULL, NULL, toStartOfMonth(toDate(addHours(resolved_time, 7))))
        AS resolved_month,
    multiIf(
        statutory_working_days = 0, start_day,
        calendar_day != start_day OR w.day = toDate(0), NULL,
        w.day
    ) AS statutory_due_day,
    subtractHours(toDateTime64(statutory_due_day + 1, 3, 'UTC'), 7)
        AS statutory_due_at,
    toUInt8(ifNull(published_due_at > statutory_due_at, 0)) AS is_extended,
    toUInt8(ifNull(resolved_time <= resolved_due_at, 0)) AS is_on_time,
    toUInt8(ifNull(resolved_time <= statutory_due_at, 0)) AS is_on_time_statutory
FROM
(
    SELECT
        r.*,
        toDate(addHours(start_time, 7)) AS start_day,
        s.day AS calendar_day,
        s.worked_through + assumeNotNull(r.statutory_working_days) AS due_worked_through
    FROM (SELECT * FROM dossier_register WHERE is_in_force) AS r
    LEFT JOIN (SELECT day, worked_through FROM working_calendar FINAL) AS s
        ON s.day = toDate(addHours(start_time, 7))
) AS t
LEFT JOIN
(
    SELECT day, worked_through FROM working_calendar FINAL WHERE working = 1
) AS w ON w.worked_through = t.due_worked_through;

CREATE OR REPLACE VIEW extended_due_dossiers AS
SELECT agency, procedure, month, dossier, received_time AS time,
    concat('due ', toString(published_due_at), ' after the statutory ',
        toString(statutory_due_at), ' (', toString(statutory_working_days),
        ' working days)') AS reason
FROM dossier_statutory_due
WHERE is_extended = 1;

CREATE OR REPLACE VIEW kpi_statutory_due_agency_month AS
SELECT
    agency, month,
    count() AS dossiers,
    countIf(is_extended = 1) AS extended_due,
    100.0 * extended_due / nullIf(dossiers, 0) AS extended_due_share
FROM dossier_statutory_due
WHERE statutory_due_day IS NOT NULL
GROUP BY agency, month;

CREATE OR REPLACE VIEW kpi_on_time_statutory_agency_month AS
SELECT
    agency, resolved_month AS month,
    count() AS resolved,
    countIf(is_on_time = 1) AS on_time,
    countIf(is_on_time_statutory = 1) AS on_time_statutory,
    100.0 * on_time / nullIf(resolved, 0) AS on_time_rate,
    100.0 * on_time_statutory / nullIf(resolved, 0) AS on_time_statutory_rate
FROM dossier_statutory_due
WHERE resolved_time IS NOT NULL AND statutory_due_day IS NOT NULL
GROUP BY agency, month;
