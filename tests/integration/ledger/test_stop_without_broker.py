"""SIGTERM stops the ledger worker within 10 s while the broker is down, and nothing is lost:
offsets are only committed after the entries are in the ledger, so the restarted worker
(broker back) chains whatever the stopped one had not."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest

from services.common.topics import ensure_topics, load_topic_specs
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.service import verify_topics
from tests.integration.ledger.conftest import (
    LedgerWorker,
    ledger_env,
    produce,
    settings_from,
    wait_for_ledger,
)
from tests.support import throwaway_broker
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration
STOP_WITHIN_S = 10  # what the operator is promised (issue 15.6), not a measurement


async def test_sigterm_with_the_broker_down_stops_the_worker_and_loses_nothing(
    tmp_path: Path,
) -> None:
    with throwaway_broker(tmp_path / "kafka") as broker:
        env = ledger_env("qms.", broker.bootstrap, tmp_path / "data")
        settings = settings_from(env)
        await ensure_topics(broker.bootstrap, load_topic_specs(prefix="qms."))
        dossiers = settings.topic("dossier.v1")
        first = {p: [dossier_received_value(p * 100 + i) for i in range(5)] for p in range(3)}
        await produce(broker.bootstrap, dossiers, first)
        worker = LedgerWorker(env, tmp_path / "worker.log")
        worker.start()
        try:
            await wait_for_ledger(settings, worker, 15)
            broker.stop()
            await asyncio.sleep(3)  # the worker is now retrying against an absent broker
            assert worker.process is not None
            worker.process.send_signal(signal.SIGTERM)
            try:
                worker.process.wait(timeout=STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"still running {STOP_WITHIN_S}s after SIGTERM: {worker.log_tail()}")
            worker.process = None

            broker.start()
            second = {
                p: [dossier_received_value(p * 100 + i) for i in range(5, 8)] for p in range(3)
            }
            await produce(broker.bootstrap, dossiers, second)
            worker.start()
            await wait_for_ledger(settings, worker, 24)
            result = await verify_topics(settings, load_verifier(settings), topics=["dossier.v1"])
            assert result.ok, result.first_problem
            assert sum(r.entries for r in result.chains) == 24
        finally:
            worker.stop(signal.SIGKILL)
