"""Run the metrics service (consumer + read API) in-process on a free port."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.binding import to_kafka_record
from schemas.catalogue import topic_for
from schemas.envelope import CloudEvent
from services.common.deadletter import RecordPosition
from services.common.settings import REPO_ROOT
from services.common.tracing import Tracing
from services.common.users import DEV_NATIONAL_READER_TOKEN
from services.metrics.adapters import clickhouse
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.adapters.migrations import MIGRATIONS_DIR, SCHEMA_SNAPSHOT
from services.metrics.config import MetricsSettings
from services.metrics.domain.rows import Batch
from services.metrics.domain.tokens import batch_token
from services.metrics.entrypoints.api import create_app
from services.metrics.entrypoints.consumer import EVENT_TOPICS
from tests.support import free_port
from tests.unit.metrics.scenario import dossier_province, other_families

# The service's own clients read as the development national reader (every agency).
NATIONAL_READER = {"Authorization": f"Bearer {DEV_NATIONAL_READER_TOKEN}"}


async def committed_and_end(
    bootstrap: str, prefix: str, group: str
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """The group's committed offset and the end offset of every event-topic partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        partitions = [
            TopicPartition(f"{prefix}{name}", p)
            for name in EVENT_TOPICS
            for p in sorted(await _partitions_of(consumer, f"{prefix}{name}"))
        ]
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        return (
            {
                tp: (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                for tp in partitions
            },
            dict(ends),
        )
    finally:
        await consumer.stop()
        await admin.close()


async def _partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    known = consumer.partitions_for_topic(topic)
    if not known:
        await consumer._client.force_metadata_update()
        known = consumer._client.cluster.partitions_for_topic(topic)
    return set(known or ())


async def wait_until_drained(
    bootstrap: str,
    prefix: str,
    group: str,
    within_s: float = 300,
    alive: Callable[[], None] = lambda: None,
) -> None:
    """Wait until the consumer group has committed every record of every event topic.

    Offsets are committed only after the insert, so this means every delivery (the
    duplicates too) went through ClickHouse, not merely that each event arrived once.
    """
    deadline = asyncio.get_running_loop().time() + within_s
    committed: dict[TopicPartition, int] = {}
    ends: dict[TopicPartition, int] = {}
    while asyncio.get_running_loop().time() < deadline:
        alive()
        committed, ends = await committed_and_end(bootstrap, prefix, group)
        if all(committed[tp] >= end for tp, end in ends.items()):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"consumer group {group} did not drain: {committed} of {ends}")


@pytest.fixture
def metrics_settings(
    kafka_bootstrap: str,
    topic_prefix: str,
    chdb_dsn: str,
    clickhouse_database: str,
    tmp_path: Path,
) -> MetricsSettings:
    return MetricsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
        data_dir=tmp_path,
        clickhouse_dsn=chdb_dsn,
        clickhouse_database=clickhouse_database,
        batch_size=200,
        flush_interval_s=0.3,
    )


@asynccontextmanager
async def running_service(
    settings: MetricsSettings, *, consume: bool = True, tracing: Tracing | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The service as `qms metrics serve` runs it, on this test's event loop; the client
    sends the national reader's token."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, consume=consume, tracing=tracing),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.capture_signals = _no_signals  # type: ignore[method-assign]
    task = asyncio.create_task(_serve(server))
    try:
        for _ in range(600):
            if server.started or task.done():
                break
            await asyncio.sleep(0.1)
        if not server.started:
            raise RuntimeError("metrics service did not start")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30, headers=NATIONAL_READER
        ) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=60)


