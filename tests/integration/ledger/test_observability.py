"""The ledger worker's /metrics (its own port) and events carrying a trace context: chained,
verified, and the chain's lag and checkpoint age exported."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.service import verify_topics
from tests.integration.ledger.conftest import chained_dossiers
from tests.support import free_port
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration

PER_PARTITION = 4


def traced(n: int) -> bytes:
    """An event as intake stores it with tracing on: `traceparent` inside the envelope."""
    event = json.loads(dossier_received_value(n))
    event["traceparent"] = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    return json.dumps(event, separators=(",", ":")).encode()


def ledger_samples(text: str) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("chain", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("qms_ledger_") or s.name == "qms_consumer_batch_records_sum"
    }


async def test_traced_events_verify_and_the_worker_exports_its_chains(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    values = {p: [traced(p * 10 + i) for i in range(PER_PARTITION)] for p in range(3)}
    async with chained_dossiers(
        kafka_bootstrap,
        tmp_path,
        values,
        checkpointed={p: PER_PARTITION for p in range(3)},
        keep_running=True,
        QMS_LEDGER_METRICS_PORT=str(port),
        QMS_LAG_REFRESH_S="1",
        QMS_LEDGER_CHECKPOINT_EVERY="1000",  # only the timed checkpoints (every 1 s)
    ) as chained:
        settings, worker = chained.settings, chained.worker
        topic = settings.topic("dossier.v1")
        chains = {f"{topic}/{p}" for p in range(3)}
        found: dict[tuple[str, str], float] = {}
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(60):  # until a lag reading after the chaining
                found = ledger_samples((await client.get(f"http://127.0.0.1:{port}/metrics")).text)
                lags = {c: found.get(("qms_ledger_lag_records", c)) for c in chains}
                if all(lag == 0 for lag in lags.values()):
                    break
                await asyncio.sleep(0.5)
        assert all(found.get(("qms_ledger_lag_records", c)) == 0 for c in chains), found
        assert all(("qms_ledger_checkpoint_age_seconds", c) in found for c in chains), found
        assert found[("qms_consumer_batch_records_sum", "")] >= 3 * PER_PARTITION
        assert worker.stop() == 0, worker.log_tail()
        result = await verify_topics(settings, load_verifier(settings), topics=["dossier.v1"])
        assert result.ok, result.first_problem
        assert [r.entries for r in result.chains] == [PER_PARTITION] * 3
        lines = [line for line in worker.log_tail().splitlines()[1:] if line.strip()]
        assert lines and all(json.loads(line)["logger"] for line in lines)
