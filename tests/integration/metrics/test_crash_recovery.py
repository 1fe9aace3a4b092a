"""Kill -9 the metrics worker in the middle of ingesting, restart it: exact counts.

The worker runs as `qms metrics serve` would, in a child process with its own chDB path
(the engine admits one process per path), and is read back over its HTTP API only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.metrics.conftest import NATIONAL_READER, produce, start_worker, worker_env
from tests.support import free_port
from tests.unit.metrics.scenario import dossier_province, expected_by_agency

pytestmark = pytest.mark.integration


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
    port = free_port()
    env = worker_env(kafka_bootstrap, topic_prefix, tmp_path, port, batch_size=40)
    log = tmp_path / "metrics.log"
    worker = start_worker(env, log)
    killed_at = 0
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=10, headers=NATIONAL_READER
        ) as api:
            # Kill as soon as part of the stream is in: a batch being mapped or inserted
            # then has its offsets uncommitted and is delivered again.
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

            worker = start_worker(env, log)
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
