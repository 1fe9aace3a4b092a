-- One row per objective and evaluated period: the latest evaluation (by event time) the
-- publisher reported for it. An objective set for a year is evaluated once per quarter
-- (or month), so `objective_state` (the latest evaluation only) cannot count met/missed.
CREATE VIEW IF NOT EXISTS objective_evaluations AS
SELECT
    agency,
    objective,
    period,
    argMax(indicator, time) AS indicator,
    argMax(target, time) AS target,
    argMax(actual, time) AS reported_actual,
    argMax(met, time) AS reported_met,
    max(time) AS evaluated_time
FROM objective_events
WHERE type = 'vn.qms.objective.evaluated.v1'
GROUP BY agency, objective, period;
