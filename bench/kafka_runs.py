"""What the stage benchmarks that run a worker as a subprocess share: pre-producing the
records, the partitions of a topic, the environment and the start and stop of the worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

REPO_ROOT = Path(__file__).resolve().parents[1]


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    numbers = consumer.partitions_for_topic(topic)
    if numbers is None:  # metadata is fetched lazily
        await consumer._client.force_metadata_update()
        numbers = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(numbers)]


def producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)


async def pre_produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    sender = producer(bootstrap)
    await sender.start()
    try:
        acks = [await sender.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*acks)
    finally:
        await sender.stop()


def start_worker(
    argv: Sequence[str],
    bootstrap: str,
    prefix: str,
    data_dir: Path,
    log_path: Path,
    **settings: str,
) -> subprocess.Popen[bytes]:
    """`python <argv>` from the repository, on the broker and topic prefix of the run, with
    a data directory of its own and `settings` (environment variables) on top."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "QMS_TOPIC_PREFIX": prefix,
        "QMS_DATA_DIR": str(data_dir),
        "QMS_ENV": "development",
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        **settings,
    }
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, *argv], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
        )


def stop(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a minute."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
