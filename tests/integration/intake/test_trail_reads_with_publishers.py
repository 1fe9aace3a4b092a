"""Must show: trail readers do not stop intake. A real intake server (its own process) and a real
ledger worker on a real broker, a ledger of 3,000 entries; publishers alone, then the same
publishers with five concurrent trail readers, then alone again. Every publish is accepted (202)
and chained, every read is a 200 with a document that verifies offline, or a 429. The publish
rate and p99 latency alone and with readers are printed (a ratio of one run, not asserted: the
machine is shared)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.settings import REPO_ROOT
from services.intake.ledger.adapters.kafka import read_ledger
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.domain.trail import verify_trail
from services.intake.ledger.service import scanned_trail_document
from tests.integration.intake.conftest import DEMO_TOKEN, bearer, event
from tests.integration.ledger.conftest import LedgerWorker, ledger_env, settings_from
from tests.support import free_port

pytestmark = pytest.mark.integration

SEED_SUBJECTS = 600
EVENTS_PER_SUBJECT = 5  # 3,000 seeded ledger entries
PUBLISHERS = 4
READERS = 5
PHASE_S = 6.0
WAIT_S = 120.0  # deadlines for start-up and chaining on a busy machine, not measurements


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    accepted_ids: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def joined(self, other: Phase) -> Phase:
        return Phase(
            self.latencies + other.latencies,
            self.statuses + other.statuses,
            self.accepted_ids + other.accepted_ids,
            self.elapsed + other.elapsed,
        )

    @property
    def rate(self) -> float:
        return len(self.accepted_ids) / self.elapsed

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


@dataclass
class Reads:
    statuses: list[int] = field(default_factory=list)
    documents: list[tuple[str, bytes]] = field(default_factory=list)
    ok_seconds: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Stack:
    base_url: str
    env: dict[str, str]


def subject_of(number: int) -> str:
    return f"H56.01-260302-R{number:04d}"


def dossier_event(subject: str) -> dict[str, Any]:
    return event("dossier.received", id=str(uuid.uuid4()), subject=subject)


class IntakeServer:
    """`uvicorn services.intake.entrypoints.app:create_app` in its own process."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.env, self.port, self.log_path = env, port, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "services.intake.entrypoints.app:create_app",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def assert_running(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"intake exited: {self.log_tail()}")

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture
async def stack(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """An intake server process and a ledger worker process on this test's topics."""
    env = ledger_env(
        topic_prefix,
        kafka_bootstrap,
        tmp_path / "data",
        QMS_LEDGER_CHECKPOINT_EVERY="100",
        QMS_LOG_LEVEL="WARNING",
        QMS_TRAIL_WAIT_MS="2000",
        # One caller (the demo token) for the five readers: its bucket is wide enough that the
        # global cap on reads in flight is what binds.
        QMS_TRAIL_READS_PER_SECOND="100",
        QMS_TRAIL_READ_BURST="100",
        QMS_TRAIL_MAX_CONCURRENT_READS="2",
    )
    worker = LedgerWorker(env, tmp_path / "worker.log")
    intake = IntakeServer(env, free_port(), tmp_path / "intake.log")
    worker.start()
    intake.start()
    try:
        base_url = f"http://127.0.0.1:{intake.port}"
        await wait_ready(base_url, intake)
        yield Stack(base_url, env)
    finally:
        intake.stop()
        worker.stop(signal.SIGKILL)


async def wait_ready(base_url: str, intake: IntakeServer) -> None:
    deadline = time.monotonic() + WAIT_S
    async with httpx.AsyncClient(base_url=base_url) as client:
        while time.monotonic() < deadline:
            intake.assert_running()
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    pytest.fail(f"intake not ready after {WAIT_S} s: {intake.log_tail()}")


async def seed(client: httpx.AsyncClient) -> list[str]:
    """3,000 events: each subject's five spread over the whole seed, as real dossiers are."""
    events = [
        dossier_event(subject_of(number))
        for _ in range(EVENTS_PER_SUBJECT)
        for number in range(SEED_SUBJECTS)
    ]
    for start in range(0, len(events), 500):
        response = await client.post(
            "/v1/events/batch", json=events[start : start + 500], headers=bearer(DEMO_TOKEN)
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == len(events[start : start + 500])
    return [e["id"] for e in events]


async def wait_chained(env: dict[str, str], ids: set[str]) -> int:
    """Wait until the ledger holds an entry for every id; the ledger's size."""
    settings = settings_from(env)
    deadline = time.monotonic() + WAIT_S
    while True:
        entries, _ = await read_ledger(
            settings.kafka_bootstrap_servers, settings.topic("ledger.v1")
        )
        missing = ids - {entry.id for entry in entries}
        if not missing:
            return len({(entry.chain, entry.seq) for entry in entries})
        if time.monotonic() > deadline:
            pytest.fail(f"{len(missing)} accepted events were never chained")
        await asyncio.sleep(1.0)


async def first_read(client: httpx.AsyncClient) -> None:
    """One read before the measurement: it starts intake's trail reader processes."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        response = await client.get(f"/v1/audit/trail/{subject_of(0)}", headers=bearer(DEMO_TOKEN))
        if response.status_code == 200:
            return
        await asyncio.sleep(0.5)
    pytest.fail(f"no trail read succeeded within {WAIT_S} s")


async def publish_for(client: httpx.AsyncClient, seconds: float) -> Phase:
    phase = Phase()
    stop_at = time.monotonic() + seconds

    async def publisher(number: int) -> None:
        sent = 0
        while time.monotonic() < stop_at:
            raw = dossier_event(f"H56.01-260302-P{number}-{sent:05d}")
            sent += 1
            started = time.perf_counter()
            response = await client.post("/v1/events", json=raw, headers=bearer(DEMO_TOKEN))
            phase.latencies.append(time.perf_counter() - started)
            phase.statuses.append(response.status_code)
            if response.status_code == 202:
                phase.accepted_ids.append(raw["id"])

    started = time.monotonic()
    await asyncio.gather(*(publisher(n) for n in range(PUBLISHERS)))
    phase.elapsed = time.monotonic() - started
    return phase


async def read_in_another_process(base_url: str, seconds: float, out: Path) -> Reads:
    """The five readers, in a process of their own (`trail_readers.py`); `out` exists."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.intake.trail_readers",
        base_url,
        str(SEED_SUBJECTS),
        str(READERS),
        str(seconds),
        str(out),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    return loaded_reads(json.loads(stdout), out)


def loaded_reads(summary: dict[str, Any], out: Path) -> Reads:
    reads = Reads([int(s) for s in summary["statuses"]], ok_seconds=summary["ok_seconds"])
    for path in sorted(out.iterdir()):
        reads.documents.append((path.stem.split("-", 1)[1], path.read_bytes()))
    return reads


@pytest.fixture
def trails_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trails")


async def test_readers_do_not_stop_publishing(stack: Stack, trails_dir: Path) -> None:
    limits = httpx.Limits(max_connections=PUBLISHERS + READERS + 2)
    async with (
        httpx.AsyncClient(base_url=stack.base_url, limits=limits, timeout=60) as publishers,
        httpx.AsyncClient(base_url=stack.base_url, limits=limits, timeout=60) as readers,
    ):
        seeded = await seed(publishers)
        ledger_size = await wait_chained(stack.env, set(seeded))
        await first_read(readers)

        # Alone, with readers, alone again: the machine's other load drifts over a run. The
        # readers run in a process of their own, so that only intake is shared.
        before = await publish_for(publishers, PHASE_S)
        reading = asyncio.create_task(
            read_in_another_process(stack.base_url, PHASE_S + 2, trails_dir)
        )
        await asyncio.sleep(1.0)  # the readers' process is up and reading
        together = await publish_for(publishers, PHASE_S)
        reads = await reading
        after = await publish_for(publishers, PHASE_S)
    alone = before.joined(after)

    # Nothing refused, nothing lost: every publish accepted, every accepted event chained.
    for phase in (alone, together):
        assert set(phase.statuses) == {202}, sorted(set(phase.statuses))
    accepted = set(alone.accepted_ids) | set(together.accepted_ids)
    assert len(accepted) == len(alone.accepted_ids) + len(together.accepted_ids)
    await wait_chained(stack.env, accepted)

    # Every read a verifiable document or a 429, and documents were served.
    assert set(reads.statuses) <= {200, 429}, sorted(set(reads.statuses))
    assert reads.documents, "no trail read succeeded"
    verifier = load_verifier(settings_from(stack.env))
    for subject, body in reads.documents:
        report = verify_trail(json.loads(body), verifier)
        assert report.ok, (subject, report.problems)
        assert report.events == EVENTS_PER_SUBJECT, (subject, report)

    settings = settings_from(stack.env)
    started = time.perf_counter()
    scanned = await scanned_trail_document(settings, subject_of(0), verifier)
    scan_s = time.perf_counter() - started
    assert verify_trail(scanned, verifier).ok
    ok_ms = sorted(1000 * s for s in reads.ok_seconds)
    print(
        f"\npublishing alone:        {alone.rate:7.1f} events/s, p99 {alone.p99_ms:6.1f} ms"
        f" ({len(alone.accepted_ids)} events)"
        f"\npublishing with readers: {together.rate:7.1f} events/s, p99 {together.p99_ms:6.1f} ms"
        f" ({len(together.accepted_ids)} events)"
        f"\nratio with/alone: rate {together.rate / alone.rate:.2f}, "
        f"p99 {together.p99_ms / alone.p99_ms:.2f}"
        f"\ntrail reads: {reads.statuses.count(200)} x 200, {reads.statuses.count(429)} x 429; "
        f"a 200 took median {ok_ms[len(ok_ms) // 2]:.0f} ms (HTTP, under load); "
        f"ledger of {ledger_size}+ entries: one full-scan trail {scan_s * 1000:.0f} ms"
    )
