"""Effectiveness measured (ISO 9001:2015 §10.2.1 d): did the nonconformity come back?

A CAPA opened from a measurable nonconformity is followed, after its last planned action was
done, over a window of days by the same measure that revealed it. More than the threshold
in the window is "ineffective by measurement", otherwise "effective by measurement". It
stands beside the auditor's verification (`effectiveness_verified`), never instead of it.

Only the sources listed in `MEASURES` are measurable; their SQL is written by the metrics
service (`services.metrics.domain.capa_kpis.MEASURE_SQL`), keyed by the same names.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.capa import MeasuredEffectiveness, NonconformitySource

# Late dossiers of one agency × procedure: the same agency and procedure resolving dossiers
# after their due time again (the catalogue's on-time rule), counted over the window.
LATE_DOSSIERS_MEASURE = "late_dossiers"

MEASURES: Mapping[NonconformitySource, str] = {
    NonconformitySource.LATE_DOSSIERS: LATE_DOSSIERS_MEASURE,
}

_MEASUREMENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:qms:capa:effectiveness")


class NotMeasurable(ValueError):
    """The CAPA's source has no measure to follow (audit findings, manual CAPAs...)."""


@dataclass(frozen=True)
class MeasurementWindow:
    """The days after the actions were done over which the measure is followed."""

    start: datetime
    days: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def elapsed_by(self, moment: datetime) -> bool:
        return self.end <= moment

    def follows(self, actions_completed_at: datetime) -> bool:
        """Whether the window starts once the actions were done (to the millisecond the
        event store keeps), so it measures what they changed."""
        stored = actions_completed_at.replace(
            microsecond=actions_completed_at.microsecond // 1000 * 1000
        )
        return self.start >= stored


def measure_of(source: NonconformitySource) -> str:
    """The measure a source is followed by; raises NotMeasurable for the others."""
    measure = MEASURES.get(source)
    if measure is None:
        raise NotMeasurable(f"a CAPA from {source.value} has no measure to follow")
    return measure


def measured_verdict(
    source: NonconformitySource, window: MeasurementWindow, threshold: int, value: int
) -> MeasuredEffectiveness:
    """Ineffective when the nonconformity recurred above its threshold in the window."""
    measure_of(source)
    if window.days < 1:
        raise ValueError(f"a measurement window needs at least one day, not {window.days}")
    if threshold < 0 or value < 0:
        raise ValueError("a threshold and a measured value are counts: never below 0")
    if value > threshold:
        return MeasuredEffectiveness.INEFFECTIVE
    return MeasuredEffectiveness.EFFECTIVE


def measurement_id(capa_id: str, measure: str, window: MeasurementWindow) -> str:
    """The same CAPA, measure and window always name the same measurement (checkers agree)."""
    start = window.start.astimezone(UTC).isoformat(timespec="milliseconds")  # as ClickHouse
    key = f"{capa_id}|{measure}|{start}|{window.days}"
    return f"M-{uuid.uuid5(_MEASUREMENT_NAMESPACE, key)}"
