"""The worker's periodic measured-nonconformity check (a faust timer on every worker).

A dossier may be stored before the register events that judge it, so a round runs only
while the metrics group has consumed every record of the procedure register's topic: a
dossier is then judged against the register as published so far. Each worker of the group
checks the whole store (the CAPA service absorbs the repeated commands).
"""

from __future__ import annotations

import logging
from typing import Any

from schemas.topics import CAPA_COMMANDS_TOPIC, FAMILY_TOPICS
from services.capa.service_layer.policies import Outgoing
from services.common.consumer_lag import ConsumerLagMonitor
from services.common.kafka_security import aiokafka_security
from services.metrics.config import MetricsSettings
from services.metrics.service_layer.nonconformity_check import NonconformityChecker, RowReader

log = logging.getLogger(__name__)
REGISTER_TOPIC = FAMILY_TOPICS["procedure"]


def install_nonconformity_check(app: Any, settings: MetricsSettings, store: RowReader) -> None:
    """Add the check to the faust `app` (nothing when the interval is 0)."""
    if settings.nonconformity_check_interval_s <= 0:
        return
    commands = app.topic(
        settings.topic(CAPA_COMMANDS_TOPIC),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def send(command: Outgoing) -> None:
        pending = await commands.send(key=command.key, value=command.value)
        await pending  # acknowledged by the broker

    checker = NonconformityChecker(store, send)
    register = ConsumerLagMonitor(
        settings.kafka_bootstrap_servers,
        settings.consumer_group,
        [settings.topic(REGISTER_TOPIC)],
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
        result = await checker.check()
        if any(result.sent.values()):
            log.info(
                "measured nonconformities: %s CAPAs, %s commands sent", result.capas, result.sent
            )

    app.timer(interval=settings.nonconformity_check_interval_s, name="measured-nonconformities")(
        check_nonconformities
    )
