"""The KPI catalogue: each measure's rule, its SQL over the facts, thresholds, score weights.

One home for every KPI rule of docs/kpis.md. From it come the read API's dossier counts
(adapters/kpi_queries.py), the Grafana panels (deploy/grafana/build_dashboards.py), the
tables of docs/kpis.md and, through a test, the migrations' views: an applied migration is
frozen history, so `tests/unit/metrics/test_kpi_catalogue.py` fails when a view of
`deploy/clickhouse/` and this catalogue disagree (a changed rule is a new migration whose
SQL these functions write). The figures at an instant (dossiers in progress, objectives,
agencies in scope as of T) are queried with the instant bound, from the functions below
that also write those views' all-time form. The demo's ground truth stays an independent
computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

# --- Rules and thresholds -------------------------------------------------------------------
# A resolved dossier is on time when it is resolved by the due time in force, which its
# `dossier.resolved` event carries in `data.due_at` (after supplements and apologies): the
# SQL form of `schemas.dossier.DossierResolved.on_time`, over `dossier_events`.
ON_TIME_SQL = "time <= due_at"
ONLINE_SQL = "channel = 'online'"
# Online public-service levels (schemas.dossier.DossierReceivedData.online_level): level 3 is
# partly online (submitted online, the result or fees at the counter), level 4 full online
# ("toàn trình": submission, payment and result all online). Provinces report them apart.
PARTLY_ONLINE_LEVEL = 3
FULL_ONLINE_LEVEL = 4
SATISFIED_FROM_SCORE = 4  # a rating of 4 or 5 (of 5) is a satisfied citizen
SATISFIED_SQL = f"score >= {SATISFIED_FROM_SCORE}"
ONSITE_INSPECTION_MINIMUM_PCT = 30.0


def event_type(kind: str) -> str:
    """The CloudEvents type of a dossier event kind (`received` → `vn.qms.dossier.received.v1`)."""
    return f"vn.qms.dossier.{kind}.v1"


# --- Dossier measures: a dossier's marks (deploy/clickhouse/0007_dossier_marks.sql) --------
@dataclass(frozen=True, slots=True)
class DossierMeasure:
    """A dossier counts for the measure in the local month of an event of `event` kind that
    meets `condition` (SQL over `dossier_events`; None: every such event)."""

    name: str
    event: str
    condition: str | None
    label: str
    definition: str


@dataclass(frozen=True, slots=True)
class DerivedCount:
    """A count computed from other counts of the same row (`late = resolved − on_time`)."""

    name: str
    sql: str
    after: str  # the measure it follows in every list of counts
    label: str
    definition: str


DOSSIER_MEASURES: tuple[DossierMeasure, ...] = (
    DossierMeasure(
        "received",
        "received",
        None,
        "Received",
        "distinct dossiers (subject) with a `dossier.received` event whose `time` falls in the "
        "month; a period adds its months",
    ),
    DossierMeasure(
        "resolved",
        "resolved",
        None,
        "Resolved",
        "distinct dossiers with a `dossier.resolved` event whose `time` (the resolution time) "
        "falls in the month; a period adds its months",
    ),
    DossierMeasure(
        "on_time",
        "resolved",
        ON_TIME_SQL,
        "Resolved on time",
        "resolved dossiers (as above) whose resolved event has `time <= data.due_at`. "
        "`data.due_at` of the resolved event is the due time in force at resolution, i.e. "
        "after supplements and apology letters",
    ),
    DossierMeasure(
        "received_online",
        "received",
        ONLINE_SQL,
        "Received online",
        "received dossiers whose `dossier.received` has `channel = online`",
    ),
    DossierMeasure(
        "received_online_l34",
        "received",
        f"{ONLINE_SQL} AND online_level >= {PARTLY_ONLINE_LEVEL}",
        "Received online, level 3–4",
        f"received online with `online_level >= {PARTLY_ONLINE_LEVEL}` (level 3 partly online "
        f"or level 4 full online; `received_online_l3 + received_online_l4`)",
    ),
    DossierMeasure(
        "supplement_requested",
        "supplement_requested",
        None,
        "Supplements requested",
        "distinct dossiers with a `dossier.supplement_requested` in the month; a period adds "
        "its months",
    ),
    DossierMeasure(
        "withdrawn",
        "withdrawn",
        None,
        "Withdrawn",
        "distinct dossiers with a `dossier.withdrawn` in the month; a period adds its months",
    ),
    DossierMeasure(
        "apologies",
        "apology_issued",
        None,
        "Apology letters",
        "distinct dossiers with a `dossier.apology_issued` in the month; a period adds its months",
    ),
    # Added by 0008: an Enum8 value is never renumbered, so new measures come last.
    DossierMeasure(
        "received_online_l3",
        "received",
        f"{ONLINE_SQL} AND online_level = {PARTLY_ONLINE_LEVEL}",
        "Received online, level 3 (partly online)",
        f"received online with `online_level = {PARTLY_ONLINE_LEVEL}` (partly online)",
    ),
    DossierMeasure(
        "received_online_l4",
        "received",
        f"{ONLINE_SQL} AND online_level = {FULL_ONLINE_LEVEL}",
        "Received online, level 4 (full online)",
        f'received online with `online_level = {FULL_ONLINE_LEVEL}` (full online, "toàn trình")',
    ),
    DossierMeasure(
        "received_counter",
        "received",
        "channel = 'counter'",
        "Received at the counter",
        "received dossiers whose `dossier.received` has `channel = counter`",
    ),
    DossierMeasure(
        "received_postal",
        "received",
        "channel = 'postal'",
        "Received by post",
        "received dossiers whose `dossier.received` has `channel = postal`",
    ),
)
LATE = DerivedCount(
    "late", "resolved - on_time", after="on_time", label="Late", definition="`resolved − on_time`"
)
DERIVED_COUNTS: tuple[DerivedCount, ...] = (LATE,)


def dossier_count_names() -> tuple[str, ...]:
    """Every dossier count in the order of the API's rows and the views' columns."""
    names: list[str] = []
    for measure in DOSSIER_MEASURES:
        names.append(measure.name)
        names.extend(d.name for d in DERIVED_COUNTS if d.after == measure.name)
    return tuple(names)


# Where every dossier count is read (deploy/clickhouse/0019_dossier_mark_counts.sql): the
# marks counted per agency, procedure, measure and day, each mark counted once when it was
# first stored, so a count is a sum over a few rows a day, with no FINAL even while inserts
# arrive. A group of rows whose marks all moved to another day sums to 0 until merged:
# `DOSSIER_COUNT_GROUPS` keeps such a group out, as `dossier_marks_final` never had it.
DOSSIER_COUNT_TABLE = "dossier_mark_counts"
DOSSIER_COUNT_GROUPS = "HAVING sum(marks) > 0"


def count_sql(measure: str, alias: str | None = None) -> str:
    """The count of measure `x` over `DOSSIER_COUNT_TABLE`, named `alias` when given."""
    if measure not in {m.name for m in DOSSIER_MEASURES}:
        raise KeyError(f"{measure}: not a dossier measure of the catalogue")
    sql = f"toUInt64(sumIf(marks, measure = '{measure}'))"
    return f"{sql} AS {alias}" if alias else sql


def dossier_counts_sql(names: tuple[str, ...] | None = None) -> str:
    """The SELECT columns of dossier counts over `DOSSIER_COUNT_TABLE` (all, or `names`)."""
    derived = {d.name: d for d in DERIVED_COUNTS}
    columns = [
        f"{derived[n].sql} AS {n}" if n in derived else count_sql(n, n)
        for n in (dossier_count_names() if names is None else names)
    ]
    return ",\n    ".join(columns)


def marks_of_event_sql() -> str:
    """The measures an event of `dossier_events` marks, as a ClickHouse array expression.

    Per event kind: its unconditional marks, plus each conditional one when its condition
    holds; written in the shapes of 0007 (`[…]`, `if(c, […, m], […])`, `arrayConcat`), so
    that the frozen migration reads exactly as the catalogue writes.
    """
    branches: list[str] = []
    for kind in dict.fromkeys(m.event for m in DOSSIER_MEASURES):
        measures = [m for m in DOSSIER_MEASURES if m.event == kind]
        always = [f"'{m.name}'" for m in measures if m.condition is None]
        conditional = [m for m in measures if m.condition is not None]
        if not conditional:
            marks = f"[{', '.join(always)}]"
        elif len(conditional) == 1:
            (only,) = conditional
            with_it = ", ".join([*always, f"'{only.name}'"])
            marks = f"if({only.condition}, [{with_it}], [{', '.join(always)}])"
        else:
            parts = [f"[{', '.join(always)}]"]
            parts += [f"if({m.condition}, ['{m.name}'], [])" for m in conditional]
            marks = f"arrayConcat({', '.join(parts)})"
        branches.append(f"type = '{event_type(kind)}', {marks}")
    return "multiIf(" + ", ".join(branches) + ", [])"


def measure_enum_sql() -> str:
    """The `measure` column type of `dossier_marks`: the measures numbered in catalogue order."""
    values = ", ".join(f"'{m.name}' = {n}" for n, m in enumerate(DOSSIER_MEASURES, start=1))
    return f"Enum8({values})"


# --- Dossiers at an instant: in progress, waiting for supplement, overdue -------------------
# Queried, not a view: the instant is a parameter. "As of T" folds only the events whose
# `time` is at or before T, so a figure for T never moves when later events arrive; "as
# known now" takes the due time in force from every stored event (a revision dated after T
# reclassifies T), an explicit variant for reconciling a past figure with today's knowledge.
DUE_TIME_EVENTS = ("received", "supplement_received", "apology_issued")


class EventsKnown(StrEnum):
    """Which events a figure at an instant T counts (docs/kpis.md, "As of T")."""

    AT = "as_of"  # only those whose time is at or before T: the figure never moves (default)
    NOW = "now"  # every event stored now, also those dated after T ("as known now")


AS_OF = EventsKnown.AT
AS_KNOWN_NOW = EventsKnown.NOW
KNOWLEDGE_VARIANTS = tuple(variant.value for variant in EventsKnown)
# Vietnam's calendar day of an instant: the day due dates are compared with (UTC+7, no DST).
LOCAL_TIME_ZONE = "Asia/Ho_Chi_Minh"
# The same offset in hours, for day arithmetic (a local day starts at 17:00 UTC the day before).
LOCAL_OFFSET_HOURS = 7


def local_day_sql(instant: str) -> str:
    """The local calendar day of a UTC instant (the `day` column's rule)."""
    return f"toDate(addHours({instant}, {LOCAL_OFFSET_HOURS}))"


# The instant T as SQL: a bound parameter in the read API, the server's now in the views.
AT_PARAMETER = "{at:DateTime64(3, 'UTC')}"
NOW_SQL = "now64(3)"


def dossiers_at_sql(at: str, knowledge: str = AS_OF, where: str = "") -> str:
    """One row per dossier received by the instant `at` (a SQL expression), with the flags
    `is_in_progress`, `is_waiting_for_supplement` and `is_overdue` (UInt8), over
    `dossier_events`.

    In progress: received, neither resolved nor withdrawn, at or before `at`. Waiting for
    supplement: in progress and its latest supplement request at or before `at` has no
    supplement received after it by `at` — the statutory clock is stopped, so such a
    dossier is never overdue. Overdue: in progress, not waiting, and the due time in force
    (latest by `time` of the `DUE_TIME_EVENTS`' due times) before `at`. `where` narrows the
    events (e.g. to an agency scope) and must not refer to `time`.
    """
    if knowledge not in KNOWLEDGE_VARIANTS:
        raise ValueError(f"knowledge: {knowledge!r} is not one of {KNOWLEDGE_VARIANTS}")
    known = f"time <= {at}"
    due_types = ", ".join(f"'{event_type(k)}'" for k in DUE_TIME_EVENTS)
    due_known = f" AND {known}" if knowledge == AS_OF else ""
    filters = [f for f in (where, known if knowledge == AS_OF else "") if f]
    events_where = f" WHERE {' AND '.join(filters)}" if filters else ""

    def first(kind: str) -> str:
        return f"minIfOrNull(time, type = '{event_type(kind)}' AND {known})"

    def last(kind: str) -> str:
        return f"maxIfOrNull(time, type = '{event_type(kind)}' AND {known})"

    return f"""
        SELECT agency, procedure, dossier,
            {first("received")} AS received_time,
            {first("resolved")} AS resolved_time,
            {first("withdrawn")} AS withdrawn_time,
            {last("supplement_requested")} AS supplement_requested_time,
            {last("supplement_received")} AS supplement_received_time,
            argMaxIf(due_at, time, due_at IS NOT NULL AND type IN ({due_types}){due_known})
                AS due_in_force,
            toUInt8(received_time IS NOT NULL AND resolved_time IS NULL
                AND withdrawn_time IS NULL) AS is_in_progress,
            toUInt8(is_in_progress AND supplement_requested_time IS NOT NULL
                AND (supplement_received_time IS NULL
                     OR supplement_received_time < supplement_requested_time))
                AS is_waiting_for_supplement,
            toUInt8(is_in_progress AND NOT is_waiting_for_supplement
                AND ifNull(due_in_force < {at}, 0)) AS is_overdue
        FROM dossier_events{events_where}
        GROUP BY agency, procedure, dossier
        HAVING received_time IS NOT NULL"""


# --- Audit coverage: agencies in scope by the end of a period -------------------------------
def agencies_in_scope_sql(before_day: str | None = None) -> str:
    """Every agency seen on a dossier event or as an audited agency, on events of a local
    day before `before_day` (a SQL Date expression: the day after a period; None: all time)
    — 0007's `agencies` view."""
    bound = f" WHERE day < {before_day}" if before_day else ""
    return f"""SELECT DISTINCT agency FROM
(
    SELECT DISTINCT agency FROM dossier_events{bound}
    UNION ALL
    SELECT DISTINCT audited_agency AS agency FROM audit_events{bound}
)"""


# --- Quality objectives as of an instant --------------------------------------------------
OBJECTIVE_SET = "vn.qms.objective.set.v1"
OBJECTIVE_EVALUATED = "vn.qms.objective.evaluated.v1"


def objective_state_sql(at: str | None = None) -> str:
    """Per objective: the target in force (latest set) and the latest evaluation, over the
    events dated at or before `at` (a SQL expression; None: every event) — 0004's view."""
    bound = f" WHERE time <= {at}" if at else ""
    return f"""SELECT
    agency,
    objective,
    argMax(indicator, time) AS indicator,
    argMax(period, time) AS period,
    argMaxIf(target, time, type = '{OBJECTIVE_SET}') AS target,
    argMaxIf(comparison, time, type = '{OBJECTIVE_SET}') AS comparison,
    argMaxIf(actual, time, type = '{OBJECTIVE_EVALUATED}') AS reported_actual,
    argMaxIf(met, time, type = '{OBJECTIVE_EVALUATED}') AS reported_met
FROM objective_events{bound}
GROUP BY agency, objective"""


def objective_evaluations_sql(at: str | None = None) -> str:
    """Per objective and evaluated period: the latest evaluation dated at or before `at`
    (None: every event) — 0006's view."""
    bound = f" AND time <= {at}" if at else ""
    return f"""SELECT
    agency,
    objective,
    period,
    argMax(indicator, time) AS indicator,
    argMax(target, time) AS target,
    argMax(actual, time) AS reported_actual,
    argMax(met, time) AS reported_met,
    max(time) AS evaluated_time
FROM objective_events
WHERE type = '{OBJECTIVE_EVALUATED}'{bound}
GROUP BY agency, objective, period"""


# --- Rates ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DossierRate:
    """`100 × numerator / denominator` of two dossier measures (null when nothing to divide)."""

    name: str
    numerator: str
    denominator: str
    label: str
    docs_name: str

    def sql(self) -> str:
        """The rate over `DOSSIER_COUNT_TABLE`."""
        return (
            f"100 * {count_sql(self.numerator)} / nullIf({count_sql(self.denominator)}, 0) "
            f"AS {self.name}"
        )


ON_TIME_RATE = DossierRate(
    "on_time_rate", "on_time", "resolved", "Resolved on time", "`on_time_rate`"
)
ONLINE_SHARE = DossierRate(
    "online_share", "received_online", "received", "Online share", "online share"
)
PARTLY_ONLINE_SHARE = DossierRate(
    "online_l3_share",
    "received_online_l3",
    "received",
    "Partly online share (level 3)",
    "`online_l3_share`",
)
FULL_ONLINE_SHARE = DossierRate(
    "online_l4_share",
    "received_online_l4",
    "received",
    "Full online share (level 4)",
    "`online_l4_share`",
)
COUNTER_SHARE = DossierRate(
    "counter_share", "received_counter", "received", "Counter share", "`counter_share`"
)
POSTAL_SHARE = DossierRate(
    "postal_share", "received_postal", "received", "Postal share", "`postal_share`"
)
DOSSIER_RATES: tuple[DossierRate, ...] = (
    ON_TIME_RATE,
    ONLINE_SHARE,
    PARTLY_ONLINE_SHARE,
    FULL_ONLINE_SHARE,
    COUNTER_SHARE,
    POSTAL_SHARE,
)


def pct(numerator: float, denominator: float) -> float | None:
    """Percentage, or None when there is nothing to divide by."""
    return None if not denominator else 100.0 * numerator / denominator


# --- Public-service score (Decision 766/QĐ-TTg spirit) --------------------------------------
@dataclass(frozen=True, slots=True)
class ScoreComponent:
    """One component of the score: its weight and its value as SQL over the dossier counts
    `d` and the satisfaction `s` of one agency and period (a month in 0005's
    `kpi_public_service_score_month`, a whole period in the read API's `score_over`)."""

    name: str
    label: str
    weight: int
    sql: str
    definition: str


SCORE_COMPONENTS: tuple[ScoreComponent, ...] = (
    ScoreComponent(
        "progress",
        "progress",
        30,
        "if(d.resolved = 0, NULL, 100.0 * d.on_time / d.resolved)",
        "on-time rate of resolved dossiers",
    ),
    ScoreComponent(
        "online_service",
        "online service",
        20,
        "if(d.received = 0, NULL, 100.0 * d.received_online_l4 / d.received)",
        "full-online (level 4) share of received dossiers: `100 × received_online_l4 / "
        "received` (before 0008: every online dossier, whatever its level)",
    ),
    ScoreComponent(
        "satisfaction",
        "satisfaction",
        20,
        "if(s.ratings = 0, NULL, s.satisfaction_rate)",
        "satisfaction rate",
    ),
    ScoreComponent(
        "transparency",
        "transparency",
        15,
        "if(d.late = 0, 100.0, least(100.0, 100.0 * d.apologies / d.late))",
        "`min(100, 100 × apologies / late)`; 100 when no dossier is late",
    ),
    ScoreComponent(
        "digitisation",
        "digitisation",
        15,
        "if(d.received = 0, NULL, 100.0 * d.received_online_l34 / d.received)",
        "`100 × received_online_l34 / received`",
    ),
)
SCORE_WEIGHTS: Mapping[str, int] = {c.name: c.weight for c in SCORE_COMPONENTS}


def score_columns_sql() -> str:
    """The components and the weighted score (a weighted mean of the components that can
    be measured: a missing one drops out), as SELECT columns over `d` and `s`."""
    components = [f"{c.sql} AS {c.name}" for c in SCORE_COMPONENTS]
    weighted = " + ".join(f"{c.weight} * ifNull({c.name}, 0)" for c in SCORE_COMPONENTS)
    present = " + ".join(f"{c.weight} * ({c.name} IS NOT NULL)" for c in SCORE_COMPONENTS)
    return ",\n    ".join([*components, f"({weighted}) / nullIf({present}, 0) AS score"])


# --- Timeliness of updates: how late officers record what happened ---------------------------
# The lag of an event is its recording time minus when it happened: how late the officer
# recorded it in the one-stop-shop software. The recording time is the originating system's
# `recordedtime` when a publisher importing or forwarding history states it, else intake's
# `receivedtime` (`RECORDED_AT_SQL`, the SQL of `CloudEvent.recorded_at`). An event is
# recorded late when its recording falls more than `LATE_UPDATE_AFTER_WORKING_DAYS` working
# days after the day it happened (local days, services/common/working_days.py). Working days
# are counted in Python at ingestion into `events.recorded_working_days_late` (0010, 0017):
# the calendar is data files.
LATE_UPDATE_AFTER_WORKING_DAYS = 1
RECORDED_AT_SQL = "coalesce(recorded_time, received_time)"
UPDATE_TIMELINESS_COLUMNS = (
    "updates",
    "median_lag_hours",
    "p90_lag_hours",
    "late_updates",
    "calendared_updates",
    "late_update_share",
)


def update_timeliness_sql(group: tuple[str, ...] = ("agency", "month"), where: str = "") -> str:
    """Per `group` (of agency, month): events with a recording time, the median and 90th
    percentile of their lag in hours (exact quantiles; a negative lag, clock skew, is 0), how
    many were recorded late, how many had a calendar for both days, and the late share of
    those — over `events` (one row per (source, id)); `where` narrows the events (SQL
    conditions over agency, month, time)."""
    keys = ", ".join(group)
    narrowed = f" AND {where}" if where else ""
    return f"""SELECT
    {keys},
    count() AS updates,
    quantileExact(0.5)(lag_hours) AS median_lag_hours,
    quantileExact(0.9)(lag_hours) AS p90_lag_hours,
    countIf(working_days_late > {LATE_UPDATE_AFTER_WORKING_DAYS}) AS late_updates,
    countIf(working_days_late IS NOT NULL) AS calendared_updates,
    100.0 * late_updates / nullIf(calendared_updates, 0) AS late_update_share
FROM
(
    SELECT
        agency,
        toStartOfMonth({local_day_sql("time")}) AS month,
        greatest(0, dateDiff('millisecond', time, assumeNotNull({RECORDED_AT_SQL})))
            / 3600000.0 AS lag_hours,
        recorded_working_days_late AS working_days_late
    FROM events FINAL
    WHERE {RECORDED_AT_SQL} IS NOT NULL{narrowed}
)
GROUP BY {keys}"""


# --- The process control sheet: where a dossier's time goes -----------------------------------
# A dossier's sheet is its received event and its step transfers in step order. Step k is
# the time `from_unit` held the dossier: it starts when the previous step's `to_unit` took
# it over (`to_unit_received_at`, else that step's handover `time`) — for the first step
# on the sheet, at the dossier's earliest `received` — and ends at the handover (`time`).
# A step number transferred more than once (a correction) keeps its latest by `time`.
# Durations are elapsed hours (a negative span, clock skew, is 0). A step is late when the
# publisher states its `step_due_at` and the handover is after it; its overrun is the
# hours past it. A late dossier (first resolution not on time, `ON_TIME_SQL`) lost its
# time at the step that overran most, then (no step overran) the longest, then the
# earliest: `TIME_LOST_ORDER`.
STEP_TRANSFERRED = event_type("step_transferred")
TIME_LOST_ORDER = "(ifNull(overrun_hours, 0), ifNull(duration_hours, 0), -toInt16(step))"
STEP_KPIS: Mapping[str, str] = {
    "steps": "steps on the sheets (one per dossier and step number)",
    "timed_steps": "steps with a start (the dossier's `received` or an earlier step is stored)",
    "hours_spent": "sum of the steps' durations in hours",
    "avg_hours": "`hours_spent / timed_steps`",
    "max_hours": "the longest step's duration in hours",
    "steps_with_due": "steps whose transfer states a `step_due_at`",
    "late_steps": "steps handed over after their `step_due_at`",
    "late_step_share": "`100 × late_steps / steps_with_due`",
}
STEP_KPI_COLUMNS = tuple(STEP_KPIS)


def _hours(since: str, until: str) -> str:
    return f"greatest(0, dateDiff('millisecond', {since}, {until})) / 3600000.0"


def dossier_steps_sql(where: str = "") -> str:
    """One row per dossier and step on its sheet (the rule above), over `dossier_events`:
    unit (from_unit), to_unit, officer, started_at, handed_over_at, taken_over_at,
    step_due_at, allotted_working_hours, duration_hours, overrun_hours, is_late and the
    local month of the handover — 0013's `dossier_steps`. `where` narrows the events (SQL
    over agency, dossier, procedure; never time)."""
    narrowed = f" AND {where}" if where else ""
    return f"""SELECT
    agency, procedure, dossier, step, unit, to_unit, officer, started_at, handed_over_at,
    taken_over_at, step_due_at, allotted_working_hours,
    if(started_at IS NULL, NULL, {_hours("started_at", "handed_over_at")}) AS duration_hours,
    if(step_due_at IS NULL, NULL, {_hours("step_due_at", "handed_over_at")}) AS overrun_hours,
    toUInt8(ifNull(handed_over_at > step_due_at, 0)) AS is_late,
    toStartOfMonth({local_day_sql("handed_over_at")}) AS month
FROM
(
    SELECT agency, dossier, step,
        transfer.1 AS procedure, transfer.2 AS unit, transfer.3 AS to_unit,
        transfer.4 AS officer, transfer.5 AS step_due_at, transfer.6 AS allotted_working_hours,
        handed_over_at,
        toNullable(if(step = 0, handed_over_at, transfer.7)) AS taken_over_at,
        lagInFrame(taken_over_at, 1, NULL) OVER (PARTITION BY agency, dossier ORDER BY step
            ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS started_at
    FROM
    (
        SELECT agency, dossier, step,
            argMax(tuple(procedure, from_unit, to_unit, officer, step_due_at,
                allotted_working_hours, greatest(time, ifNull(to_unit_received_at, time))),
                (time, source, id)) AS transfer,
            if(step = 0, min(time), max(time)) AS handed_over_at
        FROM dossier_events
        WHERE (type = '{STEP_TRANSFERRED}' OR type = '{event_type("received")}'){narrowed}
        GROUP BY agency, dossier, step
    )
)
WHERE step > 0"""


def step_kpis_sql(group: tuple[str, ...], where: str = "") -> str:
    """Per `group` (of agency, procedure, unit, step, month): steps on the sheets, those
    with a start, hours spent in all and on average, the longest, steps with a stated due
    time, late steps and their share — over 0013's `dossier_steps`; `where` narrows the
    steps (SQL over their columns)."""
    keys = ", ".join(group)
    condition = f"\nWHERE {where}" if where else ""
    return f"""SELECT
    {keys},
    count() AS steps,
    count(duration_hours) AS timed_steps,
    sum(duration_hours) AS hours_spent,
    avg(duration_hours) AS avg_hours,
    max(duration_hours) AS max_hours,
    count(step_due_at) AS steps_with_due,
    sum(is_late) AS late_steps,
    100.0 * late_steps / nullIf(steps_with_due, 0) AS late_step_share
FROM dossier_steps{condition}
GROUP BY {keys}"""


def time_lost_sql() -> str:
    """Per late dossier with at least one step on its sheet: the step (and unit) where it
    lost its time, that step's overrun and duration, and the local month of its first
    resolution — 0013's `kpi_time_lost_dossiers`."""
    return f"""SELECT
    late.agency AS agency, late.procedure AS procedure, late.dossier AS dossier,
    late.month AS month, lost.where_lost.1 AS step, lost.where_lost.2 AS unit,
    lost.where_lost.3 AS overrun_hours, lost.where_lost.4 AS duration_hours
FROM
(
    SELECT agency, dossier, argMin(procedure, time) AS procedure,
        toStartOfMonth(argMin(day, time)) AS month
    FROM dossier_events
    WHERE type = '{event_type("resolved")}'
    GROUP BY agency, dossier
    HAVING argMin(toUInt8({ON_TIME_SQL}), time) = 0
) AS late
INNER JOIN
(
    SELECT agency, dossier,
        argMax(tuple(step, unit, overrun_hours, duration_hours), {TIME_LOST_ORDER}) AS where_lost
    FROM dossier_steps
    GROUP BY agency, dossier
) AS lost ON lost.agency = late.agency AND lost.dossier = late.dossier"""


TIME_LOST_KPIS: Mapping[str, str] = {
    "late_dossiers": "late dossiers (first resolution after its `data.due_at`) that lost their "
    "time at this step or unit, by the month of that resolution",
    "overran_dossiers": "of those, the ones whose lost step overran its `step_due_at`",
    "hours_overrun": "sum of the lost steps' hours past their `step_due_at`",
    "avg_step_hours": "average duration in hours of the lost steps",
}
TIME_LOST_COLUMNS = tuple(TIME_LOST_KPIS)


def time_lost_kpis_sql(group: tuple[str, ...], where: str = "") -> str:
    """Per `group` (of agency, procedure, unit, step, month of resolution): late dossiers
    that lost their time there, how many of those steps overran their due time, the hours
    they overran in all and the lost steps' average duration — over 0013's
    `kpi_time_lost_dossiers`; `where` narrows the dossiers (SQL over its columns)."""
    keys = ", ".join(group)
    condition = f"\nWHERE {where}" if where else ""
    return f"""SELECT
    {keys},
    count() AS late_dossiers,
    countIf(overrun_hours > 0) AS overran_dossiers,
    sum(ifNull(overrun_hours, 0)) AS hours_overrun,
    avg(duration_hours) AS avg_step_hours
FROM kpi_time_lost_dossiers{condition}
GROUP BY {keys}"""


# --- Document control (ISO 9001 §7.5): documents issued and their format conformity --------
# A document counts in the local month of the `issued_on` its `document.issued` states (the
# date written on it, which is what a document register counts by), for the agency of that
# event. Checked: it has at least one `document.checked`; conforming: its first check (by
# `time`, then id) found it conforming — a later re-check after a correction does not undo
# that it was issued with a format error. A period adds its months (a document has one).
def document_type(kind: str) -> str:
    """The CloudEvents type of a document event kind (`issued` → `vn.qms.document.issued.v1`)."""
    return f"vn.qms.document.{kind}.v1"


DOCUMENT_KPIS: tuple[tuple[str, str], ...] = (
    (
        "issued",
        "distinct documents (subject) with a `document.issued`, counted for the agency of the "
        "first and in the local month of its `data.issued_on`; a period adds its months",
    ),
    ("checked", "issued documents with at least one `document.checked`"),
    (
        "conforming",
        "checked documents whose first check (earliest `time`, then `id`) has `conforming: true`",
    ),
    ("nonconforming", "`checked − conforming`"),
    ("conforming_share", "`100 × conforming / checked` (null when none was checked)"),
)
DOCUMENT_COLUMNS = tuple(name for name, _ in DOCUMENT_KPIS)


def documents_sql(group: tuple[str, ...] = ("agency", "month"), where: str = "") -> str:
    """Per `group` (of agency, month): documents issued, checked, conforming at their first
    check, not conforming, and the conforming share of those checked — over
    `document_events`; `where` narrows the documents (SQL over agency, month)."""
    keys = ", ".join(group)
    narrowed = f" WHERE {where}" if where else ""
    issued, checked = document_type("issued"), document_type("checked")
    return f"""SELECT
    {keys},
    count() AS issued,
    countIf(is_checked) AS checked,
    countIf(is_checked AND first_conforming = 1) AS conforming,
    checked - conforming AS nonconforming,
    100.0 * conforming / nullIf(checked, 0) AS conforming_share
FROM
(
    SELECT
        document,
        argMinIf(agency, (time, id), type = '{issued}') AS agency,
        toStartOfMonth(argMinIf(dated_on, (time, id), type = '{issued}')) AS month,
        countIf(type = '{checked}') > 0 AS is_checked,
        argMinIf(conforming, (time, id), type = '{checked}') AS first_conforming
    FROM document_events
    WHERE type IN ('{issued}', '{checked}')
    GROUP BY document
    HAVING countIf(type = '{issued}') > 0
){narrowed}
GROUP BY {keys}"""


# --- Document control: ISO processes not revised after their legal basis changed ------------
# A procedure's legal basis changes on the `effective_from` of its `procedure.amended`
# version (the day the new version is in force, not the day the register published the
# amendment: an amendment announced early gives the agencies the lead time until it takes
# effect, and a publisher's delay in recording it moves nothing). An ISO process document
# of an agency that implements the procedure in an older version on or before its due day
# (`effective_from + PROCESS_REVISION_DAYS`) must by then have a `process_revised` (or a
# re-publication) naming the new version or a later one, dated (local day of its `time`)
# on or before the due day, unless it was withdrawn by then. Otherwise it is a
# nonconformity of the month of its first overdue day, overdue `days_overdue` days (until
# its late revision, or until the instant asked). Only the events dated at or before the
# instant count (`EventsKnown.AT`), so a figure for T never moves; a late revision keeps
# the row (it was not revised in time) with its `revised_on`.
PROCESS_REVISION_DAYS = 30
PROCESS_REVISION_COLUMNS = (
    "agency",
    "document",
    "process_code",
    "procedure",
    "version",
    "amended_on",
    "due_on",
    "revised_on",
    "days_overdue",
    "month",
)


def process_revisions_overdue_sql(at: str, known: EventsKnown = EventsKnown.AT) -> str:
    """One row per (process document, amended procedure version) not revised in time as of
    `at` (a SQL expression of an instant), with the columns `PROCESS_REVISION_COLUMNS`."""
    known_then = f" AND time <= {at}" if known is EventsKnown.AT else ""
    amended = "vn.qms.procedure.amended.v1"
    process = ", ".join(f"'{document_type(k)}'" for k in ("process_published", "process_revised"))
    withdrawn = document_type("withdrawn")
    at_day = f"toDate({at}, '{LOCAL_TIME_ZONE}')"
    return f"""SELECT
    p.agency AS agency,
    p.document AS document,
    p.process_code AS process_code,
    a.procedure AS procedure,
    a.version AS version,
    a.effective_from AS amended_on,
    addDays(a.effective_from, {PROCESS_REVISION_DAYS}) AS due_on,
    arrayFilter(r -> r.2 >= a.version AND r.1 <= {at_day}, p.revisions) AS namings_by_then,
    if(empty(namings_by_then), NULL, arrayMin(arrayMap(r -> r.1, namings_by_then)))
        AS revised_on,
    dateDiff('day', due_on, ifNull(revised_on, {at_day})) AS days_overdue,
    toStartOfMonth(addDays(due_on, 1)) AS month
FROM
(
    SELECT procedure, version, argMax(effective_from, (time, id)) AS effective_from
    FROM procedure_events
    WHERE type = '{amended}'{known_then}
    GROUP BY procedure, version
) AS a
INNER JOIN
(
    SELECT
        document,
        procedure,
        argMin(agency, (time, id)) AS agency,
        argMax(process_code, (time, id)) AS process_code,
        groupArray((day, version)) AS revisions
    FROM document_events
    ARRAY JOIN basis_procedures AS procedure, basis_versions AS version
    WHERE type IN ({process}){known_then}
    GROUP BY document, procedure
) AS p ON p.procedure = a.procedure
LEFT JOIN
(
    SELECT document, count() AS withdrawals, min(dated_on) AS withdrawn_on
    FROM document_events
    WHERE type = '{withdrawn}'{known_then}
    GROUP BY document
) AS w ON w.document = p.document
WHERE due_on < {at_day}
    AND arrayExists(r -> r.2 < a.version AND r.1 <= due_on, p.revisions)
    AND NOT arrayExists(r -> r.2 >= a.version AND r.1 <= due_on, p.revisions)
    AND (w.withdrawals = 0 OR w.withdrawn_on > due_on)"""


# The CAPA policy judges a process document's due day only once the stream of its document
# topic partition has passed that day (docs/kpis.md, "Document control"): the rule above is
# about an absence (no revision by the due day), and before an event dated after the due day
# has been stored from the document's partition, a revision dated on or before it may still
# be on its way (a publisher's backlog, a replay, the demo posting its history). A partition
# holds one document's events in the order they were published, so once it has carried a
# later day, what it holds up to the due day is complete; a revision published after that
# is a late record, and the CAPA stands on what was recorded in time.
def process_revisions_settled_sql() -> str:
    """`process_revisions_overdue_settled`: the overdue rows whose document's partition has
    been read past the due day."""
    columns = ", ".join(f"o.{column}" for column in PROCESS_REVISION_COLUMNS)
    return f"""SELECT {columns}
FROM kpi_process_revisions_overdue AS o
INNER JOIN
(
    SELECT d.document AS document, toDate(r.reached, '{LOCAL_TIME_ZONE}') AS reached_day
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
WHERE k.reached_day > o.due_on"""


def process_revisions_view_sql() -> str:
    """`kpi_process_revisions_overdue`: the nonconformities as of now (dashboards, CAPA)."""
    columns = ", ".join(PROCESS_REVISION_COLUMNS)
    return (
        "CREATE OR REPLACE VIEW kpi_process_revisions_overdue AS\n"
        f"SELECT {columns}\nFROM ({process_revisions_overdue_sql(NOW_SQL)});\n"
    )
