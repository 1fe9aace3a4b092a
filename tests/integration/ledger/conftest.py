"""Ledger integration fixtures: a real ledger worker (subprocess) on a real broker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.topics import LEDGER_CHECKPOINTS_TOPIC, LEDGER_TOPIC
from services.common.settings import REPO_ROOT
from services.common.topics import delete_topics_under
from services.intake.ledger.adapters.kafka import read_checkpoints, read_ledger
from services.intake.ledger.settings import LedgerSettings

WAIT_S = 120.0  # a deadline for start-up + rebalance on a busy machine, not a measurement


class LedgerWorker:
    """`python -m services.intake.ledger.worker` (or `module`) with the test's environment."""

    def __init__(
        self, env: Mapping[str, str], log_path: Path, module: str = "services.intake.ledger.worker"
    ) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.module = module
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the worker (SIGKILL = a crash) and wait until it is gone."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def wait_exit(self) -> int:
        """Wait until the worker exits by itself (a deadline, not a measurement)."""
        assert self.process is not None
        try:
            code = self.process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ledger worker still running after {WAIT_S} s: {self.log_tail()}")
        self.process = None
        return code

    def assert_running(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"ledger worker exited with {self.process.returncode}: {self.log_tail()}")

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def ledger_env(prefix: str, bootstrap: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "QMS_TOPIC_PREFIX": prefix,
        "QMS_DATA_DIR": str(data_dir),
        "QMS_ENV": "development",
        "QMS_LEDGER_APP_ID": f"{prefix}ledger",
        "QMS_LEDGER_CHECKPOINT_EVERY": "4",
        "QMS_LEDGER_CHECKPOINT_SECONDS": "1",
        "QMS_LEDGER_SESSION_TIMEOUT_S": "6",
        **extra,
    }


def settings_from(env: Mapping[str, str]) -> LedgerSettings:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return LedgerSettings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
async def worker_factory(kafka_bootstrap: str) -> AsyncIterator[list[LedgerWorker]]:
    """Make workers; at the end, whatever still runs is killed and their topics are deleted."""
    made: list[LedgerWorker] = []
    yield made
    for worker in made:
        worker.stop(signal.SIGKILL)
    for prefix in {worker.env["QMS_TOPIC_PREFIX"] for worker in made}:
        await delete_topics_under(kafka_bootstrap, prefix)


async def set_topic_config(bootstrap: str, topic: str, config: Mapping[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, dict(config))])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, values: Mapping[int, Sequence[bytes]]) -> None:
    """Append `values[partition]` to each partition of `topic`, in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for partition, items in values.items():
            for value in items:
                await producer.send_and_wait(topic, value, partition=partition)
    finally:
        await producer.stop()


async def wait_for_ledger(
    settings: LedgerSettings,
    worker: LedgerWorker,
    entries: int,
    checkpoint_sizes: Mapping[str, int] | None = None,
) -> None:
    """Wait until the ledger holds `entries` distinct entries (and those checkpoints exist)."""
    deadline = time.monotonic() + WAIT_S
    bootstrap = settings.kafka_bootstrap_servers
    while True:
        worker.assert_running()
        found, _ = await read_ledger(bootstrap, settings.topic(LEDGER_TOPIC))
        distinct = {(entry.chain, entry.seq) for entry in found}
        done = len(distinct) >= entries
        if done and checkpoint_sizes:
            notes, _ = await read_checkpoints(bootstrap, settings.topic(LEDGER_CHECKPOINTS_TOPIC))
            sizes = {(note.checkpoint.chain, note.checkpoint.size) for note in notes}
            done = all((chain, size) in sizes for chain, size in checkpoint_sizes.items())
        if done:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"ledger has {len(distinct)}/{entries} entries: {worker.log_tail()}")
        await asyncio.sleep(0.5)
