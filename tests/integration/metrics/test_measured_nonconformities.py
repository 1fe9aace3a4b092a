"""Measured nonconformities end to end: register and dossiers on Kafka (each delivered twice)
→ the metrics worker → chDB → its periodic check → capa.commands.v1 on the broker; a
one-shot checker run after it sends the same commands again. Applied in order by the CAPA
domain, they open one CAPA per agency × procedure × month and link each dossier once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer

from schemas.capa import NonconformitySource
from schemas.topics import CAPA_COMMANDS_TOPIC
from services.capa.service_layer.policies import Outgoing
from services.metrics.adapters.capa_commands import KafkaCapaCommands
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.config import MetricsSettings
from services.metrics.domain.measured_nonconformities import (
    EXTENDED_DUE_DATES,
    PROCEDURE_NOT_IN_FORCE,
)
from services.metrics.service_layer.nonconformity_check import NonconformityChecker
from tests.integration.metrics.conftest import produce, running_service, wait_for
from tests.integration.metrics.test_procedure_register import REGISTER, dossiers
from tests.unit.metrics.test_nonconformity_check import capas

pytestmark = pytest.mark.integration

# test_procedure_register's dossiers: D2, D4, D5 (H56.01, March) and D3 (H56.02) were
# received under a procedure not in force, D6 (H56.01, March) with an extended due date.
EXPECTED = {
    PROCEDURE_NOT_IN_FORCE.capa_id("H56.01", "1.000001", "2026-03"): ["D2"],
    PROCEDURE_NOT_IN_FORCE.capa_id("H56.01", "1.000003", "2026-03"): ["D4"],
    PROCEDURE_NOT_IN_FORCE.capa_id("H56.01", "1.000009", "2026-03"): ["D5"],
    PROCEDURE_NOT_IN_FORCE.capa_id("H56.02", "1.000002", "2026-03"): ["D3"],
    EXTENDED_DUE_DATES.capa_id("H56.01", "1.000001", "2026-03"): ["D6"],
}


async def read_commands(bootstrap: str, topic: str, at_least: int) -> list[Outgoing]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Outgoing] = []
    try:
        deadline = asyncio.get_running_loop().time() + 90
        while len(records) < at_least and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records += [Outgoing(m.key or b"", m.value or b"") for m in messages]
        # What else arrives shortly after is part of the answer too.
        for messages in (await consumer.getmany(timeout_ms=1500)).values():
            records += [Outgoing(m.key or b"", m.value or b"") for m in messages]
    finally:
        await consumer.stop()
    return records


async def test_the_worker_and_a_second_checker_open_each_capa_once_and_link_each_dossier_once(
    metrics_settings: MetricsSettings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = metrics_settings.model_copy(update={"nonconformity_check_interval_s": 0.5})
    events = REGISTER + dossiers()
    async with running_service(settings) as api:
        await produce(kafka_bootstrap, topic_prefix, events, times=2)
        await wait_for(api, lambda s: s["events"] == len(events))
        topic = settings.topic(CAPA_COMMANDS_TOPIC)
        from_worker = await read_commands(kafka_bootstrap, topic, at_least=5)
    # The one-shot check, as `qms metrics check-nonconformities` runs it once the worker stopped.
    store = ClickHouseStore(settings.clickhouse_dsn, settings.clickhouse_database).open()
    try:
        async with KafkaCapaCommands(settings) as commands:
            second = await NonconformityChecker(store, commands.send).check()
    finally:
        store.close()
    assert len(from_worker) == 5  # one per nonconforming dossier, each sent once
    assert second.capas == {
        "procedure_not_in_force": 4,
        "extended_due_dates": 1,
        "process_not_revised": 0,
    }
    every = await read_commands(kafka_bootstrap, topic, at_least=len(from_worker) + 5)
    assert len(every) >= len(from_worker) + 5  # the second checker sent them all again
    states = capas(every)
    assert {capa: [r.subject for r in s.references] for capa, s in states.items()} == EXPECTED
    assert Counter(s.source for s in states.values()) == {
        NonconformitySource.PROCEDURE_NOT_IN_FORCE: 4,
        NonconformitySource.EXTENDED_DUE_DATES: 1,
    }
