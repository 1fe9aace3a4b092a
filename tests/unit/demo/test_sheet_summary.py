"""The run's process-sheet line: the read API's step KPIs against the demo's truth."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.demo.domain.province import Province
from services.demo.domain.sheet_truth import fold_sheets
from services.runner.sheet_summary import process_sheet_summary, sheet_line

pytestmark = pytest.mark.unit


def _api(steps: list[dict[str, Any]], lost: list[dict[str, Any]]) -> httpx.Client:
    """A read API that answers the two step routes with these rows."""
    routes = {"/v1/kpi/steps/by-unit": steps, "/v1/kpi/time-lost/by-unit": lost}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"rows": routes[request.url.path]})

    return httpx.Client(base_url="http://metrics", transport=httpx.MockTransport(answer))


def _truth_rows(province: Province) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    truth = fold_sheets(province.events)
    steps = [
        {"agency": a, "unit": u, "steps": v["steps"], "late_steps": v["late_steps"]}
        for (a, u), v in truth.step_counts(("agency", "unit")).items()
    ]
    lost = [
        {"agency": a, "unit": u, "late_dossiers": v["late_dossiers"]}
        for (a, u), v in truth.time_lost_counts(("agency", "unit")).items()
    ]
    return steps, lost


def test_the_line_says_equal_when_the_api_counts_what_the_truth_does(
    small_province: Province,
) -> None:
    steps, lost = _truth_rows(small_province)
    summary = process_sheet_summary(_api(steps, lost), small_province)
    assert summary["matches_ground_truth"] is True
    assert summary["steps"] == sum(r["steps"] for r in steps) > 0
    assert "equal to the ground truth [green]✓" in sheet_line(summary)

    steps[0] = {**steps[0], "late_steps": steps[0]["late_steps"] + 1}  # one step miscounted
    wrong = process_sheet_summary(_api(steps, lost), small_province)
    assert wrong["matches_ground_truth"] is False
    assert "[red]✗" in sheet_line(wrong)
