-- Per-aggregate state folded from the fact tables at query time. Every aggregate below is
-- insensitive to duplicate rows (min / max / argMax / uniqExact), so rows not yet merged
-- away by the replacing engine never count twice. Definitions: docs/kpis.md.

-- One row per dossier: when it was received, resolved, withdrawn, and the due time in
-- force (latest by event time among received.due_at, supplement_received.new_due_at and
-- apology_issued.new_due_at).
CREATE VIEW IF NOT EXISTS dossier_state AS
SELECT
    agency,
    procedure,
    dossier,
    minIfOrNull(time, type = 'vn.qms.dossier.received.v1') AS received_time,
    minIfOrNull(time, type = 'vn.qms.dossier.resolved.v1') AS resolved_time,
    minIfOrNull(time, type = 'vn.qms.dossier.withdrawn.v1') AS withdrawn_time,
    argMaxIf(
        due_at, time,
        due_at IS NOT NULL AND type IN ('vn.qms.dossier.received.v1',
                                        'vn.qms.dossier.supplement_received.v1',
                                        'vn.qms.dossier.apology_issued.v1')
    ) AS due_in_force,
    anyIf(channel, type = 'vn.qms.dossier.received.v1') AS channel
FROM dossier_events
GROUP BY agency, procedure, dossier;

-- One row per complaint: first filed and first resolved time, and how it ended.
CREATE VIEW IF NOT EXISTS complaint_state AS
SELECT
    agency,
    complaint,
    minIfOrNull(time, type = 'vn.qms.complaint.filed.v1') AS filed_time,
    minIfOrNull(time, type = 'vn.qms.complaint.acknowledged.v1') AS acknowledged_time,
    minIfOrNull(time, type = 'vn.qms.complaint.resolved.v1') AS resolved_time,
    minIfOrNull(time, type = 'vn.qms.complaint.withdrawn.v1') AS withdrawn_time,
    maxIf(substantiated, type = 'vn.qms.complaint.resolved.v1') AS substantiated,
    anyIf(kind, type = 'vn.qms.complaint.filed.v1') AS kind,
    anyIf(category, type = 'vn.qms.complaint.filed.v1') AS category,
    anyIf(procedure, procedure != '') AS procedure
FROM complaint_events
GROUP BY agency, complaint;

-- One row per audit or inspection (the audited agency is the one it is about).
CREATE VIEW IF NOT EXISTS audit_state AS
SELECT
    audited_agency AS agency,
    audit,
    any(kind) AS kind,
    minIfOrNull(time, type = 'vn.qms.audit.planned.v1') AS planned_time,
    anyIf(planned_on, type = 'vn.qms.audit.planned.v1') AS planned_on,
    minIfOrNull(time, type = 'vn.qms.audit.conducted.v1') AS conducted_time,
    maxIf(on_site, type IN ('vn.qms.audit.planned.v1', 'vn.qms.audit.conducted.v1'))
        AS on_site,
    minIfOrNull(time, type = 'vn.qms.audit.closed.v1') AS closed_time,
    uniqExactIf(finding_id, type = 'vn.qms.audit.finding_recorded.v1') AS findings,
    uniqExactIf(finding_id, classification = 'major') AS major_findings,
    uniqExactIf(finding_id, classification = 'minor') AS minor_findings
FROM audit_events
GROUP BY audited_agency, audit;

-- Distinct findings with their classification and clause.
CREATE VIEW IF NOT EXISTS audit_findings AS
SELECT
    audited_agency AS agency,
    audit,
    finding_id,
    any(kind) AS kind,
    any(classification) AS classification,
    any(iso_clause) AS iso_clause,
    any(process) AS process,
    min(time) AS time
FROM audit_events
WHERE type = 'vn.qms.audit.finding_recorded.v1'
GROUP BY audited_agency, audit, finding_id;

-- The target in force (latest set) and the last evaluation of each objective.
CREATE VIEW IF NOT EXISTS objective_state AS
SELECT
    agency,
    objective,
    argMax(indicator, time) AS indicator,
    argMax(period, time) AS period,
    argMaxIf(target, time, type = 'vn.qms.objective.set.v1') AS target,
    argMaxIf(comparison, time, type = 'vn.qms.objective.set.v1') AS comparison,
    argMaxIf(actual, time, type = 'vn.qms.objective.evaluated.v1') AS reported_actual,
    argMaxIf(met, time, type = 'vn.qms.objective.evaluated.v1') AS reported_met
FROM objective_events
GROUP BY agency, objective;

-- One row per CAPA: its life so far. `status` follows the event with the highest sequence.
CREATE VIEW IF NOT EXISTS capa_state AS
SELECT
    capa,
    argMaxIf(agency, sequence, type = 'vn.qms.capa.opened.v1') AS agency,
    anyIf(nc_source, type = 'vn.qms.capa.opened.v1') AS nc_source,
    anyIf(process, type = 'vn.qms.capa.opened.v1') AS process,
    anyIf(procedure, type = 'vn.qms.capa.opened.v1') AS procedure,
    anyIf(severity, type = 'vn.qms.capa.opened.v1') AS severity,
    minIfOrNull(time, type = 'vn.qms.capa.opened.v1') AS opened_time,
    anyIf(closure_due_on, type = 'vn.qms.capa.opened.v1') AS closure_due_on,
    minIfOrNull(time, type = 'vn.qms.capa.closed.v1') AS closed_time,
    argMax(type, sequence) AS last_type,
    multiIf(last_type = 'vn.qms.capa.closed.v1', 'closed',
            last_type = 'vn.qms.capa.cancelled.v1', 'cancelled', 'open') AS status,
    argMinIf(result, sequence, type = 'vn.qms.capa.effectiveness_verified.v1')
        AS first_verification,
    countIf(type = 'vn.qms.capa.effectiveness_verified.v1') > 0 AS verified,
    countIf(type = 'vn.qms.capa.recurrence_flagged.v1') > 0 AS recurrence,
    countIf(type = 'vn.qms.capa.escalated.v1') > 0 AS escalated,
    max(sequence) AS version
FROM capa_events
GROUP BY capa;
