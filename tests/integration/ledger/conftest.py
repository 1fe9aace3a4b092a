"""Ledger integration fixtures: a real ledger worker (subprocess) on a real broker.

`chained_dossiers` is the set-up most ledger tests share (fresh topics, dossier events
produced, chained by a real worker); `trail_app` and `intake_client` serve trails from it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from fastapi import FastAPI

from schemas.topics import LEDGER_CHECKPOINTS_TOPIC, LEDGER_TOPIC
from services.common.settings import REPO_ROOT
from services.common.topics import delete_topics_under, ensure_topics, load_topic_specs
from services.intake.config import IntakeSettings
from services.intake.entrypoints.app import create_app
from services.intake.entrypoints.audit_routes import router
from services.intake.entrypoints.problems import install_problem_handlers
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


@dataclass(frozen=True)
class ChainedLedger:
    """The topics, settings and worker of a `chained_dossiers` set-up."""

    env: dict[str, str]
    settings: LedgerSettings
    worker: LedgerWorker
    workdir: Path


@asynccontextmanager
async def chained_dossiers(
    bootstrap: str,
    workdir: Path,
    values: Mapping[int, Sequence[bytes]],
    *,
    checkpointed: Mapping[int, int] | None = None,
    keep_running: bool = False,
    **env: str,
) -> AsyncIterator[ChainedLedger]:
    """Fresh topics with `values[partition]` on dossier.v1, chained by a real worker.

    Waits for every entry and, for `checkpointed` ({partition: size}), those checkpoints;
    the worker is stopped cleanly before the body unless `keep_running`. The topics are
    deleted afterwards.
    """
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(bootstrap, load_topic_specs(prefix=prefix))
    try:
        worker_env = ledger_env(prefix, bootstrap, workdir / "data", **env)
        settings = settings_from(worker_env)
        await produce(bootstrap, settings.topic("dossier.v1"), values)
        worker = LedgerWorker(worker_env, workdir / "worker.log")
        worker.start()
        try:
            sizes = {settings.topic(f"dossier.v1/{p}"): n for p, n in (checkpointed or {}).items()}
            await wait_for_ledger(settings, worker, sum(map(len, values.values())), sizes)
            if not keep_running:
                assert worker.stop() == 0, worker.log_tail()
            yield ChainedLedger(worker_env, settings, worker, workdir)
        finally:
            worker.stop()
    finally:
        await delete_topics_under(bootstrap, prefix)


def trail_app(settings: LedgerSettings) -> FastAPI:
    """Only the trail routes, on `settings` (run `trail_lifespan(app)` to start its index)."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.ledger_settings = settings
    return app


@asynccontextmanager
async def intake_client(
    settings: LedgerSettings, data_dir: Path, **overrides: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The whole intake app on the ledger's topics, its lifespan (and subject index) running."""
    app = create_app(
        IntakeSettings.model_validate(
            {
                "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
                "QMS_TOPIC_PREFIX": settings.topic_prefix,
                "QMS_DATA_DIR": str(data_dir),
                **overrides,
            }
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://intake") as client,
    ):
        yield client
