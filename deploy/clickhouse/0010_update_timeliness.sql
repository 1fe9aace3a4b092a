-- Timeliness of updates: how late officers record what happened. An event's lag is
-- `received_time − time` (intake's receipt minus when it happened); an event is recorded
-- late when intake received it more than one working day after the local day it happened.
-- Working days come from the calendar's data files (deploy/calendar/), so the consumer
-- counts them at ingestion into `recorded_working_days_late`: the working days d with
-- day(time) < d <= day(received_time), NULL without a receipt or when a year has no
-- calendar file. Rows stored before this migration hold NULL until a replay rewrites them.
-- Definitions: docs/kpis.md, "Timeliness of updates".

ALTER TABLE events ADD COLUMN IF NOT EXISTS recorded_working_days_late Nullable(Int16) AFTER received_time;

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
        greatest(0, dateDiff('millisecond', time, assumeNotNull(received_time))) / 3600000.0
            AS lag_hours,
        recorded_working_days_late AS working_days_late
    FROM events FINAL
    WHERE received_time IS NOT NULL
)
GROUP BY agency, month;
