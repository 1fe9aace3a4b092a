"""SIGTERM stops the metrics service within 10 s while the broker is down, and nothing is lost:
offsets are only committed after the inserts, so the restarted service (broker back) stores
whatever the stopped one had not, and counts nothing twice."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from services.common.topics import ensure_topics, load_topic_specs
from services.common.users import DEV_NATIONAL_READER_TOKEN
from tests.integration.metrics.conftest import produce, start_worker, worker_env
from tests.support import free_port, throwaway_broker
from tests.unit.metrics.scenario import dossier_province, expected_by_agency

pytestmark = pytest.mark.integration
STOP_WITHIN_S = 10  # what the operator is promised (issue 15.6), not a measurement
PREFIX = "qms."
NATIONAL_READER = {"Authorization": f"Bearer {DEV_NATIONAL_READER_TOKEN}"}


async def stored_events(
    api: httpx.AsyncClient, at_least: int, worker: subprocess.Popen[bytes]
) -> int:
    for _ in range(1200):
        assert worker.poll() is None, "the metrics service exited"
        try:
            response = await api.get("/v1/stats")
            if response.status_code in (401, 403, 404):  # a refusal never turns into a wait
                pytest.fail(f"/v1/stats refused the reader: {response.text}")
            if response.status_code == 200 and response.json()["events"] >= at_least:
                return int(response.json()["events"])
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} events stored")


async def test_sigterm_with_the_broker_down_stops_the_service_and_loses_nothing(
    tmp_path: Path,
) -> None:
    events = dossier_province(seed=41, dossiers=300)
    first, second = events[: len(events) // 2], events[len(events) // 2 :]
    with throwaway_broker(tmp_path / "kafka") as broker:
        await ensure_topics(broker.bootstrap, load_topic_specs(prefix=PREFIX))
        await produce(broker.bootstrap, PREFIX, first)
        port = free_port()
        env = worker_env(broker.bootstrap, PREFIX, tmp_path, port, batch_size=50)
        log = tmp_path / "metrics.log"
        worker = start_worker(env, log)
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=10, headers=NATIONAL_READER
            ) as api:
                assert await stored_events(api, len(first), worker) == len(first)
                broker.stop()
                await asyncio.sleep(3)  # the consumer is now retrying against an absent broker
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=STOP_WITHIN_S)
                except subprocess.TimeoutExpired:
                    pytest.fail(
                        f"still running {STOP_WITHIN_S}s after SIGTERM: {log.read_text()[-3000:]}"
                    )

                broker.start()
                await produce(broker.bootstrap, PREFIX, second)
                worker = start_worker(env, log)
                assert await stored_events(api, len(events), worker) == len(events)
                body = (await api.get("/v1/kpi/dossiers/by-agency")).raise_for_status().json()
                counted = {
                    r["agency"]: {k: r[k] for k in ("received", "resolved", "on_time", "late")}
                    for r in body["rows"]
                }
                assert counted == expected_by_agency(events)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
