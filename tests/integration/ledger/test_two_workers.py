"""Two ledger workers in one consumer group: one is SIGKILLed while events keep arriving,
the other takes over its chains from the heads table; one entry per accepted event, every
chain gap-free and verifying."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import pytest

from schemas.topics import LEDGER_TOPIC
from services.intake.ledger.adapters.kafka import read_ledger
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.service import verify_topics
from tests.integration.ledger.conftest import (
    WAIT_S,
    LedgerWorker,
    ledger_env,
    produce,
    settings_from,
    wait_for_ledger,
)
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration

PARTITIONS = 3
WAVES = 6
PER_WAVE = 4  # records per partition and wave
RESUMED = re.compile(r"resumed (\d+) chained partitions")


async def wait_until_both_chain(workers: list[LedgerWorker], chained_partitions: int) -> None:
    """Wait until a rebalance shared the chained partitions between the workers."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        last_resumes = []
        for worker in workers:
            worker.assert_running()
            found = RESUMED.findall(worker.log_path.read_text(errors="replace"))
            last_resumes.append(int(found[-1]) if found else 0)
        if all(last_resumes) and sum(last_resumes) == chained_partitions:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"the two workers did not share the partitions: {last_resumes}")
        await asyncio.sleep(0.5)


async def test_a_killed_worker_s_chains_are_continued_by_the_other(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, worker_factory: list[LedgerWorker]
) -> None:
    # One chained topic of three partitions: each worker chains at least one of them.
    env = ledger_env(
        topic_prefix, kafka_bootstrap, tmp_path / "data", QMS_LEDGER_TOPICS='["dossier.v1"]'
    )
    settings = settings_from(env)
    dossiers = settings.topic("dossier.v1")
    # Each worker has its own local state (RocksDB, anchor file), like on two machines.
    first, second = (
        LedgerWorker({**env, "QMS_DATA_DIR": str(tmp_path / name)}, tmp_path / f"{name}.log")
        for name in ("first", "second")
    )
    worker_factory.extend([first, second])

    def wave(number: int) -> dict[int, list[bytes]]:
        base = number * PER_WAVE
        return {
            p: [dossier_received_value(p * 1000 + base + i) for i in range(PER_WAVE)]
            for p in range(PARTITIONS)
        }

    await produce(kafka_bootstrap, dossiers, wave(0))
    first.start()
    second.start()
    await wait_until_both_chain([first, second], PARTITIONS)
    await produce(kafka_bootstrap, dossiers, wave(1))
    await wait_for_ledger(settings, second, 2 * PER_WAVE * PARTITIONS)

    # Mid-stream: events keep arriving while one worker dies without any cleanup.
    more = asyncio.gather(*(produce(kafka_bootstrap, dossiers, wave(n)) for n in range(2, WAVES)))
    await asyncio.sleep(0.2)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    await more
    accepted = WAVES * PER_WAVE * PARTITIONS
    await wait_for_ledger(settings, second, accepted)
    assert second.stop() == 0, second.log_tail()

    entries, unreadable = await read_ledger(kafka_bootstrap, settings.topic(LEDGER_TOPIC))
    assert not unreadable
    hashes: dict[tuple[str, int], set[bytes]] = {}
    offsets: dict[tuple[str, int], set[int]] = {}
    for entry in entries:
        hashes.setdefault((entry.chain, entry.seq), set()).add(entry.hash)
        offsets.setdefault((entry.chain, entry.offset), set()).add(entry.seq)
    per_partition = WAVES * PER_WAVE
    assert sorted(hashes) == [
        (f"{dossiers}/{p}", seq) for p in range(PARTITIONS) for seq in range(per_partition)
    ]  # every chain gap-free, one seq per accepted event
    assert all(len(found) == 1 for found in hashes.values()), "a seq got two different entries"
    assert len(offsets) == accepted and all(len(seqs) == 1 for seqs in offsets.values()), (
        "an accepted event has no entry, or more than one"
    )
    result = await verify_topics(settings, load_verifier(settings), topics=["dossier.v1"])
    assert result.ok, result.first_problem
    print(
        "exact duplicate entries re-sent after the kill (tolerated): "
        f"{sum(report.duplicates_ignored for report in result.chains)}"
    )
