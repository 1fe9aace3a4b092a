"""Must show: a history rewritten together with its checkpoints is caught.

The attacker holds the cluster, not the signing key: they replace the event topic, the
ledger and the checkpoint topic with a consistent forgery (one event altered, every entry
re-chained, the signed notes deleted, since no new ones can be signed). Verification
against Kafka alone flags the chain that no checkpoint covers; against the checkpoint file
the ledger kept outside Kafka it names the rewrite.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from services.common.topics import ensure_topics, load_topic_specs
from services.intake.ledger.adapters.checkpoint_file import read_notes
from services.intake.ledger.adapters.kafka import read_topics
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.adapters.publisher import entry_value
from services.intake.ledger.domain.chain import ChainHead, EventRecord, LedgerEntry, extend
from services.intake.ledger.domain.verify import Breakage
from services.intake.ledger.service import verify_topics
from services.intake.ledger.settings import LedgerSettings
from tests.integration.ledger.conftest import chained_dossiers, produce
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration

EVENTS = 9  # two checkpoints (sizes 4 and 8) and one entry beyond them
REPLACED = ("dossier.v1", "ledger.v1", "ledger.checkpoints.v1")


@dataclass(frozen=True)
class History:
    settings: LedgerSettings
    anchor: Path

    @property
    def chain(self) -> str:
        return f"{self.settings.topic('dossier.v1')}/0"


@pytest.fixture
async def honest_history(kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[History]:
    """Nine dossier events on partition 0, chained and checkpointed by a real worker."""
    anchor = tmp_path / "anchor.jsonl"
    values = {0: [dossier_received_value(500 + i) for i in range(EVENTS)]}
    async with chained_dossiers(
        kafka_bootstrap,
        tmp_path,
        values,
        checkpointed={0: 8},
        QMS_LEDGER_CHECKPOINT_FILE=str(anchor),
        # The verifier's view of the worker: a batch of one record (as the worker below
        # chains them, one produce at a time) may be written before its checkpoint.
        QMS_LEDGER_BATCH_SIZE="1",
    ) as chained:
        yield History(chained.settings, anchor)


async def replace_with_forgery(history: History) -> None:
    """Delete the three topics and write them anew: event 5 altered, a consistent chain."""
    settings = history.settings
    bootstrap = settings.kafka_bootstrap_servers
    events_topic = settings.topic("dossier.v1")
    original = (await read_topics(bootstrap, [events_topic]))[(events_topic, 0)]
    forged_values = [record.value for record in original]
    document = json.loads(forged_values[5])
    document["data"]["online_level"] = 2
    forged_values[5] = json.dumps(document).encode()

    names = [settings.topic(short) for short in REPLACED]
    await recreate(bootstrap, names, settings.topic_prefix)
    await produce(bootstrap, events_topic, {0: forged_values})
    stored = (await read_topics(bootstrap, [events_topic]))[(events_topic, 0)]
    entries = rechain(stored)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for entry in entries:
            await producer.send_and_wait(
                settings.topic("ledger.v1"), entry_value(entry), key=entry.chain.encode()
            )
    finally:
        await producer.stop()


def rechain(records: list[EventRecord]) -> list[LedgerEntry]:
    head = ChainHead(records[0].topic, records[0].partition)
    entries = []
    for record in records:
        entry, head = extend(head, record)
        entries.append(entry)
    return entries


async def recreate(bootstrap: str, names: list[str], prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
        deadline = time.monotonic() + 60
        while set(names) & set(await admin.list_topics()):
            assert time.monotonic() < deadline, "topics not deleted within 60 s"
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    specs = [s for s in load_topic_specs(prefix=prefix) if s.name in names]
    deadline = time.monotonic() + 60
    while True:  # the broker may still be finishing the deletion
        try:
            await ensure_topics(bootstrap, specs)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def test_a_history_rewritten_with_its_checkpoints_is_caught(
    honest_history: History,
) -> None:
    settings = honest_history.settings
    verifier = load_verifier(settings)
    honest = await verify_topics(settings, verifier, topics=["dossier.v1"])
    assert honest.ok, honest.first_problem
    witnessed = read_notes(honest_history.anchor)
    assert {note.checkpoint.size for note in witnessed} >= {4, 8}

    await replace_with_forgery(honest_history)

    # Kafka alone: the forged chain links and leaves all hold, but nothing signed covers it.
    alone = await verify_topics(settings, verifier, topics=["dossier.v1"])
    (report,) = [r for r in alone.chains if r.chain == honest_history.chain]
    assert report.problem is not None, "a rewritten history verified against Kafka alone"
    assert (report.problem.kind, report.problem.seq) == (Breakage.MISSING_CHECKPOINT, 7)
    assert report.anchored_size == 0

    # With the witness kept outside Kafka: the rewrite itself is named.
    with_anchor = await verify_topics(
        settings, verifier, topics=["dossier.v1"], extra_checkpoints=witnessed
    )
    (report,) = [r for r in with_anchor.chains if r.chain == honest_history.chain]
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (Breakage.ROOT_MISMATCH, 7)
    assert "rewritten" in report.problem.detail
