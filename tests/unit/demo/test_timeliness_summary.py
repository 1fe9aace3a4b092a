"""The run's timeliness line: the read API's figures against the demo's truth."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.demo.domain.province import Province
from services.demo.domain.timeliness_truth import fold_update_timeliness
from services.runner.timeliness_summary import timeliness_line, update_timeliness_summary

pytestmark = pytest.mark.unit


def _api(routes: dict[str, list[dict[str, Any]]]) -> httpx.Client:
    """A read API that answers the two timeliness routes with these rows."""

    def answer(request: httpx.Request) -> httpx.Response:
        route = request.url.path.removeprefix("/v1/kpi/update-timeliness/")
        return httpx.Response(200, json={"rows": routes[route]})

    return httpx.Client(base_url="http://metrics", transport=httpx.MockTransport(answer))


def _as_the_api_answers(province: Province) -> dict[str, list[dict[str, Any]]]:
    """The truth's figures as the API serves them: keys as columns, floats to 4 places."""
    truth = fold_update_timeliness(province.events)

    def rows(group: tuple[str, ...]) -> list[dict[str, Any]]:
        return [
            {
                **dict(zip(group, key, strict=True)),
                **{k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()},
            }
            for key, figures in sorted(truth.counts(group).items())
        ]

    return {"by-agency-month": rows(("agency", "month")), "by-agency": rows(("agency",))}


def test_the_line_says_equal_when_the_api_counts_what_the_truth_does(
    small_province: Province,
) -> None:
    routes = _as_the_api_answers(small_province)
    summary = update_timeliness_summary(_api(routes), small_province)
    assert summary["matches_ground_truth"] is True
    assert summary["updates"] == len(small_province.events)
    assert summary["late_update_share"] == pytest.approx(summary["expected_late_update_share"])
    assert summary["late_updates"] > 0 and len(summary["worst_agencies"]) == 2
    line = timeliness_line(summary)
    assert line.startswith(f"Timeliness of updates: {len(small_province.events):,} events")
    assert "equal to the ground truth [green]✓" in line


@pytest.mark.parametrize(
    ("route", "change"),
    [
        ("by-agency-month", {"late_updates": 1}),
        ("by-agency", {"median_lag_hours": 0.01}),
        ("by-agency-month", {"p90_lag_hours": 0.01}),
    ],
)
def test_one_figure_off_in_either_route_is_not_equal(
    small_province: Province, route: str, change: dict[str, Any]
) -> None:
    routes = _as_the_api_answers(small_province)
    [(column, delta)] = change.items()
    routes[route][0] = {**routes[route][0], column: routes[route][0][column] + delta}
    summary = update_timeliness_summary(_api(routes), small_province)
    assert summary["matches_ground_truth"] is False
    assert "[red]✗" in timeliness_line(summary)


def test_a_missing_group_is_not_equal(small_province: Province) -> None:
    routes = _as_the_api_answers(small_province)
    routes["by-agency-month"].pop()
    assert update_timeliness_summary(_api(routes), small_province)["matches_ground_truth"] is False
