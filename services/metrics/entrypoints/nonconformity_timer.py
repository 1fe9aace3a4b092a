"""The worker's periodic measured-nonconformity check (a timer on every worker).

A dossier may be stored before the register events that judge it, so a round runs only
while the metrics group has consumed every record of the procedure register's topic, and
sends only if the register's end offsets did not move while the views were read: every
dossier read was then published before the register's last record was stored, and is
judged against the register as published so far (registers are published ahead of the
dossiers they govern). Each worker of the group checks the whole store (the CAPA service
absorbs the repeated commands).
"""

from __future__ import annotations

import logging

from schemas.topics import FAMILY_TOPICS
from services.capa.service_layer.policies import CommandSender
from services.common.consumer_lag import ConsumerLagMonitor, EndOffsets
from services.common.kafka_security import aiokafka_security
from services.common.periodic import Periodic
from services.metrics.config import MetricsSettings
from services.metrics.service_layer.nonconformity_check import NonconformityChecker, RowReader

log = logging.getLogger(__name__)
REGISTER_TOPIC = FAMILY_TOPICS["procedure"]


def nonconformity_timer(
    settings: MetricsSettings, store: RowReader, send: CommandSender
) -> Periodic | None:
    """The check on a timer, sending its commands with `send` (None when the interval is 0)."""
    if settings.nonconformity_check_interval_s <= 0:
        return None
    checker = NonconformityChecker(store, send)
    ends: list[EndOffsets] = []
    register = ConsumerLagMonitor(
        settings.kafka_bootstrap_servers,
        settings.consumer_group,
        [settings.topic(REGISTER_TOPIC)],
        on_end_offsets=ends.append,
        client_options=aiokafka_security(settings),
    )

    async def check_nonconformities() -> None:
        try:
            reading = await register.read()
        except Exception as exc:  # the broker away: the next round tries again
            log.warning("nonconformity check skipped, register lag unknown: %s", exc)
            return
        if not reading.caught_up:
            log.info(
                "nonconformity check waits for the register (lag %d)", sum(reading.lag.values())
            )
            return
        read_before = ends[-1]

        async def register_unchanged() -> bool:
            after = await register.read()
            return after.caught_up and ends[-1] == read_before

        try:
            result = await checker.check(confirm=register_unchanged)
        except Exception as exc:  # ClickHouse or the broker away: the next round again
            log.warning("nonconformity check failed: %s: %s", type(exc).__name__, exc)
            return
        if result.called_off:
            log.info("nonconformity check called off: the register changed while it read")
            return
        if any(result.sent.values()):
            log.info(
                "measured nonconformities: %s CAPAs, %s commands sent", result.capas, result.sent
            )

    return Periodic(
        "measured-nonconformities", settings.nonconformity_check_interval_s, check_nonconformities
    )
