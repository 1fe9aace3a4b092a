"""Two intake processes behind one (imagined) load balancer, on the real broker: a duplicate
is recognised whichever replica it reaches, also when both copies race to both replicas."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.common.settings import REPO_ROOT
from services.intake.domain.publishers import Publisher
from services.intake.service_layer.acceptance_header import (
    ACCEPTANCE_HEADER,
    read_acceptance_header,
)
from services.intake.service_layer.admission import Admitted, admit_event
from services.intake.service_layer.ports import Position
from tests.integration.intake.conftest import DEMO_TOKEN, bearer, event, read_topic
from tests.support import free_port

pytestmark = pytest.mark.integration

WAIT_S = 90.0  # a deadline for start-up on a busy machine, not a measurement


class IntakeProcess:
    """`python -m services intake serve` with the shared window on, in a child process."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services", "intake", "serve"],
                cwd=REPO_ROOT,
                env={**os.environ, **env, "QMS_INTAKE_PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}", headers=bearer(DEMO_TOKEN), timeout=30
        )

    async def wait_ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            assert self.process.poll() is None, self.log_path.read_text(errors="replace")
            try:
                if (await self.client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
        pytest.fail(f"intake not ready: {self.log_path.read_text(errors='replace')[-2000:]}")

    async def stop(self) -> None:
        await self.client.aclose()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
async def replicas(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[IntakeProcess, IntakeProcess]]:
    made = []
    for name in ("a", "b"):
        env = {
            "QMS_ENV": "development",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "QMS_TOPIC_PREFIX": topic_prefix,
            "QMS_DATA_DIR": str(tmp_path / name),
            "QMS_INTAKE_SHARED_WINDOW": "true",
        }
        made.append(IntakeProcess(env, tmp_path / f"{name}.log"))
    try:
        await asyncio.gather(*(replica.wait_ready() for replica in made))
        yield made[0], made[1]
    finally:
        for replica in made:
            await replica.stop()


def dossiers(count: int, tag: str) -> list[dict[str, Any]]:
    return [
        event("dossier.received", id=f"{tag}-{n}", subject=f"H56.01-260301-{n:04d}")
        for n in range(count)
    ]


def positions(body: dict[str, Any]) -> dict[str, tuple[str, int, int, str]]:
    return {
        r["id"]: (r["topic"], r["partition"], r["offset"], r["status"]) for r in body["results"]
    }


async def test_a_retry_reaching_the_other_replica_is_answered_as_a_duplicate(
    replicas: tuple[IntakeProcess, IntakeProcess],
) -> None:
    a, b = replicas
    sent = event("dossier.received", id="retried-once")
    first = await a.client.post("/v1/events", json=sent)
    assert first.status_code == 202, first.text
    retry = await b.client.post("/v1/events", json=sent)
    assert retry.status_code == 200, retry.text
    original = {k: v for k, v in first.json().items() if k != "duplicate"}
    assert {k: v for k, v in retry.json().items() if k != "duplicate"} == original
    assert retry.json()["duplicate"] is True
    # And back again, now that both have it.
    again = await a.client.post("/v1/events", json=sent)
    assert again.status_code == 200 and again.json()["offset"] == original["offset"]
    changed = await b.client.post("/v1/events", json={**sent, "time": "2025-03-01T09:00:00+07:00"})
    assert changed.status_code == 409, changed.text


async def test_copies_racing_to_both_replicas_are_one_acceptance(
    kafka_bootstrap: str, topic_prefix: str, replicas: tuple[IntakeProcess, IntakeProcess]
) -> None:
    a, b = replicas
    batch = dossiers(200, "raced")
    answers = await asyncio.gather(
        *(replica.client.post("/v1/events/batch", json=batch) for replica in (a, b))
    )
    assert all(answer.status_code == 200 for answer in answers), [x.text for x in answers]
    at_a, at_b = (positions(answer.json()) for answer in answers)
    for sent in batch:
        (*where_a, status_a), (*where_b, status_b) = at_a[sent["id"]], at_b[sent["id"]]
        assert where_a == where_b, sent["id"]  # both replicas name the same original
        assert sorted([status_a, status_b]) == ["accepted", "duplicate"], sent["id"]

    # Every answered original is on the log with that id (a raced copy may follow it there,
    # for the consumers, idempotent on source and id, to absorb).
    records = await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")
    by_position = {(r.topic, r.partition, r.offset): r for r in records}
    for event_id, (topic, partition, offset, _) in at_a.items():
        assert f'"id":"{event_id}"'.encode() in by_position[(topic, partition, offset)].value
    # Each record says what the other replicas' windows need in its acceptance header.
    for record in records:
        told = read_acceptance_header(
            record.headers, Position(record.topic, record.partition, record.offset)
        )
        assert told is not None and f'"id":"{told.id}"'.encode() in record.value
    copies = len(records) - len(batch)
    print(f"raced copies on the log beside the {len(batch)} originals: {copies}")


async def test_a_batch_carrying_one_event_twice_still_answers_a_duplicate(
    replicas: tuple[IntakeProcess, IntakeProcess],
) -> None:
    _, b = replicas
    twice = [event("dossier.received", id="twice")] * 2
    answer = await b.client.post("/v1/events/batch", json=twice)
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in answer.json()["results"]] == ["accepted", "duplicate"]


async def test_a_record_appended_without_the_acceptance_header_is_still_remembered(
    kafka_bootstrap: str, topic_prefix: str, replicas: tuple[IntakeProcess, IntakeProcess]
) -> None:
    """As one appended before intake wrote the header: both windows read it from its value."""
    a, b = replicas
    sent = event("dossier.received", id="appended-before-the-header")
    now = datetime.now(UTC)
    legacy = Publisher("legacy", ("*",), frozenset({"dossier"}), ("*",))
    admitted = admit_event(sent, legacy, now, now + timedelta(minutes=5), topic_prefix)
    assert isinstance(admitted, Admitted)
    record = admitted.record
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        written = await producer.send_and_wait(
            record.topic,
            record.value,
            key=record.key,
            headers=[h for h in record.headers if h[0] != ACCEPTANCE_HEADER],
            timestamp_ms=record.timestamp_ms,
        )
    finally:
        await producer.stop()
    for replica in (a, b):
        retry = await replica.client.post("/v1/events", json=sent)
        assert retry.status_code == 200, retry.text
        assert (retry.json()["partition"], retry.json()["offset"]) == (
            written.partition,
            written.offset,
        )
