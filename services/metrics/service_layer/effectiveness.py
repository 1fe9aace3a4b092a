"""The effectiveness check: measure each CAPA whose window after its actions has ended, and
record the measurement on the CAPA command topic.

The CAPA service decides (services.capa.domain.effectiveness): this side reads the measured
value from ClickHouse and sends `RecordEffectivenessMeasurement` keyed by the CAPA id, with
an id derived from the CAPA, the measure and the window. Two checkers (two metrics workers,
a cron run beside the periodic task) or a re-run send the same command, which the CAPA
records once. A failure (ClickHouse or Kafka away) stops the run; the next one sends again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from schemas.capa import NonconformitySource
from services.capa.domain.commands import RecordEffectivenessMeasurement
from services.capa.domain.effectiveness import (
    LATE_DOSSIERS_MEASURE,
    MeasurementWindow,
    measure_of,
    measurement_id,
)
from services.capa.domain.transitions import Role
from services.capa.service_layer.policies import CommandSender, encoded
from services.metrics.config import MetricsSettings

log = logging.getLogger(__name__)

CHECKER = "system:effectiveness"


@dataclass(frozen=True)
class EffectivenessPolicy:
    """The window, the tolerated recurrences per measure, and whether to reopen."""

    window_days: int
    thresholds: Mapping[str, int]
    reopen_if_ineffective: bool = False
    grace_hours: int = 0

    @classmethod
    def from_settings(cls, settings: MetricsSettings) -> EffectivenessPolicy:
        return cls(
            window_days=settings.effectiveness_window_days,
            thresholds={LATE_DOSSIERS_MEASURE: settings.effectiveness_late_dossiers_threshold},
            reopen_if_ineffective=settings.effectiveness_reopen,
            grace_hours=settings.effectiveness_grace_hours,
        )


@dataclass(frozen=True)
class DueMeasurement:
    """A CAPA whose window ended: where its measure is followed, from when."""

    capa_id: str
    source: NonconformitySource
    agency: str
    procedure: str
    window_start: datetime


class EffectivenessReader(Protocol):
    """The port to the measured facts (ClickHouse in production)."""

    async def due(self, at: datetime, policy: EffectivenessPolicy) -> list[DueMeasurement]:
        """CAPAs whose window (plus the grace) ended by `at`, not measured since."""

    async def measured(self, measure: str, due: DueMeasurement, window: MeasurementWindow) -> int:
        """How often the nonconformity recurred in the window."""


def measurement_command(
    due: DueMeasurement, value: int, policy: EffectivenessPolicy, now: datetime
) -> RecordEffectivenessMeasurement:
    """The command recording one CAPA's measurement (the same for every checker)."""
    measure = measure_of(due.source)
    window = MeasurementWindow(due.window_start, policy.window_days)
    threshold = policy.thresholds[measure]
    return RecordEffectivenessMeasurement(
        capa_id=due.capa_id,
        actor_id=CHECKER,
        actor_role=Role.SYSTEM,
        at=now,
        reason=(
            f"{measure} of {due.agency} × {due.procedure} over {policy.window_days} days after "
            f"the actions: {value} (threshold {threshold})"
        ),
        measurement_id=measurement_id(due.capa_id, measure, window),
        measure=measure,
        window_start=window.start,
        window_days=window.days,
        threshold=threshold,
        value=value,
        reopen_if_ineffective=policy.reopen_if_ineffective,
    )


async def check_effectiveness(
    reader: EffectivenessReader, send: CommandSender, policy: EffectivenessPolicy, now: datetime
) -> list[RecordEffectivenessMeasurement]:
    """Measure every CAPA due at `now` and send its measurement; returns what was sent."""
    sent: list[RecordEffectivenessMeasurement] = []
    for due in await reader.due(now, policy):
        measure = measure_of(due.source)
        window = MeasurementWindow(due.window_start, policy.window_days)
        value = await reader.measured(measure, due, window)
        command = measurement_command(due, value, policy, now)
        (outgoing,) = encoded([command])
        await send(outgoing)
        sent.append(command)
    if sent:
        log.info("effectiveness measured for %d CAPA(s)", len(sent))
    return sent
