"""The procedure register's figures of a run, read back from the metrics API beside the truth."""

from __future__ import annotations

from typing import Any

import httpx
from rich.console import Console

from services.demo.domain.truth import GroundTruth


def register_figures(metrics: httpx.Client, truth: GroundTruth) -> dict[str, Any]:
    """Dossiers under a procedure not in force, extended due dates and on-time against both
    due times, as ClickHouse counts them and as the demo's truth does."""

    def rows(path: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = metrics.get(path).raise_for_status().json()["rows"]
        return result

    not_in_force = rows("/v1/kpi/procedures/not-in-force/by-agency-month")
    due = rows("/v1/kpi/statutory-due/by-agency-month")
    on_time = rows("/v1/kpi/on-time-statutory/by-agency-month")
    register = truth.register
    assert register is not None
    figures: dict[str, Any] = {
        "not_in_force": sum(r["dossiers"] for r in not_in_force),
        "not_in_force_agencies": len({r["agency"] for r in not_in_force}),
        "extended_due": sum(r["extended_due"] for r in due),
        "resolved": sum(r["resolved"] for r in on_time),
        "on_time": sum(r["on_time"] for r in on_time),
        "on_time_statutory": sum(r["on_time_statutory"] for r in on_time),
        "expected": {
            "not_in_force": len(register.not_in_force),
            "extended_due": len(register.extended),
            "on_time": sum(register.on_time.values()),
            "on_time_statutory": sum(register.on_time_statutory.values()),
        },
    }
    figures["matches"] = all(figures[k] == v for k, v in figures["expected"].items())
    return figures


def render_register(figures: dict[str, Any], console: Console) -> None:
    expected = figures["expected"]
    resolved = figures["resolved"] or 1
    console.print(
        f"Procedure register: {figures['not_in_force']:,} dossiers received under a procedure "
        f"not in force at {figures['not_in_force_agencies']} agencies "
        f"({expected['not_in_force']:,} in the truth); {figures['extended_due']:,} due dates "
        f"extended beyond the statutory time ({expected['extended_due']:,} in the truth)"
    )
    console.print(
        f"On time: {100 * figures['on_time'] / resolved:.1f}% against the published due time, "
        f"{100 * figures['on_time_statutory'] / resolved:.1f}% against the statutory one "
        f"({figures['on_time_statutory']:,} of {figures['resolved']:,}; truth "
        f"{expected['on_time_statutory']:,}): {'✓' if figures['matches'] else '✗'}"
    )
