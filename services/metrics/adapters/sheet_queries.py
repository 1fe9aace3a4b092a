"""The read API's SQL for one dossier's process control sheet (docs/kpis.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.common.credentials import AgencyScope
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.adapters.scope_sql import scope_condition
from services.metrics.domain.kpi_catalogue import (
    ON_TIME_SQL,
    TIME_LOST_ORDER,
    dossier_steps_sql,
    event_type,
)

STEP_FIELDS = (
    "step",
    "unit",
    "to_unit",
    "officer",
    "started_at",
    "handed_over_at",
    "taken_over_at",
    "step_due_at",
    "allotted_working_hours",
    "duration_hours",
    "overrun_hours",
)


def _first(kind: str, column: str = "time") -> str:
    return f"argMinIf({column}, time, type = '{event_type(kind)}')"


def _when(kind: str) -> str:
    return f"minIfOrNull(time, type = '{event_type(kind)}')"


# The dossier's own events: received (by whom), due, resolved (on time), returned,
# withdrawn. The aliases differ from every column name: ClickHouse would read a column
# named like an alias as that alias inside the other aggregates.
_HEADER = f"""
    SELECT agency AS dossier_agency,
        argMin(procedure, time) AS dossier_procedure,
        {_when("received")} AS received_time,
        nullIf({_first("received", "officer")}, '') AS received_by,
        {_first("received", "due_at")} AS due_at_reception,
        {_when("resolved")} AS resolved_time,
        {_first("resolved", "due_at")} AS due_at_resolution,
        {_first("resolved", f"toUInt8({ON_TIME_SQL})")} AS resolved_on_time,
        {_when("result_returned")} AS returned_time,
        {_when("withdrawn")} AS withdrawn_time
    FROM dossier_events
    WHERE {{where}}
    GROUP BY agency
    ORDER BY received_time IS NULL, agency
    LIMIT 1"""


def dossier_sheet(
    store: ClickHouseStore, dossier: str, scope: AgencyScope
) -> dict[str, Any] | None:
    """The sheet of `dossier` if an agency in `scope` has events of it, else None."""
    params: dict[str, Any] = {"dossier": dossier}
    clauses = ["dossier = {dossier:String}"]
    if (visible := scope_condition(scope, "agency", params)) is not None:
        clauses.append(visible)
    headers = store.query_dicts(_HEADER.format(where=" AND ".join(clauses)), params)
    if not headers:
        return None
    header = headers[0]
    params["agency"] = header["dossier_agency"]
    steps_sql = dossier_steps_sql("dossier = {dossier:String} AND agency = {agency:String}")
    steps = store.query_dicts(
        f"SELECT {', '.join(STEP_FIELDS)}, is_late FROM ({steps_sql}) ORDER BY step", params
    )
    resolved = header["resolved_time"] is not None
    on_time = bool(header["resolved_on_time"]) if resolved else None
    sheet = {
        "dossier": dossier,
        "agency": header["dossier_agency"],
        "procedure": header["dossier_procedure"],
        "received_at": _value(header["received_time"]),
        "received_by": header["received_by"],
        # The due time in force at resolution; until then the one set at reception.
        "due_at": _value(header["due_at_resolution" if resolved else "due_at_reception"]),
        "resolved_at": _value(header["resolved_time"]),
        "on_time": on_time,
        "returned_at": _value(header["returned_time"]),
        "withdrawn_at": _value(header["withdrawn_time"]),
        "steps": [
            {**{k: _value(row[k]) for k in STEP_FIELDS}, "late": bool(row["is_late"])}
            for row in steps
        ],
        "time_lost": None,
    }
    if on_time is False and steps:
        sheet["time_lost"] = _time_lost(store, steps_sql, params)
    return sheet


def _time_lost(store: ClickHouseStore, steps_sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The step where the late dossier lost its time (the rule of `kpi_time_lost_dossiers`)."""
    (row,) = store.query_dicts(
        f"SELECT step, unit, overrun_hours, duration_hours FROM ({steps_sql}) "
        f"ORDER BY {TIME_LOST_ORDER} DESC LIMIT 1",
        params,
    )
    return {k: _value(v) for k, v in row.items()}


def _value(value: Any) -> Any:
    """Instants as RFC 3339 in UTC (the store's are UTC without a zone), hours rounded."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, float):
        return round(value, 4)
    return value
