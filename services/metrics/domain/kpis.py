"""KPI arithmetic shared by the read API and the report, from the catalogue's rules."""

from __future__ import annotations

from collections.abc import Mapping

from services.metrics.domain.kpi_catalogue import (
    ONSITE_INSPECTION_MINIMUM_PCT,
    SCORE_COMPONENTS,
    SCORE_WEIGHTS,
    pct,
    transparency,
)

__all__ = [
    "ONSITE_INSPECTION_MINIMUM_PCT",
    "SCORE_WEIGHTS",
    "objective_met",
    "pct",
    "per_thousand",
    "public_service_score",
    "score_components",
    "transparency",
]


def per_thousand(numerator: float, denominator: float) -> float | None:
    return None if not denominator else 1000.0 * numerator / denominator


def score_components(
    *,
    received: int,
    resolved: int,
    on_time: int,
    late: int,
    received_online: int,
    received_online_l34: int,
    received_online_l4: int,
    apologies: int,
    ratings: int,
    satisfied: int,
) -> dict[str, float | None]:
    """The score's components over one period's counts (the catalogue's rules)."""
    counts = {
        "received": received,
        "resolved": resolved,
        "on_time": on_time,
        "late": late,
        "received_online": received_online,
        "received_online_l34": received_online_l34,
        "received_online_l4": received_online_l4,
        "apologies": apologies,
        "ratings": ratings,
        "satisfied": satisfied,
    }
    return {c.name: c.value(counts) for c in SCORE_COMPONENTS}


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
