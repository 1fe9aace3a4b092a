"""Hostile bytes on an accepted-events topic (put there bypassing intake) never stall the
chain and are never skipped: each is chained (byte for byte when it is not I-JSON) between
the ordinary events around it, and the whole chain verifies."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.topics import LEDGER_TOPIC
from services.intake.ledger.adapters.kafka import read_ledger
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.domain.canonical import CanonicalForm
from services.intake.ledger.service import verify_topics
from tests.integration.ledger.conftest import (
    LedgerWorker,
    ledger_env,
    produce,
    settings_from,
    wait_for_ledger,
)
from tests.poison import hostile_bytes
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration


async def test_hostile_records_are_chained_in_place_and_the_chain_verifies(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, worker_factory: list[LedgerWorker]
) -> None:
    env = ledger_env(topic_prefix, kafka_bootstrap, tmp_path / "data")
    settings = settings_from(env)
    hostile = list(hostile_bytes().values())
    values: list[bytes] = []
    for n, value in enumerate(hostile):  # each one behind an ordinary event and before one
        values += [dossier_received_value(n), value]
    values.append(dossier_received_value(len(hostile)))
    await produce(kafka_bootstrap, settings.topic("dossier.v1"), {1: values})

    worker = LedgerWorker(env, tmp_path / "worker.log")
    worker_factory.append(worker)
    worker.start()
    await wait_for_ledger(settings, worker, len(values))

    entries, unreadable = await read_ledger(kafka_bootstrap, settings.topic(LEDGER_TOPIC))
    assert not unreadable
    chain = sorted(
        {e.seq: e for e in entries if e.chain == f"{settings.topic('dossier.v1')}/1"}.values(),
        key=lambda e: e.seq,
    )
    assert [e.offset for e in chain] == list(range(len(values)))  # every record, in place
    raw = [e.offset for e in chain if e.form is CanonicalForm.RAW]
    assert raw == [2 * n + 1 for n, value in enumerate(hostile) if b"\xe1\xbb\x87" not in value]
    result = await verify_topics(settings, load_verifier(settings), topics=["dossier.v1"])
    assert result.ok, result.first_problem
    assert worker.stop() == 0, worker.log_tail()
