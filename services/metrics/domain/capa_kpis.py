"""CAPA measures of the KPI catalogue: backlog, overdue, ageing, effectiveness, recurrence.

Every figure is taken *as of an instant T*: a CAPA counts with the state its events with
`time <= T` give it (`EventsKnown.AT`), or, only when asked for, with every event stored
now (`EventsKnown.NOW`, "as known now"); either way only CAPAs opened by T count. "Overdue"
is the CAPA domain's rule (`services.capa.domain.overdue.OVERDUE_RULE`), written here as SQL:
the CAPA API's summary and these figures count the same CAPAs at the same instant.

The SQL reads `capa_events` for the life cycle and the raw `events` for the action plans
(their due dates travel in `data.actions`). Written with `at` as an SQL expression:
`now64(3)` in the dashboards' view `kpi_capa_agency`, a bound parameter in the read API.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.capa import MeasuredEffectiveness, VerificationResult
from services.capa.domain.effectiveness import LATE_DOSSIERS_MEASURE, MEASURES
from services.capa.domain.overdue import FINISHED, OVERDUE_RULE, DueDate
from services.capa.domain.transitions import TRANSITIONS, CommandName, Status
from services.metrics.domain.kpi_catalogue import AT_PARAMETER as AT_PARAMETER
from services.metrics.domain.kpi_catalogue import LOCAL_TIME_ZONE as LOCAL_TIME_ZONE
from services.metrics.domain.kpi_catalogue import NOW_SQL as NOW_SQL
from services.metrics.domain.kpi_catalogue import ON_TIME_SQL, EventsKnown


def capa_type(kind: str) -> str:
    return f"vn.qms.capa.{kind}.v1"


_OPENED, _PLANNED = capa_type("opened"), capa_type("actions_planned")
_COMPLETED, _VERIFIED = capa_type("action_completed"), capa_type("effectiveness_verified")
_MEASURED = capa_type("effectiveness_measured")

# The status each step of the life cycle leaves a CAPA in (`evolve`, as SQL over the step's
# type and result and the plan's open actions). Events that are not steps move no status.
STATUS_AFTER_STEP: Mapping[str, str] = {
    capa_type("opened"): f"'{Status.OPENED}'",
    capa_type("correction_recorded"): f"'{Status.CORRECTION_RECORDED}'",
    capa_type("root_cause_recorded"): f"'{Status.ROOT_CAUSE_RECORDED}'",
    _PLANNED: f"'{Status.ACTIONS_PLANNED}'",
    _COMPLETED: (
        f"if(notEmpty(open_actions), '{Status.ACTIONS_PLANNED}', '{Status.ACTIONS_COMPLETED}')"
    ),
    _VERIFIED: f"if(step_result = 'effective', '{Status.VERIFIED_EFFECTIVE}', '{Status.REOPENED}')",
    capa_type("reopened"): f"'{Status.REOPENED}'",
    capa_type("closed"): f"'{Status.CLOSED}'",
    capa_type("cancelled"): f"'{Status.CANCELLED}'",
}
NOT_STEPS = tuple(
    capa_type(k)
    for k in ("nonconformity_linked", "escalated", "recurrence_flagged", "effectiveness_measured")
)

# Each kind of due date as a condition "passed before at_day" over a CAPA's row.
_PASSED: Mapping[DueDate, str] = {
    DueDate.CORRECTION: "ifNull(correction_due_on < at_day, 0)",
    DueDate.ACTION: "arrayExists(d -> d < at_day, arrayMap(a -> a.2, open_actions))",
    DueDate.CLOSURE: "ifNull(closure_due_on < at_day, 0)",
}


def _statuses(statuses: frozenset[Status]) -> str:
    return ", ".join(f"'{s}'" for s in sorted(statuses))


def overdue_sql() -> str:
    """The CAPA domain's overdue rule over a CAPA row (`status`, its due dates, `at_day`)."""
    terms = [f"(status IN ({_statuses(r.while_in)}) AND {_PASSED[r.kind]})" for r in OVERDUE_RULE]
    return "(" + "\n        OR ".join(terms) + ")"


