"""The procedure register's rules: versions in force, dossiers received under a procedure not
in force, and each dossier's statutory due time against the due time the publisher sent.

Part of the KPI catalogue (kpi_catalogue.py holds the dossier counts, this module the
register's measures, capa_kpis.py the CAPA board's): deploy/clickhouse/0015 holds the views
these functions write, `tests/unit/metrics/test_kpi_catalogue.py` keeps them equal, and the
read API and the Grafana panels query them. Definitions: docs/kpis.md, "Procedure register"
and "Statutory due time".

Working days are counted in SQL over `working_calendar`, a table the metrics service fills
from the calendar's data files (services/common/working_days.py) whenever it migrates: a
dossier's statutory time depends on the register's version in force at its receipt, which
may arrive after the dossier, so it cannot be settled at ingestion as the lag of an update
is; a view over both tables answers with whatever both hold now.
"""

from __future__ import annotations

from enum import StrEnum

from services.metrics.domain.kpi_catalogue import LOCAL_OFFSET_HOURS, event_type, local_day_sql

PROCEDURE_VERSION_TYPES = ("vn.qms.procedure.published.v1", "vn.qms.procedure.amended.v1")
PROCEDURE_REPEALED = "vn.qms.procedure.repealed.v1"


class NotInForce(StrEnum):
    """Why the procedure a dossier was received under was not in force on its local day."""

    UNKNOWN = "unknown"  # the register holds no version of the procedure
    NOT_YET_IN_FORCE = "not_yet_in_force"  # its first version takes effect later
    REPEALED = "repealed"  # repealed on or before the day
    OUTDATED_VERSION = "outdated_version"  # the dossier states another version than in force


NOT_IN_FORCE_REASONS: dict[NotInForce, str] = {
    NotInForce.UNKNOWN: "the register holds no version of the procedure",
    NotInForce.NOT_YET_IN_FORCE: "every version of the procedure takes effect after the day",
    NotInForce.REPEALED: "a repeal took effect on or before the day",
    NotInForce.OUTDATED_VERSION: (
        "the dossier states a `procedure_version` other than the version in force"
    ),
}


def procedure_versions_in_force_sql() -> str:
    """Per procedure and version: its statutory time, levels, legal basis and the interval
    [effective_from, effective_to) it is in force, over `procedure_events`.

    A version's content is its latest event (by time, then id; a duplicate delivery is the
    same row). It is in force until the next version's `effective_from` (versions ordered by
    effective_from, then version) or the first repeal effective on or after its own
    `effective_from`, whichever comes first; `effective_to` is NULL while neither exists.
    """
    versions = ", ".join(f"'{t}'" for t in PROCEDURE_VERSION_TYPES)
    return f"""SELECT
    procedure,
    version,
    name,
    statutory_working_days,
    levels,
    legal_basis,
    effective_from,
    leadInFrame(toNullable(effective_from)) OVER (
        PARTITION BY procedure ORDER BY effective_from, version
        ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING
    ) AS next_version_from,
    arrayFilter(r -> r >= effective_from, repeal_days) AS later_repeals,
    if(empty(later_repeals), NULL, arrayMin(later_repeals)) AS repealed_from,
    multiIf(
        next_version_from IS NULL, repealed_from,
        repealed_from IS NULL, next_version_from,
        least(assumeNotNull(next_version_from), assumeNotNull(repealed_from))
    ) AS effective_to
FROM
(
    SELECT
        procedure,
        version,
        argMax(name, (time, id)) AS name,
        argMax(statutory_working_days, (time, id)) AS statutory_working_days,
        argMax(levels, (time, id)) AS levels,
        argMax(legal_basis, (time, id)) AS legal_basis,
        argMax(effective_from, (time, id)) AS effective_from
    FROM procedure_events
    WHERE type IN ({versions})
    GROUP BY procedure, version
) AS v
LEFT JOIN
(
    SELECT procedure, groupUniqArray(effective_from) AS repeal_days
    FROM procedure_events
    WHERE type = '{PROCEDURE_REPEALED}'
    GROUP BY procedure
) AS r USING (procedure)"""


