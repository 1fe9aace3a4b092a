"""The effectiveness check, both ways it runs: on the metrics worker's timer, and once.

`qms metrics effectiveness-check` (cron, operators) opens ClickHouse itself, so with the
embedded engine (`chdb://`) run it only while the metrics service is stopped; the service
runs the same check every `QMS_EFFECTIVENESS_CHECK_INTERVAL_S`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from functools import partial

from services.capa.domain.commands import RecordEffectivenessMeasurement
from services.capa.service_layer.policies import CommandSender
from services.common.periodic import Periodic
from services.metrics.adapters.capa_commands import KafkaCapaCommands
from services.metrics.adapters.clickhouse import store_for
from services.metrics.adapters.effectiveness_reader import ClickHouseEffectivenessReader
from services.metrics.config import MetricsSettings
from services.metrics.service_layer.effectiveness import (
    EffectivenessPolicy,
    EffectivenessReader,
    check_effectiveness,
)

log = logging.getLogger(__name__)


def effectiveness_timer(
    settings: MetricsSettings, reader: EffectivenessReader, send: CommandSender
) -> Periodic | None:
    """Every interval, measure the CAPAs whose window ended (services/metrics/service_layer/
    effectiveness.py); None when the interval is 0. Every worker of the group runs it: the
    commands' ids agree, so the CAPA service records each measurement once."""
    if settings.effectiveness_check_interval_s <= 0:
        return None
    policy = EffectivenessPolicy.from_settings(settings)
    clock = settings.clock

    async def effectiveness_check() -> None:
        try:
            await check_effectiveness(reader, send, policy, clock.now())
        except Exception:  # ClickHouse or Kafka away: the next tick sends again
            log.exception("effectiveness check failed; retried at the next interval")

    return Periodic(
        "effectiveness-check", settings.effectiveness_check_interval_s, effectiveness_check
    )


async def run_effectiveness_check(
    settings: MetricsSettings, now: datetime | None = None
) -> list[RecordEffectivenessMeasurement]:
    """Measure every CAPA due at `now` (default: the service's clock) and send the commands."""
    store = store_for(settings)
    await asyncio.to_thread(partial(store.open, migrate=False))
    try:
        async with KafkaCapaCommands(settings) as commands:
            return await check_effectiveness(
                ClickHouseEffectivenessReader(store),
                commands.send,
                EffectivenessPolicy.from_settings(settings),
                now or settings.clock.now(),
            )
    finally:
        store.close()