def _status_sql() -> str:
    branches = ", ".join(f"step = '{t}', {s}" for t, s in STATUS_AFTER_STEP.items())
    return f"multiIf({branches}, '{Status.OPENED}')"


def capa_states_sql(at: str, known: EventsKnown = EventsKnown.AT) -> str:
    """One row per CAPA opened by `at`, with its status, running dates and `overdue` then."""
    known_then = f"time <= {at}" if known is EventsKnown.AT else "1"
    steps = ", ".join(f"'{t}'" for t in STATUS_AFTER_STEP)
    sequence = "JSONExtractUInt(data, 'sequence')"
    return f"""
SELECT
    capa, agency, opened_time, status, correction_due_on, closure_due_on, open_actions,
    verified, first_verification, recurrence, verdict, measurement, at_day,
    {overdue_sql()} AS overdue
FROM
(
    SELECT
        s.capa AS capa, agency, opened_time, correction_due_on, closure_due_on,
        verified, first_verification, recurrence, verdict, measurement, step, step_result,
        toDate({at}, '{LOCAL_TIME_ZONE}') AS at_day,
        arrayFilter(
            a -> NOT has(arrayMap(c -> c.2, arrayFilter(c -> c.1 > plan_sequence, completions)),
                         a.1),
            arrayMap(a -> (JSONExtractString(a, 'action_id'),
                           toDate(JSONExtractString(a, 'due_on'))),
                     JSONExtractArrayRaw(plan, 'actions'))) AS open_actions,
        {_status_sql()} AS status
    FROM
    (
        SELECT
            capa,
            argMaxIf(agency, sequence, type = '{_OPENED}') AS agency,
            minIfOrNull(time, type = '{_OPENED}') AS opened_time,
            anyIf(correction_due_on, type = '{_OPENED}') AS correction_due_on,
            anyIf(closure_due_on, type = '{_OPENED}') AS closure_due_on,
            argMaxIf(type, sequence, type IN ({steps})) AS step,
            argMaxIf(result, sequence, type IN ({steps})) AS step_result,
            argMinIf(result, sequence, type = '{_VERIFIED}') AS first_verification,
            countIf(type = '{_VERIFIED}') > 0 AS verified,
            argMaxIf(result, sequence, type = '{_VERIFIED}') AS verdict,
            argMaxIf(result, sequence, type = '{_MEASURED}') AS measurement,
            countIf(type = '{capa_type("recurrence_flagged")}') > 0 AS recurrence
        FROM capa_events
        WHERE {known_then}
        GROUP BY capa
    ) AS s
    LEFT JOIN
    (
        SELECT
            subject AS capa,
            argMaxIf(data, {sequence}, type = '{_PLANNED}') AS plan,
            maxIf({sequence}, type = '{_PLANNED}') AS plan_sequence,
            groupArrayIf(({sequence}, JSONExtractString(data, 'action_id')),
                         type = '{_COMPLETED}') AS completions
        FROM events
        WHERE family = 'capa' AND type IN ('{_PLANNED}', '{_COMPLETED}') AND {known_then}
        GROUP BY subject
    ) AS a ON a.capa = s.capa
    WHERE opened_time IS NOT NULL AND opened_time <= {at}
)"""


# Effectiveness by measurement (services.capa.domain.effectiveness) beside the auditor's verdict:
# the latest of each per CAPA. "Contradicted": verified effective, then measured ineffective.
_BY_MEASUREMENT = MeasuredEffectiveness.EFFECTIVE.value
_NOT_BY_MEASUREMENT = MeasuredEffectiveness.INEFFECTIVE.value
_BY_VERDICT = VerificationResult.EFFECTIVE.value


