-- Dossier KPIs per agency × procedure × local day, pre-aggregated as exact distinct-dossier
-- sets. A set absorbs duplicates, so redelivery, replay and batches cut differently after
-- a crash never count a dossier twice. Definitions: docs/kpis.md.
CREATE TABLE IF NOT EXISTS dossier_daily
(
    agency                LowCardinality(String),
    procedure             LowCardinality(String),
    day                   Date,
    received_state        AggregateFunction(uniqExact, String),
    received_online_state AggregateFunction(uniqExact, String),
    received_l34_state    AggregateFunction(uniqExact, String),
    resolved_state        AggregateFunction(uniqExact, String),
    on_time_state         AggregateFunction(uniqExact, String),
    supplement_state      AggregateFunction(uniqExact, String),
    withdrawn_state       AggregateFunction(uniqExact, String),
    apology_state         AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (agency, procedure, day)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS dossier_daily_mv TO dossier_daily AS
SELECT
    agency,
    procedure,
    day,
    uniqExactStateIf(dossier, type = 'vn.qms.dossier.received.v1') AS received_state,
    uniqExactStateIf(dossier, type = 'vn.qms.dossier.received.v1' AND channel = 'online')
        AS received_online_state,
    uniqExactStateIf(
        dossier, type = 'vn.qms.dossier.received.v1' AND channel = 'online' AND online_level >= 3
    ) AS received_l34_state,
    uniqExactStateIf(dossier, type = 'vn.qms.dossier.resolved.v1') AS resolved_state,
    uniqExactStateIf(dossier, type = 'vn.qms.dossier.resolved.v1' AND time <= due_at)
        AS on_time_state,
    uniqExactStateIf(dossier, type = 'vn.qms.dossier.supplement_requested.v1')
        AS supplement_state,
    uniqExactStateIf(dossier, type = 'vn.qms.dossier.withdrawn.v1') AS withdrawn_state,
    uniqExactStateIf(dossier, type = 'vn.qms.dossier.apology_issued.v1') AS apology_state
FROM dossier_events
GROUP BY agency, procedure, day;

CREATE VIEW IF NOT EXISTS kpi_dossiers_agency_month AS
SELECT
    agency,
    toStartOfMonth(day) AS month,
    uniqExactMerge(received_state) AS received,
    uniqExactMerge(resolved_state) AS resolved,
    uniqExactMerge(on_time_state) AS on_time,
    resolved - on_time AS late,
    uniqExactMerge(received_online_state) AS received_online,
    uniqExactMerge(received_l34_state) AS received_online_l34,
    uniqExactMerge(supplement_state) AS supplement_requested,
    uniqExactMerge(withdrawn_state) AS withdrawn,
    uniqExactMerge(apology_state) AS apologies
FROM dossier_daily
GROUP BY agency, month;

CREATE VIEW IF NOT EXISTS kpi_dossiers_agency_procedure_month AS
SELECT
    agency,
    procedure,
    toStartOfMonth(day) AS month,
    uniqExactMerge(received_state) AS received,
    uniqExactMerge(resolved_state) AS resolved,
    uniqExactMerge(on_time_state) AS on_time,
    resolved - on_time AS late,
    uniqExactMerge(received_online_state) AS received_online,
    uniqExactMerge(received_l34_state) AS received_online_l34,
    uniqExactMerge(supplement_state) AS supplement_requested,
    uniqExactMerge(withdrawn_state) AS withdrawn,
    uniqExactMerge(apology_state) AS apologies
FROM dossier_daily
GROUP BY agency, procedure, month;
