"""KPI arithmetic shared by the read API and the report, from the catalogue's rules.

The public-service score is not here: it is computed once, in SQL, from the catalogue's
`score_columns_sql` (the monthly view and the read API's period totals).
"""

from __future__ import annotations

from services.metrics.domain.kpi_catalogue import ONSITE_INSPECTION_MINIMUM_PCT, pct

__all__ = ["ONSITE_INSPECTION_MINIMUM_PCT", "objective_met", "pct", "per_thousand"]


def per_thousand(numerator: float, denominator: float) -> float | None:
    return None if not denominator else 1000.0 * numerator / denominator


def objective_met(actual: float | None, target: float, comparison: str) -> bool | None:
    """Whether a measured value meets its target (`at_least` or `at_most`)."""
    if actual is None:
        return None
    return actual <= target if comparison == "at_most" else actual >= target