async def _serve(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits on a failed start-up; keep the loop alive
        raise RuntimeError(f"metrics service failed to start (exit {exc.code})") from exc


@contextmanager
def _no_signals() -> Iterator[None]:
    # The test runner owns the process signals, not this in-process server.
    yield


async def wait_for(
    client: httpx.AsyncClient, predicate: Callable[[dict[str, Any]], bool], within_s: float = 90
) -> dict[str, Any]:
    """Poll /v1/stats until `predicate` holds (the pipeline has drained)."""
    deadline = asyncio.get_running_loop().time() + within_s
    stats: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        stats = (await client.get("/v1/stats")).raise_for_status().json()
        if predicate(stats):
            return stats
        await asyncio.sleep(0.3)
    raise AssertionError(f"pipeline did not drain in {within_s}s: {stats}")


async def produce(
    bootstrap: str, prefix: str, events: Sequence[CloudEvent], *, times: int = 1
) -> None:
    """Publish the events as intake does (structured CloudEvents, key = subject)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for _ in range(times):
            for e in events:
                record = to_kafka_record(e)
                await producer.send(
                    topic_for(e.type, prefix),
                    key=record.key,
                    value=record.value,
                    headers=record.headers,
                )
        await producer.flush()
    finally:
        await producer.stop()


async def produce_raw(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


def insert_events(store: ClickHouseStore, events: Sequence[CloudEvent], batch: int) -> None:
    """As the consumer would: offsets per topic, batches of `batch`, one insert per table."""
    offsets: dict[str, int] = defaultdict(int)
    records = []
    for e in events:
        topic = topic_for(e.type, "qms.")
        records.append((RecordPosition(topic, 0, offsets[topic]), to_kafka_record(e).value))
        offsets[topic] += 1
    for start in range(0, len(records), batch):
        b = Batch()
        for position, value in records[start : start + batch]:
            b.add(position, None, value)
        store.insert_batch(b.rows, batch_token(b.positions))


@pytest.fixture
def store(chdb_dsn: str) -> Iterator[ClickHouseStore]:
    """A store of its own for the test, migrated to the latest schema, dropped after it."""
    store = ClickHouseStore(chdb_dsn, f"t_{uuid.uuid4().hex[:12]}").open()
    yield store
    store.command(f"DROP DATABASE IF EXISTS {store.database}")
    store.close()


@contextmanager
def store_of_earlier_schema(
    chdb_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrations: int
) -> Iterator[ClickHouseStore]:
    """A fresh store migrated by the first `migrations` files only; `store.migrate()` then
    applies the rest (the real directory is back once the store is open)."""
    earlier = tmp_path / "clickhouse"
    earlier.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("0*.sql"))[:migrations]:
        if path.name != SCHEMA_SNAPSHOT:
            shutil.copy(path, earlier / path.name)
    with monkeypatch.context() as patch:
        patch.setattr(clickhouse, "MIGRATIONS_DIR", earlier)
        store = ClickHouseStore(chdb_dsn, f"t_{uuid.uuid4().hex[:12]}").open()
    try:
        yield store
    finally:
        store.command(f"DROP DATABASE IF EXISTS {store.database}")
        store.close()


@pytest.fixture(scope="module")
def province() -> list[CloudEvent]:
    return dossier_province(seed=11, dossiers=400) + other_families(seed=11)


@pytest.fixture(scope="module")
def loaded(chdb_dsn: str, province: list[CloudEvent]) -> Iterator[ClickHouseStore]:
    """A database holding the province, inserted twice (read-only for the module's tests)."""
    store = ClickHouseStore(chdb_dsn, f"t_{uuid.uuid4().hex[:12]}").open()
    insert_events(store, province, batch=97)
    shuffled = list(province)
    random.Random(3).shuffle(shuffled)
    insert_events(store, shuffled, batch=250)  # duplicates, cut differently, out of order
    yield store
    store.close()


def worker_env(
    bootstrap: str, prefix: str, workdir: Path, port: int, batch_size: int
) -> dict[str, str]:
    """The environment of a `qms metrics serve` child process with small, quick batches."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "QMS_TOPIC_PREFIX": prefix,
        "QMS_DATA_DIR": str(workdir),
        "CLICKHOUSE_DSN": f"chdb://{workdir / 'chdb'}",
        "CLICKHOUSE_DATABASE": "qms",
        "QMS_METRICS_PORT": str(port),
        "QMS_METRICS_BATCH_SIZE": str(batch_size),
        "QMS_METRICS_FLUSH_INTERVAL_S": "0.2",
        "QMS_LOG_LEVEL": "WARNING",
        "QMS_METRICS_SESSION_TIMEOUT_S": "6",
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`qms metrics serve` as a child process (so that a test can SIGKILL it)."""
    code = "from services.metrics.entrypoints.cli import app; app()"
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, "serve"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
