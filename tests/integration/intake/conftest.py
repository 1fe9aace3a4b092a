"""A running intake app (in-process, real broker) and a way to read what reached the topics."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI

from services.common.topics import load_topic_specs
from services.intake.config import IntakeSettings
from services.intake.entrypoints.app import create_app
from services.intake.entrypoints.examples import EXAMPLE_EVENTS

# Partition count of each short topic name, as deploy/kafka/topics.yaml creates them.
PARTITIONS = {spec.name: spec.partitions for spec in load_topic_specs(prefix="")}

DEMO_TOKEN = "dev-demo-province-token"
H56_DOSSIER_TOKEN = "dev-h56-dossier-token"
H57_COMPLAINT_TOKEN = "dev-h57-complaint-token"

IntakeFactory = Callable[..., Awaitable[httpx.AsyncClient]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event(name: str, **changes: Any) -> dict[str, Any]:
    """An example event of the OpenAPI document, with changes."""
    raw = copy.deepcopy(EXAMPLE_EVENTS[name])
    raw.update(changes)
    return raw


def settings_for(kafka_bootstrap: str, topic_prefix: str, **overrides: Any) -> IntakeSettings:
    return IntakeSettings.model_validate(
        {
            "QMS_ENV": "development",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "QMS_TOPIC_PREFIX": topic_prefix,
            **overrides,
        }
    )


@pytest.fixture
async def start_intake(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[IntakeFactory]:
    """Start intake apps (lifespan included) on this test's topics; all stopped at the end.
    Their data directory (the trail index) is the test's own."""
    stops: list[Callable[[], Awaitable[None]]] = []

    async def start(**overrides: Any) -> httpx.AsyncClient:
        overrides = {"QMS_DATA_DIR": str(tmp_path), **overrides}
        app: FastAPI = create_app(settings_for(kafka_bootstrap, topic_prefix, **overrides))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")

        async def stop() -> None:
            await client.aclose()
            await lifespan.__aexit__(None, None, None)

        stops.append(stop)
        return client

    yield start
    for stop in reversed(stops):
        await stop()


@pytest.fixture
async def intake(start_intake: IntakeFactory) -> httpx.AsyncClient:
    return await start_intake()


async def read_topic(kafka_bootstrap: str, topic: str) -> list[Any]:
    """Every record on every partition of `topic`, up to the current end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS[topic.split(".", 1)[1]])]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, messages in batches.items():
                records.extend(m for m in messages if m.offset < ends[tp])
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return records
    finally:
        await consumer.stop()
