"""A CAPA service in a child process (so it can be killed for real) on this module's topics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas.binding import to_kafka_record
from schemas.catalogue import parse_event
from services.capa.adapters.signing import DecisionSigner
from services.common.settings import REPO_ROOT
from services.common.topics import delete_topics_under, ensure_topics, load_topic_specs
from tests.support import free_port

TOKENS = {
    "owner": "dev-capa-owner-token",  # owner:H56.01, agencies H56.*
    "owner_h57": "dev-capa-owner-h57-token",  # owner:H57.01, agency H57.01 only
    "secretary": "dev-iso-secretary-token",
    "auditor": "dev-auditor-token",
    "viewer": "dev-viewer-token",
}


USER_IDS = {
    "owner": "owner:H56.01",
    "owner_h57": "owner:H57.01",
    "secretary": "secretary-01",
    "auditor": "auditor-0009",
    "viewer": "viewer-01",
}


def bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


async def signed_body(
    api: httpx.AsyncClient, who: str, capa_id: str, route: str, body: dict[str, Any]
) -> dict[str, Any]:
    """`body` signed by `who` (their development key) over the CAPA as it reads now."""
    response = await api.get(f"/v1/capas/{capa_id}", headers=bearer("viewer"))
    capa = response.json()["capa"] if response.status_code == 200 else None
    capa = capa or {"capa_id": capa_id, "state_hash": "0" * 64}
    signer = DecisionSigner.dev(USER_IDS[who])
    return signer.sign_body(capa, route, body, datetime.now(UTC))


class CapaProcess:
    """`python -m services.capa.entrypoints.cli serve` with its own app id and state dir."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        state_dir = self.workdir / f"state-{self.starts}"  # a fresh disk: rebuilt from Kafka
        log = (self.workdir / f"capa-{self.starts}.log").open("wb")
        env = {**os.environ, **self.env, "QMS_CAPA_STATE_DIR": str(state_dir)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.capa.entrypoints.cli",
                "serve",
                "--port",
                str(self.port),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log_tail(self) -> str:
        path = self.workdir / f"capa-{self.starts}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            while asyncio.get_running_loop().time() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    pytest.fail(f"CAPA service exited:\n{self.log_tail()}")
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.5)
        pytest.fail(f"CAPA service not ready in {timeout_s}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no final commit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.kill()


GRACE_S = 10  # the orchestrator's grace period after SIGTERM (a bound, not a benchmark)


def terminate_within_grace(service: CapaProcess) -> int:
    assert service.process is not None
    signalled = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    try:
        code = service.process.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {GRACE_S} s after SIGTERM:\n{service.log_tail()}")
    print(f"\nexited {time.monotonic() - signalled:.1f} s after SIGTERM (code {code})")
    return code


@pytest.fixture(scope="module")
async def capa_prefix(kafka_bootstrap: str) -> AsyncIterator[str]:
    prefix = f"tc{uuid.uuid4().hex[:10]}."
    await ensure_topics(kafka_bootstrap, load_topic_specs(prefix=prefix))
    yield prefix
    await delete_topics_under(kafka_bootstrap, prefix)  # faust's topics too (app id below)


def capa_env(bootstrap: str, prefix: str, **extra: str) -> dict[str, str]:
    """A CAPA service on `prefix`'s topics, its timer every second, lag read every second."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "QMS_TOPIC_PREFIX": prefix,
        "QMS_CAPA_APP_ID": f"{prefix}capa",
        "QMS_CAPA_ESCALATION_INTERVAL_S": "1",
        "QMS_ENV": "development",
        "QMS_LAG_REFRESH_S": "1",
        **extra,
    }


@contextlib.asynccontextmanager
async def running_capa(env: dict[str, str], workdir: Path) -> AsyncIterator[CapaProcess]:
    """A started CAPA service, ready, stopped on the way out."""
    service = CapaProcess(env, workdir)
    service.start()
    try:
        await service.wait_ready()
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
async def capa_service(
    kafka_bootstrap: str, capa_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CapaProcess]:
    # test_observability reads every line as JSON
    env = capa_env(kafka_bootstrap, capa_prefix, QMS_LOG_LEVEL="INFO", QMS_LOG_FORMAT="json")
    async with running_capa(env, tmp_path_factory.mktemp("capa")) as service:
        yield service


@pytest.fixture
async def api(capa_service: CapaProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=capa_service.url, timeout=60) as client:
        yield client


async def eventually(probe: Any, timeout_s: float = 60.0) -> Any:
    """Poll an async probe until it returns something truthy (the pipeline is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"gave up after {timeout_s}s waiting for {probe.__name__}")
        await asyncio.sleep(0.3)


def finding(event_id: str, days_ago: float = 1, **data: Any) -> dict[str, Any]:
    """An audit finding_recorded event (CloudEvents JSON) against H56.01."""
    time = datetime.now(UTC) - timedelta(days=days_ago)
    body = {
        "finding_id": f"F-{event_id}",
        "kind": "internal_audit",
        "audited_agency": "H56.01",
        "classification": "major",
        "iso_clause": "8.5.1",
        "process": f"process-{event_id}",
        "description": "Process control sheet not kept for 3 of 10 dossiers",
        "auditor_id": "auditor-3e4f5a6b",
        **data,
    }
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "urn:vn:gov:h56:audit-tool",
        "type": "vn.qms.audit.finding_recorded.v1",
        "subject": "AUD-2026-07",
        "time": time.isoformat(),
        "agencycode": "H56.01",
        "data": body,
    }


async def produce_raw(kafka_bootstrap: str, prefix: str, events: list[dict[str, Any]]) -> None:
    """Put events on their topics directly, as a redelivery would (bypassing intake)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for raw in events:
            event = parse_event(raw)
            record = to_kafka_record(event)
            topic = prefix + event.family + ".v1"
            await producer.send_and_wait(
                topic, key=record.key, value=record.value, headers=record.headers
            )
    finally:
        await producer.stop()
