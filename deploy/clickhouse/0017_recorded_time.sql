-- When the originating system recorded each event: the CloudEvents extension `recordedtime`,
-- set by a publisher that forwards in bulk or imports its history (docs/intake.md). The
-- timeliness of updates measures the lag from it, else from intake's `received_time`
-- (`coalesce(recorded_time, received_time)`, RECORDED_AT_SQL of the KPI catalogue), and the
-- consumer counts `recorded_working_days_late` from the same instant. Rows stored before
-- this migration hold NULL (their lag is from their receipt, as before) until a replay
-- rewrites them.
-- Definitions: docs/kpis.md, "Timeliness of updates".

ALTER TABLE events ADD COLUMN IF NOT EXISTS recorded_time Nullable(DateTime64(3, 'UTC')) AFTER received_time;

CREATE OR REPLACE VIEW kpi_update_timeliness_agency_month AS
SELECT
    agency, month,
    count() AS updates,
    quantileExact(0.5)(lag_hours) AS median_lag_hours,
    quantileExact(0.9)(lag_hours) AS p90_lag_hours,
    countIf(working_days_late > 1) AS late_updates,
    countIf(working_days_late IS NOT NULL) AS calendared_updates,
    100.0 * late_updates / nullIf(calendared_updates, 0) AS late_update_share
FROM
(
    SELECT
        agency,
        toStartOfMonth(toDate(addHours(time, 7))) AS month,
        greatest(0, dateDiff('millisecond', time, assumeNotNull(coalesce(recorded_time, received_time))))
            / 3600000.0 AS lag_hours,
        recorded_working_days_late AS working_days_late
    FROM events FINAL
    WHERE coalesce(recorded_time, received_time) IS NOT NULL
)
GROUP BY agency, month;
