"""The run's line for the process control sheets: step KPIs read back, against the truth."""

from __future__ import annotations

from typing import Any

import httpx

from services.demo.domain.province import Province
from services.demo.domain.sheet_truth import fold_sheets
from services.demo.domain.sheets import slow_units


def process_sheet_summary(metrics: httpx.Client, province: Province) -> dict[str, Any]:
    """Steps and late steps per agency and unit, and late dossiers per unit where they lost
    their time, from the read API, compared with the demo's ground truth."""
    truth = fold_sheets(province.events)
    steps = metrics.get("/v1/kpi/steps/by-unit").raise_for_status().json()["rows"]
    lost = metrics.get("/v1/kpi/time-lost/by-unit").raise_for_status().json()["rows"]
    counted_steps = {(r["agency"], r["unit"]): (r["steps"], r["late_steps"]) for r in steps}
    counted_lost = {(r["agency"], r["unit"]): r["late_dossiers"] for r in lost}
    expected_steps = {
        k: (v["steps"], v["late_steps"]) for k, v in truth.step_counts(("agency", "unit")).items()
    }
    expected_lost = {
        k: v["late_dossiers"] for k, v in truth.time_lost_counts(("agency", "unit")).items()
    }
    slow = slow_units(province.agencies)
    at_slow = [v for (a, u), v in counted_steps.items() if slow.get(a) == u]
    return {
        "steps": sum(n for n, _ in counted_steps.values()),
        "late_steps": sum(late for _, late in counted_steps.values()),
        "steps_at_slow_units": sum(n for n, _ in at_slow),
        "late_steps_at_slow_units": sum(late for _, late in at_slow),
        "late_dossiers": sum(counted_lost.values()),
        "lost_at_slow_units": sum(n for (a, u), n in counted_lost.items() if slow.get(a) == u),
        "slow_units": len(slow),
        "matches_ground_truth": counted_steps == expected_steps and counted_lost == expected_lost,
    }


def sheet_line(sheet: dict[str, Any]) -> str:
    """One line of the run's summary (rich markup)."""
    verdict = "[green]✓[/]" if sheet["matches_ground_truth"] else "[red]✗[/]"
    return (
        f"Process control sheets: {sheet['steps']:,} steps, {sheet['late_steps']:,} late "
        f"({sheet['late_steps_at_slow_units']:,} of them at the demo's {sheet['slow_units']} "
        f"slow units, which hold {sheet['steps_at_slow_units']:,} steps); "
        f"{sheet['late_dossiers']:,} late dossiers by where they lost their time, "
        f"{sheet['lost_at_slow_units']:,} at a slow unit; equal to the ground truth {verdict}"
    )
