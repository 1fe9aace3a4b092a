"""Events that arrive while a ledger worker starts are all chained, from offset 0 on.

The `qms run` failure: the worker was started before any event existed, events were
published while it joined its group and recovered its table, and some chains began at
offset 2 (or skipped a run of offsets further on). Here the events are produced without
pause from before the worker joins until it is chaining: on a fresh deployment, and on
fresh topics while the worker first reads back a long heads changelog."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from schemas.topics import LEDGER_TOPIC
from services.common.topics import TopicSpec, ensure_topics
from services.intake.ledger.adapters.heads import heads_topic
from services.intake.ledger.adapters.kafka import read_ledger, read_topics
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.domain.chain import ChainHead
from services.intake.ledger.service import verify_topics
from services.intake.ledger.settings import LedgerSettings
from tests.integration.ledger.conftest import (
    WAIT_S,
    LedgerWorker,
    ledger_env,
    settings_from,
    wait_for_ledger,
)
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration

TOPICS = ("dossier.v1", "complaint.v1", "audit.v1")  # chained topics the events go to
PARTITIONS = 3
ROUND_PAUSE_S = 0.02  # paces the producer (fewer events to chain), not a synchronisation
AFTER_CHAINING_ROUNDS = 10  # rounds still produced once the worker chains new records
OTHER_HEADS = 30_000  # head records of other chains: makes the read-back long


async def produce_through_startup(
    settings: LedgerSettings, worker: LedgerWorker, first_number: int = 0
) -> int:
    """Produce one event to every partition of `TOPICS` per round, from now (the worker
    just started) until it has chained a record produced here; returns how many.

    A task watches the ledger while the rounds go on, so records land during every start-up
    stage (group join, table recovery, resuming the partitions, the first batches), however
    long each takes on a busy machine.
    """
    bootstrap = settings.kafka_bootstrap_servers
    ledger_topic = settings.topic(LEDGER_TOPIC)
    chained_before = await count_entries(settings)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    chaining = asyncio.Event()

    async def watch_ledger() -> None:
        while len((await read_ledger(bootstrap, ledger_topic))[0]) <= chained_before:
            worker.assert_running()
        chaining.set()

    await producer.start()
    watcher = asyncio.create_task(watch_ledger())
    number = first_number
    rounds_left = AFTER_CHAINING_ROUNDS
    try:
        while rounds_left > 0:
            for short in TOPICS:
                for partition in range(PARTITIONS):
                    await producer.send(
                        settings.topic(short), dossier_received_value(number), partition=partition
                    )
                    number += 1
            await producer.flush()
            if chaining.is_set():
                rounds_left -= 1
            elif watcher.done():
                watcher.result()  # the worker died: say why
            await asyncio.sleep(ROUND_PAUSE_S)
    finally:
        watcher.cancel()
        await producer.stop()
    return number - first_number


async def fill_changelog(settings: LedgerSettings, count: int) -> None:
    """Create the worker's heads topic holding `count` heads of chains of a deployment that
    is gone."""
    changelog = heads_topic(settings.app_id)
    spec = TopicSpec(changelog, PARTITIONS, 1, {"cleanup.policy": "compact"}, "heads changelog")
    await ensure_topics(settings.kafka_bootstrap_servers, [spec])
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=20
    )
    await producer.start()
    try:
        for number in range(count):
            partition = number % PARTITIONS
            head = ChainHead("gone.dossier.v1", partition, number, bytes(32), number - 1)
            await producer.send(
                changelog,
                json.dumps(head.to_json()).encode(),
                key=json.dumps(f"gone.dossier.v1/{partition}").encode(),
                partition=partition,
            )
        await producer.flush()
    finally:
        await producer.stop()


async def count_entries(settings: LedgerSettings) -> int:
    entries, _ = await read_ledger(settings.kafka_bootstrap_servers, settings.topic(LEDGER_TOPIC))
    return len({(entry.chain, entry.seq) for entry in entries})


async def assert_every_record_chained_once(settings: LedgerSettings) -> None:
    """Every partition's chain starts at offset 0 and holds every record, seq == offset."""
    topics = [settings.topic(short) for short in TOPICS]
    bootstrap = settings.kafka_bootstrap_servers
    records = await read_topics(bootstrap, topics)
    entries, unreadable = await read_ledger(bootstrap, settings.topic(LEDGER_TOPIC))
    assert not unreadable
    chained: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for entry in entries:
        chained[entry.chain].add((entry.seq, entry.offset))
    for topic in topics:
        for partition in range(PARTITIONS):
            offsets = [record.offset for record in records[(topic, partition)]]
            assert offsets, f"nothing was produced to {topic}/{partition}"
            links = sorted(chained[f"{topic}/{partition}"])
            # One record per offset (idempotent producer, no transactions): seq == offset.
            missing = sorted(set(offsets) - {offset for _, offset in links})
            assert links == [(o, o) for o in offsets], (
                f"{topic}/{partition}: {len(offsets)} records, {len(links)} entries, "
                f"first entries {links[:3]}, offsets never chained {missing[:10]}"
            )
    result = await verify_topics(settings, load_verifier(settings), topics=list(TOPICS))
    assert result.ok, result.first_problem


