"""Consumer lag read from a real broker: committed offset against end offset, per partition."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY

from services.common.consumer_lag import ConsumerLagMonitor

pytestmark = pytest.mark.integration


async def produce_to(bootstrap: str, tp: TopicPartition, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(tp.topic, b"v%d" % n, partition=tp.partition)
    finally:
        await producer.stop()


async def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def test_lag_is_what_the_group_has_not_committed(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}dossier.v1"
    first, second = TopicPartition(topic, 0), TopicPartition(topic, 1)
    await produce_to(kafka_bootstrap, first, 5)
    await produce_to(kafka_bootstrap, second, 3)
    group = f"{topic_prefix}lag-test"
    await commit(kafka_bootstrap, group, {first: 2})  # `second` never committed
    seen_ends: list[dict[TopicPartition, int]] = []

    monitor = ConsumerLagMonitor(
        kafka_bootstrap, group, [topic], on_end_offsets=lambda ends: seen_ends.append(dict(ends))
    )
    lag = await monitor.refresh()

    assert (lag[first], lag[second]) == (3, 3)
    assert all(records == 0 for tp, records in lag.items() if tp not in (first, second))
    labels = {"consumer": group, "topic": topic, "partition": "0"}
    assert REGISTRY.get_sample_value("qms_consumer_lag_records", labels) == 3
    assert seen_ends and seen_ends[0][first] == 5


async def test_an_unreachable_broker_reports_nothing_instead_of_failing() -> None:
    monitor = ConsumerLagMonitor(
        "127.0.0.1:1", "nobody", ["qms.dossier.v1"], client_options={"request_timeout_ms": 1000}
    )
    assert await monitor.refresh() == {}
