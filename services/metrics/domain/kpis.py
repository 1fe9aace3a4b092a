"""KPI arithmetic shared by the read API and the report (the SQL views mirror it)."""

from __future__ import annotations

from collections.abc import Mapping

# Decision 766/QĐ-TTg spirit: five components, weights summing to 100 (docs/kpis.md).
SCORE_WEIGHTS: Mapping[str, int] = {
    "progress": 30,
    "online_service": 20,
    "satisfaction": 20,
    "transparency": 15,
    "digitisation": 15,
}
ONSITE_INSPECTION_MINIMUM_PCT = 30.0


def pct(numerator: float, denominator: float) -> float | None:
    """Percentage, or None when there is nothing to divide by."""
    return None if not denominator else 100.0 * numerator / denominator


def per_thousand(numerator: float, denominator: float) -> float | None:
    return None if not denominator else 1000.0 * numerator / denominator


def transparency(apologies: int, late: int) -> float:
    """Late dossiers answered with an apology letter, capped at 100; 100 when none is late."""
    return 100.0 if late == 0 else min(100.0, 100.0 * apologies / late)


def score_components(
    *,
    received: int,
    resolved: int,
    on_time: int,
    late: int,
    received_online: int,
    received_online_l34: int,
    apologies: int,
    ratings: int,
    satisfied: int,
) -> dict[str, float | None]:
    return {
        "progress": pct(on_time, resolved),
        "online_service": pct(received_online, received),
        "satisfaction": pct(satisfied, ratings),
        "transparency": transparency(apologies, late),
        "digitisation": pct(received_online_l34, received),
    }


def public_service_score(components: Mapping[str, float | None]) -> float | None:
    """Weighted mean of the components that can be measured (missing ones drop out)."""
    weights = {k: w for k, w in SCORE_WEIGHTS.items() if components.get(k) is not None}
    total = sum(weights.values())
    if not total:
        return None
    return sum(w * float(components[k] or 0.0) for k, w in weights.items()) / total


def objective_met(actual: float | None, target: float, comparison: str) -> bool | None:
    """Whether a measured value meets its target (`at_least` or `at_most`)."""
    if actual is None:
        return None
    return actual <= target if comparison == "at_most" else actual >= target
