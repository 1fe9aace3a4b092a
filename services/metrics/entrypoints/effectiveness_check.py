"""`qms metrics effectiveness-check`: one run of the effectiveness check (cron, operators).

It opens ClickHouse itself, so with the embedded engine (`chdb://`) run it only while the
metrics service is stopped; the service runs the same check every
`QMS_EFFECTIVENESS_CHECK_INTERVAL_S`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import partial

from services.capa.domain.commands import RecordEffectivenessMeasurement
from services.metrics.adapters.capa_commands import KafkaCapaCommands
from services.metrics.adapters.clickhouse import store_for
from services.metrics.adapters.effectiveness_reader import ClickHouseEffectivenessReader
from services.metrics.config import MetricsSettings
from services.metrics.service_layer.effectiveness import EffectivenessPolicy, check_effectiveness


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