def capa_by_agency_sql(at: str, known: EventsKnown = EventsKnown.AT) -> str:
    """The CAPA board per agency as of `at`: the columns of `kpi_capa_agency`."""
    unfinished = f"status NOT IN ({_statuses(FINISHED)})"
    age_days = f"dateDiff('day', opened_time, {at})"
    return f"""SELECT
    agency,
    count() AS capas,
    countIf({unfinished}) AS backlog,
    countIf(overdue) AS overdue,
    countIf(status = '{Status.CLOSED}') AS closed,
    countIf(status = '{Status.CANCELLED}') AS cancelled,
    avgIf(dateDiff('second', opened_time, {at}) / 86400.0, {unfinished}) AS avg_open_age_days,
    countIf({unfinished} AND {age_days} <= 30) AS age_0_30,
    countIf({unfinished} AND {age_days} BETWEEN 31 AND 60) AS age_31_60,
    countIf({unfinished} AND {age_days} BETWEEN 61 AND 90) AS age_61_90,
    countIf({unfinished} AND {age_days} > 90) AS age_over_90,
    countIf(verified) AS verified,
    countIf(first_verification = 'effective') AS effective_first_time,
    100.0 * effective_first_time / nullIf(verified, 0) AS first_time_effectiveness,
    countIf(recurrence) AS recurrences,
    100.0 * recurrences / nullIf(capas, 0) AS recurrence_rate,
    countIf(measurement != '') AS measured,
    countIf(measurement = '{_BY_MEASUREMENT}') AS effective_by_measurement,
    countIf(measurement = '{_NOT_BY_MEASUREMENT}') AS ineffective_by_measurement,
    countIf(verdict = '{_BY_VERDICT}') AS effective_by_verdict,
    countIf(verdict = '{_BY_VERDICT}' AND measurement = '{_NOT_BY_MEASUREMENT}')
        AS verdict_contradicted
FROM ({capa_states_sql(at, known)})
GROUP BY agency"""


def capa_board_view_sql() -> str:
    """`kpi_capa_agency`: the board as of now, every event whose time has come (dashboards)."""
    return f"CREATE OR REPLACE VIEW kpi_capa_agency AS\n{capa_by_agency_sql(NOW_SQL)};\n"


# --- Effectiveness measured on the stream ---------------------------------------------------
# Each measure of the CAPA domain's `MEASURES`, once: how often the nonconformity recurred for
# the CAPA's agency and procedure in [start, end). Late dossiers: dossiers resolved after their
# due time (the catalogue's on-time rule), each counted once.
MEASURE_SQL: Mapping[str, str] = {
    LATE_DOSSIERS_MEASURE: f"""SELECT uniqExact(dossier) AS value
FROM dossier_events
WHERE type = 'vn.qms.dossier.resolved.v1'
    AND agency = {{agency:String}} AND procedure = {{procedure:String}}
    AND time >= {{start:DateTime64(3, 'UTC')}} AND time < {{end:DateTime64(3, 'UTC')}}
    AND NOT ({ON_TIME_SQL})""",
}

# Where a measurement is recorded (the CAPA life-cycle table): the actions are done.
MEASURABLE_STATUSES = frozenset(
    s
    for s, commands in TRANSITIONS.items()
    if CommandName.RECORD_EFFECTIVENESS_MEASUREMENT in commands
)


def effectiveness_due_sql(at: str, wait_hours: str) -> str:
    """CAPAs of a measurable source whose last action was done `wait_hours` (the window and a
    grace) before `at` and that have no measurement since (one row each: capa, nc_source,
    agency, procedure, window_start)."""
    sources = ", ".join(f"'{s.value}'" for s in sorted(MEASURES))
    return f"""SELECT st.capa AS capa, c.nc_source AS nc_source, st.agency AS agency,
    c.procedure AS procedure, c.window_start AS window_start
FROM ({capa_states_sql(at)}) AS st
INNER JOIN
(
    SELECT
        capa,
        anyIf(nc_source, type = '{_OPENED}') AS nc_source,
        anyIf(procedure, type = '{_OPENED}') AS procedure,
        maxIf(time, type = '{_COMPLETED}') AS window_start,
        maxIf(sequence, type = '{_COMPLETED}') AS completed_sequence,
        maxIf(sequence, type = '{_MEASURED}') AS measured_sequence
    FROM capa_events
    WHERE time <= {at}
    GROUP BY capa
) AS c ON c.capa = st.capa
WHERE st.status IN ({_statuses(MEASURABLE_STATUSES)})
    AND c.nc_source IN ({sources}) AND c.procedure != ''
    AND c.measured_sequence < c.completed_sequence
    AND c.window_start + toIntervalHour({wait_hours}) <= {at}
ORDER BY capa"""
