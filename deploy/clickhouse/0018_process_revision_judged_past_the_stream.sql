-- The CAPA policy for ISO process documents not revised in time judges a due day only once
-- the document topic partition of the process document has been read past it (docs/kpis.md,
-- "Document control"): before that a revision dated on or before the due day may still be on
-- its way, and a CAPA once opened is not withdrawn. The KPI view kpi_process_revisions_overdue
-- is unchanged. Written by services/metrics/domain/kpi_catalogue.py
-- (`process_revisions_settled_sql`).

CREATE OR REPLACE VIEW process_revisions_overdue_settled AS
SELECT o.agency, o.document, o.process_code, o.procedure, o.version, o.amended_on, o.due_on, o.revised_on, o.days_overdue, o.month
FROM kpi_process_revisions_overdue AS o
INNER JOIN
(
    SELECT d.document AS document, toDate(r.reached, 'Asia/Ho_Chi_Minh') AS reached_day
    FROM
    (
        SELECT subject AS document, any(partition) AS partition
        FROM events
        WHERE family = 'document'
        GROUP BY subject
    ) AS d
    INNER JOIN
    (
        SELECT partition, max(time) AS reached
        FROM events
        WHERE family = 'document'
        GROUP BY partition
    ) AS r ON r.partition = d.partition
) AS k ON k.document = o.document
WHERE k.reached_day > o.due_on;