def dossier_register_sql() -> str:
    """One row per received dossier with the register's version in force on its local day
    of receipt (`version_in_force`, 0 when none) and why its procedure was not in force
    (`not_in_force`, '' when it was), over `dossier_events` and the versions in force.

    Its first `dossier.received` event counts (by time); `stated_version` is the
    `procedure_version` it states (NULL when it states none). The version in force is the
    one with the latest `effective_from` on or before the day, when the day is before its
    `effective_to`; a version emptied by a later one of the same day (or by a repeal of its
    own first day) was never in force and is passed over.
    """
    received = event_type("received")
    supplement = event_type("supplement_received")
    resolved = event_type("resolved")
    return f"""SELECT
    d.agency AS agency,
    d.procedure AS procedure,
    d.dossier AS dossier,
    d.received_time AS received_time,
    d.received_day AS received_day,
    toStartOfMonth(d.received_day) AS month,
    d.stated_version AS stated_version,
    d.start_time AS start_time,
    d.published_due_at AS published_due_at,
    d.resolved_time AS resolved_time,
    d.resolved_due_at AS resolved_due_at,
    p.in_register AS in_register,
    v.version AS matched_version,
    v.effective_to AS effective_to,
    matched_version > 0 AND (effective_to IS NULL OR d.received_day < effective_to)
        AS is_in_force,
    if(is_in_force, matched_version, 0) AS version_in_force,
    if(is_in_force, v.statutory_working_days, NULL) AS statutory_working_days,
    multiIf(
        in_register = 0, '{NotInForce.UNKNOWN}',
        matched_version = 0, '{NotInForce.NOT_YET_IN_FORCE}',
        NOT is_in_force, '{NotInForce.REPEALED}',
        stated_version IS NOT NULL AND stated_version != version_in_force,
            '{NotInForce.OUTDATED_VERSION}',
        ''
    ) AS not_in_force
FROM
(
    SELECT
        agency,
        procedure,
        dossier,
        minIfOrNull(time, type = '{received}') AS received_time,
        argMinIf(day, time, type = '{received}') AS received_day,
        argMinIf(procedure_version, time, type = '{received}') AS stated_version,
        maxIfOrNull(time, type = '{supplement}') AS supplement_time,
        greatest(assumeNotNull(received_time), ifNull(supplement_time, received_time))
            AS start_time,
        argMaxIf(due_at, time, type IN ('{received}', '{supplement}') AND due_at IS NOT NULL)
            AS published_due_at,
        minIfOrNull(time, type = '{resolved}') AS resolved_time,
        argMinIf(due_at, time, type = '{resolved}') AS resolved_due_at
    FROM dossier_events
    GROUP BY agency, procedure, dossier
    HAVING received_time IS NOT NULL
) AS d
LEFT JOIN
(
    SELECT DISTINCT procedure, toUInt8(1) AS in_register FROM procedure_events
) AS p ON d.procedure = p.procedure
ASOF LEFT JOIN
(
    SELECT * FROM procedure_versions_in_force
    WHERE effective_to IS NULL OR effective_to > effective_from
) AS v ON d.procedure = v.procedure AND d.received_day >= v.effective_from"""


def procedure_not_in_force_sql() -> str:
    """Every dossier received under a procedure not in force, with the reason (0015's
    `procedure_nonconforming_dossiers`): the columns a measured nonconformity lists."""
    return """SELECT agency, procedure, month, dossier, received_time AS time,
    not_in_force AS reason
FROM dossier_register
WHERE not_in_force != ''"""


def procedure_not_in_force_counts_sql(
    group: tuple[str, ...] = ("agency", "month", "reason"), where: str = ""
) -> str:
    """Dossiers received under a procedure not in force per `group` (of agency, procedure,
    month, reason); `where` narrows the dossiers (SQL over the same columns)."""
    keys = ", ".join(group)
    narrowed = f" WHERE {where}" if where else ""
    return f"""SELECT {keys}, count() AS dossiers
FROM procedure_nonconforming_dossiers{narrowed}
GROUP BY {keys}"""


