"""The topic tooling against a real broker (KAFKA_BOOTSTRAP_SERVERS, e.g. kafka.sh start)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from functools import partial

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.common.topics import TopicSpec, ensure_topics, load_topic_specs, topic_name

pytestmark = pytest.mark.integration

EVENT_TOPICS = (
    "dossier.v1",
    "complaint.v1",
    "satisfaction.v1",
    "audit.v1",
    "objective.v1",
    "capa.v1",
)
NEVER_EXPIRE = (*EVENT_TOPICS, "ledger.v1", "ledger.checkpoints.v1")


@pytest.fixture(scope="module")
def bootstrap_servers() -> str:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        pytest.fail(
            "KAFKA_BOOTSTRAP_SERVERS is not set: start a broker (deploy/kafka/kafka.sh start) "
            "and run e.g. KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 pytest -m integration"
        )
    return servers


@pytest.fixture
async def admin(bootstrap_servers: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await client.start()
    yield client
    await client.close()


@pytest.fixture
async def unique_prefix(admin: AIOKafkaAdminClient) -> AsyncIterator[str]:
    """A prefix no other test uses; every topic under it is deleted afterwards."""
    prefix = f"it{uuid.uuid4().hex[:10]}."
    yield prefix
    leftovers = [name for name in await admin.list_topics() if name.startswith(prefix)]
    if leftovers:
        await admin.delete_topics(leftovers)


async def topic_configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    keys = {"retention.ms": None, "retention.bytes": None, "cleanup.policy": None}
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name, keys) for name in names]
    )
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            assert resource["error_code"] == 0, resource
            configs[resource["resource_name"]] = {
                entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
            }
    return configs


async def test_ensure_topics_creates_the_catalogue_once(
    bootstrap_servers: str, admin: AIOKafkaAdminClient, unique_prefix: str
) -> None:
    specs = load_topic_specs(prefix=unique_prefix)
    name = partial(topic_name, unique_prefix)

    created = await ensure_topics(bootstrap_servers, specs)

    assert created == sorted(spec.name for spec in specs)
    described = {t["topic"]: t for t in await admin.describe_topics([s.name for s in specs])}
    for spec in specs:
        assert described[spec.name]["error_code"] == 0, spec.name
        assert len(described[spec.name]["partitions"]) == spec.partitions, spec.name

    configs = await topic_configs(admin, [s.name for s in specs])
    for short in NEVER_EXPIRE:
        assert configs[name(short)] == {
            "retention.ms": "-1",
            "retention.bytes": "-1",
            "cleanup.policy": "delete",
        }, short
    assert configs[name("capa.commands.v1")]["retention.ms"] == "604800000"
    assert configs[name("deadletter.v1")]["retention.ms"] == "2592000000"

    assert await ensure_topics(bootstrap_servers, specs) == []


async def test_a_record_produced_with_acks_all_is_consumed_back(
    bootstrap_servers: str, unique_prefix: str
) -> None:
    spec: TopicSpec = next(
        s for s in load_topic_specs(prefix=unique_prefix) if s.name.endswith("dossier.v1")
    )
    await ensure_topics(bootstrap_servers, [spec])
    key, value = b"DOSSIER-000123", b'{"type":"vn.qms.dossier.received.v1"}'
    headers = [("ce_specversion", b"1.0"), ("ce_id", uuid.uuid4().hex.encode())]

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(spec.name, value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        spec.name,
        bootstrap_servers=bootstrap_servers,
        group_id=f"{unique_prefix}roundtrip",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=15000, max_records=1)
        for _ in range(10):
            if batches:
                break
            batches = await consumer.getmany(timeout_ms=3000, max_records=1)
    finally:
        await consumer.stop()

    records = [record for batch in batches.values() for record in batch]
    assert len(records) == 1
    record = records[0]
    assert (record.key, record.value) == (key, value)
    assert (record.partition, record.offset) == (sent.partition, sent.offset)
    assert list(record.headers) == headers
