"""Events that arrive while a ledger worker starts are all chained, from offset 0 on.

The `qms run` failure: the worker was started before any event existed, events were
published while it joined its group and recovered its table, and some chains began at
offset 2 (or skipped a run of offsets further on). Here the events are produced without
pause from before the worker joins until it is chaining, on a fresh deployment and on a
restarted one (whose table is recovered from its changelog meanwhile)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from services.intake.ledger.adapters.kafka import read_ledger, read_topics
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.service import verify_topics
from services.intake.ledger.settings import LedgerSettings
from tests.integration.ledger.conftest import (
    LedgerWorker,
    delete_topics_under,
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
    ledger_topic = settings.topic("ledger.v1")
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


async def count_entries(settings: LedgerSettings) -> int:
    entries, _ = await read_ledger(settings.kafka_bootstrap_servers, settings.topic("ledger.v1"))
    return len({(entry.chain, entry.seq) for entry in entries})


async def assert_every_record_chained_once(settings: LedgerSettings) -> None:
    """Every partition's chain starts at offset 0 and holds every record, seq == offset."""
    topics = [settings.topic(short) for short in TOPICS]
    bootstrap = settings.kafka_bootstrap_servers
    records = await read_topics(bootstrap, topics)
    entries, unreadable = await read_ledger(bootstrap, settings.topic("ledger.v1"))
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


async def test_events_produced_while_a_restarted_worker_recovers_are_all_chained(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, worker_factory: list[LedgerWorker]
) -> None:
    env = ledger_env(topic_prefix, kafka_bootstrap, tmp_path / "data")
    settings = settings_from(env)
    worker = LedgerWorker(env, tmp_path / "worker.log")
    worker_factory.append(worker)
    worker.start()
    first = await produce_through_startup(settings, worker)
    await wait_for_ledger(settings, worker, first)
    assert worker.stop() == 0, worker.log_tail()

    # Another machine (an empty data dir): the table is read back from its changelog while
    # the events keep coming, as the shared changelog was in the `qms run` failure.
    worker = LedgerWorker({**env, "QMS_DATA_DIR": str(tmp_path / "data2")}, worker.log_path)
    worker_factory.append(worker)
    worker.start()
    produced = first + await produce_through_startup(settings, worker, first)
    await wait_for_ledger(settings, worker, produced)
    assert worker.stop() == 0, worker.log_tail()
    await assert_every_record_chained_once(settings)
    print(f"{produced} events, {produced - first} produced while the worker restarted")


async def test_tmp_shared_app_id(
    kafka_bootstrap: str, tmp_path: Path, worker_factory: list[LedgerWorker]
) -> None:
    import uuid

    from services.common.topics import ensure_topics, load_topic_specs

    shared = f"t{uuid.uuid4().hex[:10]}.shared-ledger"
    for n, prefix in enumerate((f"t{uuid.uuid4().hex[:10]}.", f"t{uuid.uuid4().hex[:10]}.")):
        await ensure_topics(kafka_bootstrap, load_topic_specs(prefix=prefix))
        env = ledger_env(
            prefix, kafka_bootstrap, tmp_path / f"data{n}", QMS_LEDGER_APP_ID=shared,
            QMS_LOG_LEVEL="debug",
        )
        settings = settings_from(env)
        worker = LedgerWorker(env, tmp_path / f"worker{n}.log")
        worker_factory.append(worker)
        worker.start()
        produced = await produce_through_startup(settings, worker)
        await wait_for_ledger(settings, worker, produced)
        assert worker.stop() == 0, worker.log_tail()
        await assert_every_record_chained_once(settings)
    await delete_topics_under(kafka_bootstrap, shared)
