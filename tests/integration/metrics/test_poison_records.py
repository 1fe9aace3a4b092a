"""Poison records put straight on the topics, before and behind ordinary events of the same
partition: every ordinary event is counted exactly once, every poison record is on the
dead-letter topic with the reason naming the field and where it was read."""

from __future__ import annotations

from datetime import date, datetime

import clickhouse_connect
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from schemas.binding import to_kafka_record
from services.common import deadletter
from services.common.deadletter import RecordPosition
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.config import MetricsSettings
from services.metrics.domain.rows import DossierRow, Rejected, Row, map_record
from services.metrics.service_layer.ingestion import Ingestor, Record
from tests.integration.metrics.conftest import running_service, wait_for
from tests.poison import Poison, poison_records
from tests.support import dead_letter_headers
from tests.unit.metrics import factories as f
from tests.unit.metrics.scenario import ICT, dossier_province, expected_by_agency

pytestmark = pytest.mark.integration
KEY = b"one-partition"


async def produce_in_order(
    bootstrap: str, prefix: str, records: list[tuple[str, bytes]]
) -> list[RecordMetadata]:
    """Each (short topic, value) with one key, in order; returns where each landed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        pending = [await producer.send(f"{prefix}{topic}", v, key=KEY) for topic, v in records]
        return [await p for p in pending]
    finally:
        await producer.stop()


async def test_each_poison_kind_is_dead_lettered_and_every_ordinary_event_counted_once(
    metrics_settings: MetricsSettings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    dossiers = dossier_province(seed=31, dossiers=120)[:200]
    audits = [
        f.audit_conducted(
            f"AUD-{n}", "H56.01", "H56.02", datetime(2026, 2, 1 + n, tzinfo=ICT),
            kind="internal_audit", on_site=True,
        )
        for n in range(20)
    ]  # fmt: skip
    ordinary = {"dossier.v1": dossiers, "audit.v1": audits}
    plan: list[tuple[str, bytes]] = []
    poisons: list[Poison] = []
    for half in (0, 1):  # poison before, between and behind the ordinary events
        for topic, events in ordinary.items():
            for poison in poison_records():
                if poison.topic == topic:
                    plan.append((topic, poison.value))
                    poisons.append(poison)
            size = len(events) // 2
            plan += [(topic, to_kafka_record(e).value) for e in events[half * size :][:size]]
    behind = poison_records()
    plan += [(p.topic, p.value) for p in behind]
    poisons += behind
    sent = await produce_in_order(kafka_bootstrap, topic_prefix, plan)
    total = len(dossiers) + len(audits)

    async with running_service(metrics_settings) as api:
        letters = await dead_letter_headers(
            kafka_bootstrap, f"{topic_prefix}{deadletter.DEADLETTER_TOPIC}", len(poisons)
        )
        stats = await wait_for(api, lambda s: s["events"] >= total)
        assert stats["events"] == total
        body = (await api.get("/v1/kpi/dossiers/by-agency")).raise_for_status().json()
        counted = {
            r["agency"]: {k: r[k] for k in ("received", "resolved", "on_time", "late")}
            for r in body["rows"]
        }
        assert counted == expected_by_agency(dossiers)
        client = clickhouse_connect.get_client(
            dsn=metrics_settings.clickhouse_dsn, database=metrics_settings.clickhouse_database
        )
        rows = client.query(
            "SELECT family, count(), uniqExact(source, id) FROM events GROUP BY family"
        ).result_rows
        assert sorted(tuple(r) for r in rows) == [
            ("audit", len(audits), len(audits)),
            ("dossier", 200, 200),
        ]

    poison_positions = {
        (m.topic, m.partition, m.offset): value
        for m, (_, value) in zip(sent, plan, strict=True)
        if value in {p.value for p in poisons}
    }
    assert len(letters) == len(poisons) == len(poison_positions)
    field_of = {p.value: p for p in poisons}
    for headers in letters:
        where = (
            headers[deadletter.TOPIC],
            int(headers[deadletter.PARTITION]),
            int(headers[deadletter.OFFSET]),
        )
        poison = field_of[poison_positions[where]]
        assert poison.field in headers[deadletter.REASON], (poison.kind, headers)
        assert headers[deadletter.CONSUMER] == metrics_settings.consumer_group


async def test_rows_the_engine_refuses_are_found_by_halves_and_an_absent_store_is_waited_for(
    chdb_dsn: str, clickhouse_database: str
) -> None:
    def mapping_past_its_checks(position: RecordPosition, value: bytes) -> dict[str, list[Row]]:
        rows = map_record(position, value)
        if position.offset == 7:  # a value the checks missed: the engine's Date cannot hold it
            (row,) = rows["dossier_events"]
            assert isinstance(row, DossierRow)
            rows["dossier_events"] = [row._replace(day=date(1, 1, 1))]
        return rows

    letters: list[Rejected] = []

    class Letters:
        async def send(self, rejected: Rejected) -> None:
            letters.append(rejected)

    store = ClickHouseStore(chdb_dsn, clickhouse_database).open()
    try:
        records = [
            Record(RecordPosition("qms.dossier.v1", 0, n), None, to_kafka_record(e).value)
            for n, e in enumerate(dossier_province(seed=5, dossiers=40)[:50])
        ]
        ingestor = Ingestor(store, Letters(), mapper=mapping_past_its_checks)
        outcome = await ingestor.ingest(records)
        assert [(r.position.offset, r.error) for r in letters] == [(7, "DataError")]
        assert outcome.stored == 49
        assert store.query("SELECT count(), uniqExact(source, id) FROM events") == [(49, 49)]
        absent = ClickHouseStore(chdb_dsn, clickhouse_database)  # never opened: not answering
        assert not await absent.is_refusal(RuntimeError("no connection"))
    finally:
        store.close()
