-- The CAPA board learns effectiveness measured on the stream (replaces 0009's
-- kpi_capa_agency): per agency, the CAPAs measured after their actions were done
-- (vn.qms.capa.effectiveness_measured.v1, its verdict in capa_events.result), how many were
-- effective and ineffective by measurement, how many the auditor's latest verdict calls
-- effective, and how many of those the measurement contradicts. Written by
-- services/metrics/domain/capa_kpis.py (capa_board_view_sql); tests/unit/metrics/
-- test_capa_kpis.py keeps the two equal.
CREATE OR REPLACE VIEW kpi_capa_agency AS
SELECT
    agency,
    count() AS capas,
    countIf(status NOT IN ('cancelled', 'closed')) AS backlog,
    countIf(overdue) AS overdue,
    countIf(status = 'closed') AS closed,
    countIf(status = 'cancelled') AS cancelled,
    avgIf(dateDiff('second', opened_time, now64(3)) / 86400.0, status NOT IN ('cancelled', 'closed')) AS avg_open_age_days,
    countIf(status NOT IN ('cancelled', 'closed') AND dateDiff('day', opened_time, now64(3)) <= 30) AS age_0_30,
    countIf(status NOT IN ('cancelled', 'closed') AND dateDiff('day', opened_time, now64(3)) BETWEEN 31 AND 60) AS age_31_60,
    countIf(status NOT IN ('cancelled', 'closed') AND dateDiff('day', opened_time, now64(3)) BETWEEN 61 AND 90) AS age_61_90,
    countIf(status NOT IN ('cancelled', 'closed') AND dateDiff('day', opened_time, now64(3)) > 90) AS age_over_90,
    countIf(verified) AS verified,
    countIf(first_verification = 'effective') AS effective_first_time,
    100.0 * effective_first_time / nullIf(verified, 0) AS first_time_effectiveness,
    countIf(recurrence) AS recurrences,
    100.0 * recurrences / nullIf(capas, 0) AS recurrence_rate,
    countIf(measurement != '') AS measured,
    countIf(measurement = 'effective_by_measurement') AS effective_by_measurement,
    countIf(measurement = 'ineffective_by_measurement') AS ineffective_by_measurement,
    countIf(verdict = 'effective') AS effective_by_verdict,
    countIf(verdict = 'effective' AND measurement = 'ineffective_by_measurement')
        AS verdict_contradicted
FROM (
SELECT
    capa, agency, opened_time, status, correction_due_on, closure_due_on, open_actions,
    verified, first_verification, recurrence, verdict, measurement, at_day,
    ((status IN ('opened') AND ifNull(correction_due_on < at_day, 0))
        OR (status IN ('actions_planned') AND arrayExists(d -> d < at_day, arrayMap(a -> a.2, open_actions)))
        OR (status IN ('actions_completed', 'actions_planned', 'correction_recorded', 'opened', 'reopened', 'root_cause_recorded', 'verified_effective') AND ifNull(closure_due_on < at_day, 0))) AS overdue
FROM
(
    SELECT
        s.capa AS capa, agency, opened_time, correction_due_on, closure_due_on,
        verified, first_verification, recurrence, verdict, measurement, step, step_result,
        toDate(now64(3), 'Asia/Ho_Chi_Minh') AS at_day,
        arrayFilter(
            a -> NOT has(arrayMap(c -> c.2, arrayFilter(c -> c.1 > plan_sequence, completions)),
                         a.1),
            arrayMap(a -> (JSONExtractString(a, 'action_id'),
                           toDate(JSONExtractString(a, 'due_on'))),
                     JSONExtractArrayRaw(plan, 'actions'))) AS open_actions,
        multiIf(step = 'vn.qms.capa.opened.v1', 'opened', step = 'vn.qms.capa.correction_recorded.v1', 'correction_recorded', step = 'vn.qms.capa.root_cause_recorded.v1', 'root_cause_recorded', step = 'vn.qms.capa.actions_planned.v1', 'actions_planned', step = 'vn.qms.capa.action_completed.v1', if(notEmpty(open_actions), 'actions_planned', 'actions_completed'), step = 'vn.qms.capa.effectiveness_verified.v1', if(step_result = 'effective', 'verified_effective', 'reopened'), step = 'vn.qms.capa.reopened.v1', 'reopened', step = 'vn.qms.capa.closed.v1', 'closed', step = 'vn.qms.capa.cancelled.v1', 'cancelled', 'opened') AS status
    FROM
    (
        SELECT
            capa,
            argMaxIf(agency, sequence, type = 'vn.qms.capa.opened.v1') AS agency,
            minIfOrNull(time, type = 'vn.qms.capa.opened.v1') AS opened_time,
            anyIf(correction_due_on, type = 'vn.qms.capa.opened.v1') AS correction_due_on,
            anyIf(closure_due_on, type = 'vn.qms.capa.opened.v1') AS closure_due_on,
            argMaxIf(type, sequence, type IN ('vn.qms.capa.opened.v1', 'vn.qms.capa.correction_recorded.v1', 'vn.qms.capa.root_cause_recorded.v1', 'vn.qms.capa.actions_planned.v1', 'vn.qms.capa.action_completed.v1', 'vn.qms.capa.effectiveness_verified.v1', 'vn.qms.capa.reopened.v1', 'vn.qms.capa.closed.v1', 'vn.qms.capa.cancelled.v1')) AS step,
            argMaxIf(result, sequence, type IN ('vn.qms.capa.opened.v1', 'vn.qms.capa.correction_recorded.v1', 'vn.qms.capa.root_cause_recorded.v1', 'vn.qms.capa.actions_planned.v1', 'vn.qms.capa.action_completed.v1', 'vn.qms.capa.effectiveness_verified.v1', 'vn.qms.capa.reopened.v1', 'vn.qms.capa.closed.v1', 'vn.qms.capa.cancelled.v1')) AS step_result,
            argMinIf(result, sequence, type = 'vn.qms.capa.effectiveness_verified.v1') AS first_verification,
            countIf(type = 'vn.qms.capa.effectiveness_verified.v1') > 0 AS verified,
            argMaxIf(result, sequence, type = 'vn.qms.capa.effectiveness_verified.v1') AS verdict,
            argMaxIf(result, sequence, type = 'vn.qms.capa.effectiveness_measured.v1') AS measurement,
            countIf(type = 'vn.qms.capa.recurrence_flagged.v1') > 0 AS recurrence
        FROM capa_events
        WHERE time <= now64(3)
        GROUP BY capa
    ) AS s
    LEFT JOIN
    (
        SELECT
            subject AS capa,
            argMaxIf(data, JSONExtractUInt(data, 'sequence'), type = 'vn.qms.capa.actions_planned.v1') AS plan,
            maxIf(JSONExtractUInt(data, 'sequence'), type = 'vn.qms.capa.actions_planned.v1') AS plan_sequence,
            groupArrayIf((JSONExtractUInt(data, 'sequence'), JSONExtractString(data, 'action_id')),
                         type = 'vn.qms.capa.action_completed.v1') AS completions
        FROM events
        WHERE family = 'capa' AND type IN ('vn.qms.capa.actions_planned.v1', 'vn.qms.capa.action_completed.v1') AND time <= now64(3)
        GROUP BY subject
    ) AS a ON a.capa = s.capa
    WHERE opened_time IS NOT NULL AND opened_time <= now64(3)
))
GROUP BY agency;