# --- Statutory due time -----------------------------------------------------------------------
# A dossier's statutory due time is the end (24:00 local) of the N-th working day after the
# local day its statutory time starts, N the statutory working days of the version in force
# at receipt; the time starts at receipt, or anew at the latest complete supplement
# received. The due time the publisher sent is the latest `due_at` of the dossier's received
# and supplement-received events (an apology's new due time is the lawful extension of a late
# dossier, not a due date set at receipt). It is extended when it is later than the
# statutory due time.
def dossier_statutory_due_sql() -> str:
    """One row per dossier received under a version in force: the start of its statutory
    time, the statutory due day and time (NULL when a day needed is not in the calendar),
    whether the published due time extends it, and on-time against both due times, over
    `dossier_register` and `working_calendar` (0015's `dossier_statutory_due`).

    `is_on_time` is kpi_catalogue.ON_TIME_SQL on the resolved event (its `due_at`, the due
    time in force at resolution); `is_on_time_statutory` compares the resolution with the
    statutory due time instead."""
    start_day = local_day_sql("start_time")
    return f"""SELECT
    agency, procedure, dossier, month, received_time, version_in_force, statutory_working_days,
    start_time, start_day, published_due_at, resolved_time, resolved_due_at,
    if(resolved_time IS NULL, NULL, toStartOfMonth({local_day_sql("resolved_time")}))
        AS resolved_month,
    multiIf(
        statutory_working_days = 0, start_day,
        calendar_day != start_day OR w.day = toDate(0), NULL,
        w.day
    ) AS statutory_due_day,
    subtractHours(toDateTime64(statutory_due_day + 1, 3, 'UTC'), {LOCAL_OFFSET_HOURS})
        AS statutory_due_at,
    toUInt8(ifNull(published_due_at > statutory_due_at, 0)) AS is_extended,
    toUInt8(ifNull(resolved_time <= resolved_due_at, 0)) AS is_on_time,
    toUInt8(ifNull(resolved_time <= statutory_due_at, 0)) AS is_on_time_statutory
FROM
(
    SELECT
        r.*,
        {start_day} AS start_day,
        s.day AS calendar_day,
        s.worked_through + assumeNotNull(r.statutory_working_days) AS due_worked_through
    FROM (SELECT * FROM dossier_register WHERE is_in_force) AS r
    LEFT JOIN (SELECT day, worked_through FROM working_calendar FINAL) AS s
        ON s.day = {start_day}
) AS t
LEFT JOIN
(
    SELECT day, worked_through FROM working_calendar FINAL WHERE working = 1
) AS w ON w.worked_through = t.due_worked_through"""


# A dossier's extension is final once it is resolved: until then a supplement can start its
# statutory time anew (the due time of a dossier received on the eve of a worked Saturday and
# sent back for a supplement the same day is extended only until the supplement arrives), and
# a CAPA once opened is not withdrawn. So the CAPA policy lists resolved dossiers; the KPI
# (`statutory_due_counts_sql`) counts the extension as it stands.
def extended_due_sql() -> str:
    """Every resolved dossier whose published due time extends its statutory one (0016's
    `extended_due_dossiers`): the columns a measured nonconformity lists."""
    return """SELECT agency, procedure, month, dossier, received_time AS time,
    concat('due ', toString(published_due_at), ' after the statutory ',
        toString(statutory_due_at), ' (', toString(statutory_working_days),
        ' working days)') AS reason
FROM dossier_statutory_due
WHERE is_extended = 1 AND resolved_time IS NOT NULL"""


def statutory_due_counts_sql(group: tuple[str, ...] = ("agency", "month"), where: str = "") -> str:
    """Per `group` (of agency, procedure, month of receipt): dossiers with a statutory due
    time, how many of them have a published due time extending it, and that share."""
    keys = ", ".join(group)
    narrowed = f" AND {where}" if where else ""
    return f"""SELECT
    {keys},
    count() AS dossiers,
    countIf(is_extended = 1) AS extended_due,
    100.0 * extended_due / nullIf(dossiers, 0) AS extended_due_share
FROM dossier_statutory_due
WHERE statutory_due_day IS NOT NULL{narrowed}
GROUP BY {keys}"""


def on_time_statutory_sql(group: tuple[str, ...] = ("agency", "month"), where: str = "") -> str:
    """Per `group` (of agency, procedure, month of resolution): resolved dossiers with a
    statutory due time, on time against the published due time (the `on_time` rule) and
    against the statutory one, and both rates."""
    keys = ", ".join("resolved_month AS month" if g == "month" else g for g in group)
    narrowed = f" AND {where}" if where else ""
    return f"""SELECT
    {keys},
    count() AS resolved,
    countIf(is_on_time = 1) AS on_time,
    countIf(is_on_time_statutory = 1) AS on_time_statutory,
    100.0 * on_time / nullIf(resolved, 0) AS on_time_rate,
    100.0 * on_time_statutory / nullIf(resolved, 0) AS on_time_statutory_rate
FROM dossier_statutory_due
WHERE resolved_time IS NOT NULL AND statutory_due_day IS NOT NULL{narrowed}
GROUP BY {", ".join(group)}"""
