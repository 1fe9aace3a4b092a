"""The run's line for the timeliness of updates: the read API's figures against the truth."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import httpx

from services.demo.domain.province import Province
from services.demo.domain.timeliness_truth import fold_update_timeliness
from services.metrics.domain.kpi_catalogue import UPDATE_TIMELINESS_COLUMNS

FIGURES = UPDATE_TIMELINESS_COLUMNS  # the KPI's columns, from the KPI catalogue
# The read API rounds its figures to 4 places.
TOLERANCE = 1e-3
SHOWN_WORST = 2


def update_timeliness_summary(metrics: httpx.Client, province: Province) -> dict[str, Any]:
    """How late the demo's events were recorded, per agency and month and per agency, as
    the read API counts them, compared with the demo's ground truth."""
    truth = fold_update_timeliness(province.events)
    by_month = _read(metrics, "by-agency-month", ("agency", "month"))
    by_agency = _read(metrics, "by-agency", ("agency",))  # each agency over all time
    matches = same_figures(by_month, truth.counts(("agency", "month"))) and same_figures(
        by_agency, truth.counts(("agency",))
    )
    updates = sum(r["updates"] for r in by_agency.values())
    late = sum(r["late_updates"] for r in by_agency.values())
    calendared = sum(r["calendared_updates"] for r in by_agency.values())
    worst = sorted(
        ((a, r["late_update_share"]) for (a,), r in by_agency.items() if r["late_update_share"]),
        key=lambda item: (-item[1], item[0]),
    )[:SHOWN_WORST]
    medians = [r["median_lag_hours"] for r in by_agency.values()]
    return {
        "updates": updates,
        "late_updates": late,
        "calendared_updates": calendared,
        "late_update_share": 100 * late / calendared if calendared else None,
        "expected_late_update_share": truth.late_share(),
        "median_lag_hours_range": [min(medians), max(medians)] if medians else None,
        "worst_agencies": [{"agency": a, "late_update_share": s} for a, s in worst],
        "matches_ground_truth": matches,
    }


def _read(
    metrics: httpx.Client, route: str, group: tuple[str, ...]
) -> dict[tuple[str, ...], dict[str, Any]]:
    rows = metrics.get(f"/v1/kpi/update-timeliness/{route}").raise_for_status().json()["rows"]
    return {tuple(r[g] for g in group): {f: r[f] for f in FIGURES} for r in rows}


def same_figures(
    read: Mapping[tuple[str, ...], Mapping[str, Any]],
    expected: Mapping[tuple[str, ...], Mapping[str, Any]],
) -> bool:
    """The same groups with the same figures (floats within the API's rounding)."""
    if set(read) != set(expected):
        return False
    return all(_same(read[key].get(f), expected[key].get(f)) for key in expected for f in FIGURES)


def _same(got: Any, want: Any) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(float(got), float(want), rel_tol=0, abs_tol=TOLERANCE)


def timeliness_line(summary: dict[str, Any]) -> str:
    """One line of the run's summary (rich markup)."""
    verdict = "[green]✓[/]" if summary["matches_ground_truth"] else "[red]✗[/]"
    share = summary["late_update_share"]
    shown = "–" if share is None else f"{share:.1f} %"
    worst = ", ".join(
        f"{w['agency']} {w['late_update_share']:.1f} %" for w in summary["worst_agencies"]
    )
    medians = summary["median_lag_hours_range"]
    median = f"median lag per agency {medians[0]:.1f}–{medians[1]:.1f} h; " if medians else ""
    return (
        f"Timeliness of updates: {summary['updates']:,} events recorded, "
        f"{summary['late_updates']:,} more than one working day late ({shown}"
        f"{f'; most at {worst}' if worst else ''}); {median}"
        f"equal to the ground truth {verdict}"
    )
