-- The CAPA policy for due dates extended beyond the statutory time judges a dossier once it
-- is resolved (docs/kpis.md, "Statutory due time"): before that a supplement can start its
-- statutory time anew and end the extension, and a CAPA once opened is not withdrawn. The
-- KPI `kpi_statutory_due_agency_month` still counts the extension as it stands. The view is
-- written by services/metrics/domain/procedure_kpis.py (`extended_due_sql`).

CREATE OR REPLACE VIEW extended_due_dossiers AS
SELECT agency, procedure, month, dossier, received_time AS time,
    concat('due ', toString(published_due_at), ' after the statutory ',
        toString(statutory_due_at), ' (', toString(statutory_working_days),
        ' working days)') AS reason
FROM dossier_statutory_due
WHERE is_extended = 1 AND resolved_time IS NOT NULL;
