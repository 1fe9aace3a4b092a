"""Kill -9 the metrics worker in the middle of ingesting, restart it: exact counts.

The worker runs as `qms metrics serve` would, in a child process with its own chDB path
(the engine admits one process per path), and is read back over its HTTP API only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.metrics.conftest import produce
from tests.unit.metrics.scenario import dossier_province, expected_by_agency

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    code = "from services.metrics.entrypoints.cli import app; app()"
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, "serve"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _stats(client: httpx.AsyncClient) -> dict[str, int] | None:
    try:
        response = await client.get("/v1/stats")
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


async def test_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    events = dossier_province(seed=23, dossiers=2500)
    await produce(kafka_bootstrap, topic_prefix, events)
    port = _free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "QMS_TOPIC_PREFIX": topic_prefix,
        "QMS_DATA_DIR": str(tmp_path),
        "CLICKHOUSE_DSN": f"chdb://{tmp_path / 'chdb'}",
        "CLICKHOUSE_DATABASE": "qms",
        "QMS_METRICS_PORT": str(port),
        "QMS_METRICS_BATCH_SIZE": "40",
        "QMS_METRICS_FLUSH_INTERVAL_S": "0.2",
        "QMS_LOG_LEVEL": "WARNING",
        "QMS_METRICS_SESSION_TIMEOUT_S": "6",
    }
    log = tmp_path / "metrics.log"
    worker = _start(env, log)
    killed_at = 0
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            # Kill as soon as part of the stream is in: offsets of the batches inserted
            # since the last commit (every ~2.8 s) will be delivered again.
            for _ in range(1200):
                stats = await _stats(api)
                if stats and 0 < stats["events"] < len(events):
                    killed_at = stats["events"]
                    break
                assert worker.poll() is None, log.read_text()
                await asyncio.sleep(0.05)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
            assert 0 < killed_at < len(events), "the worker was not caught mid-stream"

            worker = _start(env, log)
            final: dict[str, int] | None = None
            for _ in range(1200):
                final = await _stats(api)
                if final and final["events"] >= len(events):
                    break
                assert worker.poll() is None, log.read_text()
                await asyncio.sleep(0.1)
            assert final is not None and final["events"] == len(events)
            rows = (await api.get("/v1/kpi/dossiers/by-agency")).raise_for_status().json()
            counted = {
                r["agency"]: {k: r[k] for k in ("received", "resolved", "on_time", "late")}
                for r in rows["rows"]
            }
            assert counted == expected_by_agency(events)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
