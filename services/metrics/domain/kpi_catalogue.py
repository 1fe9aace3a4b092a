"""The KPI catalogue: each measure's rule, its SQL over the facts, thresholds, score weights.

One home for every KPI rule of docs/kpis.md. From it come the read API's dossier counts
(adapters/kpi_queries.py), the Grafana panels (deploy/grafana/build_dashboards.py), the
tables of docs/kpis.md and, through a test, the migrations' views: an applied migration is
frozen history, so `tests/unit/metrics/test_kpi_catalogue.py` fails when a view of
`deploy/clickhouse/` and this catalogue disagree (a changed rule is a new migration whose
SQL these functions write). The demo's ground truth stays an independent computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# --- Rules and thresholds -------------------------------------------------------------------
# A resolved dossier is on time when it is resolved by the due time in force, which its
# `dossier.resolved` event carries in `data.due_at` (after supplements and apologies): the
# SQL form of `schemas.dossier.DossierResolved.on_time`, over `dossier_events`.
ON_TIME_SQL = "time <= due_at"
ONLINE_SQL = "channel = 'online'"
FULL_ONLINE_LEVEL = 3  # online level 3 and 4: the whole procedure is done online
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
        f"{ONLINE_SQL} AND online_level >= {FULL_ONLINE_LEVEL}",
        "Received online, level 3–4",
        f"received online with `online_level >= {FULL_ONLINE_LEVEL}` (full online service)",
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


def count_sql(measure: str, alias: str | None = None) -> str:
    """`countIf(measure = 'x')` over `dossier_marks_final`, named `alias` when given."""
    if measure not in {m.name for m in DOSSIER_MEASURES}:
        raise KeyError(f"{measure}: not a dossier measure of the catalogue")
    sql = f"countIf(measure = '{measure}')"
    return f"{sql} AS {alias}" if alias else sql


def dossier_counts_sql(names: tuple[str, ...] | None = None) -> str:
    """The SELECT columns of dossier counts over `dossier_marks_final` (all, or `names`)."""
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
        """The rate over `dossier_marks_final`."""
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
DOSSIER_RATES: tuple[DossierRate, ...] = (ON_TIME_RATE, ONLINE_SHARE)


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
        "if(d.received = 0, NULL, 100.0 * d.received_online / d.received)",
        "online share of received dossiers",
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
