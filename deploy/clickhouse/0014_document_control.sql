-- Document control (ISO 9001 clause 7.5): one row per document event, keyed by (source, id)
-- like every fact table. `dated_on` is the day the data dates (issued_on of an issue,
-- revision or process document, withdrawn_on of a withdrawal; the event's day otherwise);
-- a check carries `conforming` and the Decree 30/2020 rules broken; an ISO process
-- document carries its code, revision and legal basis, the register's procedures it
-- implements with their versions in two parallel arrays (for ARRAY JOIN).
-- Views: documents issued and their format conformity per agency and month, and the ISO
-- process documents not revised within 30 days after a procedure they implement was
-- amended, as of now. Written by services/metrics/domain/kpi_catalogue.py; definitions:
-- docs/kpis.md, "Document control".

CREATE TABLE IF NOT EXISTS document_events
(
    source           String,
    id               String,
    type             LowCardinality(String),
    document         String,
    agency           LowCardinality(String),
    time             DateTime64(3, 'UTC'),
    day              Date,
    kind             LowCardinality(String),
    number           String,
    dated_on         Date,
    conforming       UInt8,
    nonconformities  Array(LowCardinality(String)),
    revision         UInt32,
    process_code     String,
    basis_procedures Array(String),
    basis_versions   Array(UInt32)
)
ENGINE = ReplacingMergeTree
ORDER BY (agency, document, type, source, id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE OR REPLACE VIEW kpi_documents_agency_month AS
SELECT
    agency, month,
    count() AS issued,
    countIf(is_checked) AS checked,
    countIf(is_checked AND first_conforming = 1) AS conforming,
    checked - conforming AS nonconforming,
    100.0 * conforming / nullIf(checked, 0) AS conforming_share
FROM
(
    SELECT
        document,
        argMinIf(agency, (time, id), type = 'vn.qms.document.issued.v1') AS agency,
        toStartOfMonth(argMinIf(dated_on, (time, id), type = 'vn.qms.document.issued.v1')) AS month,
        countIf(type = 'vn.qms.document.checked.v1') > 0 AS is_checked,
        argMinIf(conforming, (time, id), type = 'vn.qms.document.checked.v1') AS first_conforming
    FROM document_events
    WHERE type IN ('vn.qms.document.issued.v1', 'vn.qms.document.checked.v1')
    GROUP BY document
    HAVING countIf(type = 'vn.qms.document.issued.v1') > 0
)
GROUP BY agency, month;

CREATE OR REPLACE VIEW kpi_process_revisions_overdue AS
SELECT agency, document, process_code, procedure, version, amended_on, due_on, revised_on, days_overdue, month
FROM (SELECT
    p.agency AS agency,
    p.document AS document,
    p.process_code AS process_code,
    a.procedure AS procedure,
    a.version AS version,
    a.effective_from AS amended_on,
    addDays(a.effective_from, 30) AS due_on,
    arrayFilter(r -> r.2 >= a.version AND r.1 <= toDate(now64(3), 'Asia/Ho_Chi_Minh'), p.revisions) AS namings_by_then,
    if(empty(namings_by_then), NULL, arrayMin(arrayMap(r -> r.1, namings_by_then)))
        AS revised_on,
    dateDiff('day', due_on, ifNull(revised_on, toDate(now64(3), 'Asia/Ho_Chi_Minh'))) AS days_overdue,
    toStartOfMonth(addDays(due_on, 1)) AS month
FROM
(
    SELECT procedure, version, argMax(effective_from, (time, id)) AS effective_from
    FROM procedure_events
    WHERE type = 'vn.qms.procedure.amended.v1' AND time <= now64(3)
    GROUP BY procedure, version
) AS a
INNER JOIN
(
    SELECT
        document,
        procedure,
        argMin(agency, (time, id)) AS agency,
        argMax(process_code, (time, id)) AS process_code,
        groupArray((day, version)) AS revisions
    FROM document_events
    ARRAY JOIN basis_procedures AS procedure, basis_versions AS version
    WHERE type IN ('vn.qms.document.process_published.v1', 'vn.qms.document.process_revised.v1') AND time <= now64(3)
    GROUP BY document, procedure
) AS p ON p.procedure = a.procedure
LEFT JOIN
(
    SELECT document, count() AS withdrawals, min(dated_on) AS withdrawn_on
    FROM document_events
    WHERE type = 'vn.qms.document.withdrawn.v1' AND time <= now64(3)
    GROUP BY document
) AS w ON w.document = p.document
WHERE due_on < toDate(now64(3), 'Asia/Ho_Chi_Minh')
    AND arrayExists(r -> r.2 < a.version AND r.1 <= due_on, p.revisions)
    AND NOT arrayExists(r -> r.2 >= a.version AND r.1 <= due_on, p.revisions)
    AND (w.withdrawals = 0 OR w.withdrawn_on > due_on));