@pytest.mark.parametrize("attempt", range(3))
async def test_events_produced_during_startup_are_all_chained_from_offset_0(
    attempt: int,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    worker_factory: list[LedgerWorker],
) -> None:
    env = ledger_env(topic_prefix, kafka_bootstrap, tmp_path / "data")
    del env["QMS_LEDGER_APP_ID"]  # the default must already be this deployment's own
    settings = settings_from(env)
    assert settings.app_id == f"{topic_prefix}ledger"

    worker = LedgerWorker(env, tmp_path / "worker.log")
    worker_factory.append(worker)
    worker.start()  # no event exists yet: the worker is started first, as `qms run` does
    produced = await produce_through_startup(settings, worker)
    await wait_for_ledger(settings, worker, produced)
    assert worker.stop() == 0, worker.log_tail()
    await assert_every_record_chained_once(settings)
    print(f"attempt {attempt}: {produced} events produced during start-up, all chained")


@pytest.mark.parametrize("attempt", range(3))
async def test_events_produced_while_the_heads_are_read_back_are_all_chained_from_offset_0(
    attempt: int,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    worker_factory: list[LedgerWorker],
) -> None:
    """The `qms run` failure itself: fresh topics (nothing committed yet), an empty data dir,
    and a heads changelog that already holds other chains (the app id was shared with other
    deployments), so the worker spends seconds reading the heads back while events arrive."""
    env = ledger_env(topic_prefix, kafka_bootstrap, tmp_path / "data")
    settings = settings_from(env)
    await fill_changelog(settings, OTHER_HEADS)

    worker = LedgerWorker(env, tmp_path / "worker.log")
    worker_factory.append(worker)
    worker.start()
    produced = await produce_through_startup(settings, worker)
    await wait_for_ledger(settings, worker, produced)
    assert worker.stop() == 0, worker.log_tail()
    read = re.findall(r"(\d+) record\(s\) of the heads topic", worker.log_path.read_text())
    assert read and int(read[0]) >= OTHER_HEADS, read  # the long read-back did happen
    await assert_every_record_chained_once(settings)
    log = worker.log_path.read_text(errors="replace")
    print(
        f"attempt {attempt}: {produced} events produced while the heads were read back; "
        f"batches with records the consumer did not deliver (read from the topic): "
        f"{log.count('were not delivered')}"
    )


async def test_verify_during_chaining_reports_lag_never_a_broken_chain(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, worker_factory: list[LedgerWorker]
) -> None:
    """`qms run` verifies while the worker still chains: a checkpoint signed between the
    verifier's reads must not pass for a ledger shorter than its checkpoint."""
    env = ledger_env(topic_prefix, kafka_bootstrap, tmp_path / "data")
    settings = settings_from(env)
    verifier = load_verifier(settings)
    worker = LedgerWorker(env, tmp_path / "worker.log")
    worker_factory.append(worker)
    worker.start()
    verdicts: list[tuple[bool, int, str | None]] = []
    producing = asyncio.create_task(produce_through_startup(settings, worker))
    deadline = time.monotonic() + WAIT_S
    while not producing.done() or not verdicts or verdicts[-1][1]:
        worker.assert_running()
        assert time.monotonic() < deadline, f"still not chained: {verdicts[-1]}"
        result = await verify_topics(settings, verifier, topics=list(TOPICS))
        pending = sum(report.pending for report in result.chains)
        verdicts.append((result.ok, pending, result.first_problem))
    produced = producing.result()
    assert worker.stop() == 0, worker.log_tail()
    broken = [problem for ok, _, problem in verdicts if not ok]
    assert not broken, f"{len(broken)} of {len(verdicts)} verifications failed: {broken[0]}"
    assert verdicts[-1] == (True, 0, None)
    lagging = sum(1 for _, pending, _ in verdicts if pending)
    print(
        f"{len(verdicts)} verifications during chaining ({lagging} with lag) of {produced} events"
    )
