"""Source findings that arrive while the CAPA worker recovers its tables each open one CAPA.

faust-streaming 0.15.3 drops the records it fetched before a rebalance on partitions that
never committed (fresh topics); the worker re-reads the source topics from their committed
offsets as every rebalance completes (`services.common.faust_rebalance`). A re-read once the
flow ran again lost records under load, which this test caught in about half of such runs.
Here the source topics are fresh, the CAPA changelog already holds CAPAs of a deployment
that is gone (recovery takes a while), and findings are produced without pause from before
the worker joins until it answers ready and opens new CAPAs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas.binding import from_kafka_value, to_kafka_record
from schemas.catalogue import parse_event
from schemas.topics import CAPA_COMMANDS_TOPIC
from services.capa.adapters.codec import encode_events
from services.capa.config import CapaSettings
from services.capa.domain.decide import decide
from services.capa.domain.policies import capa_id_for, commands_for
from services.capa.entrypoints.worker import due_date_policy
from services.common.topics import (
    TopicSpec,
    ensure_topics,
)
from services.intake.ledger.adapters.kafka import read_topics
from tests.integration.capa.conftest import CapaProcess, finding

pytestmark = pytest.mark.integration

PARTITIONS = 3
GONE_CAPAS = 10_000  # changelog records of another deployment: makes the recovery take a while
ROUND_PAUSE_S = 0.05  # paces the producer (fewer findings), not a synchronisation
AFTER_READY_ROUNDS = 10  # rounds still produced once the worker answers ready
FINDING_SOURCE = "urn:vn:gov:h56:audit-tool"
OPENED = "vn.qms.capa.opened.v1"


async def fill_changelog(bootstrap: str, app_id: str, count: int) -> None:
    """Create the capa-events changelog (as faust would) holding `count` CAPAs."""
    changelog = f"{app_id}-capa-events-changelog"
    spec = TopicSpec(changelog, PARTITIONS, 1, {"cleanup.policy": "compact"}, "capa changelog")
    await ensure_topics(bootstrap, [spec])
    policy = due_date_policy(CapaSettings())
    opened = commands_for(parse_event(finding("gone-0", days_ago=0)), policy)[0]
    value = encode_events(decide(opened, None))  # a real stream: the timer may fold it
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        for number in range(count):
            await producer.send(
                changelog, value, key=f"gone-{number}".encode(), partition=number % PARTITIONS
            )
        await producer.flush()
    finally:
        await producer.stop()


async def produce_through_startup(
    bootstrap: str, prefix: str, service: CapaProcess
) -> tuple[list[str], int]:
    """One finding per audit.v1 partition per round, from now (the worker just started) until
    `AFTER_READY_ROUNDS` rounds after it answers ready (tables recovered); returns the
    finding ids and how many of them were produced before it answered ready."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    ids: list[str] = []
    rounds_left = AFTER_READY_ROUNDS
    ready = False
    before_ready = 0
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
            while rounds_left > 0:
                for partition in range(PARTITIONS):
                    event_id = f"startup-{len(ids)}"
                    record = to_kafka_record(parse_event(finding(event_id, days_ago=0)))
                    await producer.send(
                        f"{prefix}audit.v1",
                        record.value,
                        key=record.key,
                        headers=record.headers,
                        partition=partition,
                    )
                    ids.append(event_id)
                await producer.flush()
                assert service.process is not None and service.process.poll() is None, (
                    service.log_tail()
                )
                if ready:
                    rounds_left -= 1
                else:
                    with contextlib.suppress(httpx.TransportError):  # not listening yet
                        ready = (await client.get("/readyz")).status_code == 200
                    before_ready = len(ids)
                await asyncio.sleep(ROUND_PAUSE_S)
    finally:
        await producer.stop()
    return ids, before_ready


async def opened_capas(bootstrap: str, prefix: str) -> Counter[str]:
    """CAPA id → how many distinct CapaOpened events capa.v1 holds for it."""
    records = await read_topics(bootstrap, [f"{prefix}capa.v1"])
    opened: dict[str, set[str]] = {}
    for partition_records in records.values():
        for record in partition_records:
            event = from_kafka_value(record.value)
            if event.type == OPENED:
                opened.setdefault(event.subject or "", set()).add(event.id)
    return Counter({capa_id: len(ids) for capa_id, ids in opened.items()})


async def explain_loss(bootstrap: str, prefix: str, missing: list[str], workdir: Path) -> str:
    """Where the missing findings got lost: cast as commands or not, and the worker's story."""
    commands = await read_topics(bootstrap, [f"{prefix}{CAPA_COMMANDS_TOPIC}"])
    keyed: dict[str, list[tuple[int, int]]] = {}
    for (_, partition), partition_records in commands.items():
        for record in partition_records:
            for capa_id in set(re.findall(rb"CAPA-[0-9a-f-]{36}", record.value)):
                keyed.setdefault(capa_id.decode(), []).append((partition, record.offset))
    cast = [capa_id for capa_id in missing if capa_id in keyed]
    lines = [
        f"{len(cast)} of {len(missing)} missing CAPAs were cast on the commands topic",
        f"commands per partition: { {p: len(r) for (_, p), r in commands.items()} }",
        f"first cast but unopened: {[(c, keyed[c]) for c in cast[:5]]}",
    ]
    story = ("re-reading", "seek", "Rebalance", "Recovery", "ERROR", "Traceback")
    for log_file in sorted(await asyncio.to_thread(lambda: list(workdir.glob("capa-*.log")))):
        text = await asyncio.to_thread(log_file.read_text, errors="replace")
        lines += [line[:400] for line in text.splitlines() if any(w in line for w in story)]
    return "\n".join(lines[:200])


async def start_up_under_findings(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> tuple[list[str], set[str], Counter[str], int]:
    """One start-up with findings produced throughout: (ids, expected CAPAs, opened, before)."""
    await asyncio.to_thread(tmp_path.mkdir, parents=True, exist_ok=True)
    app_id = f"{topic_prefix}capa"  # faust's topics under the prefix: deleted with it
    await fill_changelog(kafka_bootstrap, app_id, GONE_CAPAS)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "QMS_TOPIC_PREFIX": topic_prefix,
        "QMS_CAPA_APP_ID": app_id,
        "QMS_CAPA_ESCALATION_INTERVAL_S": "3600",  # the timer would only add load here
        "QMS_ENV": "development",
        "QMS_LOG_LEVEL": "INFO",
    }
    service = CapaProcess(env, tmp_path)
    service.start()
    try:
        ids, before_ready = await produce_through_startup(kafka_bootstrap, topic_prefix, service)
        expected = {capa_id_for("audit_finding", FINDING_SOURCE, i) for i in ids}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        opened = await opened_capas(kafka_bootstrap, topic_prefix)
        while not expected <= set(opened) and loop.time() < deadline:
            assert service.process is not None and service.process.poll() is None
            await asyncio.sleep(1)
            opened = await opened_capas(kafka_bootstrap, topic_prefix)
        missing = sorted(expected - set(opened))
        if missing:
            print(await explain_loss(kafka_bootstrap, topic_prefix, missing, tmp_path))
    finally:
        service.stop()
    return ids, expected, opened, before_ready


async def test_findings_produced_while_the_tables_recover_each_open_one_capa(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    ids, expected, opened, before_ready = await start_up_under_findings(
        kafka_bootstrap, topic_prefix, tmp_path
    )
    missing = sorted(expected - set(opened))
    assert not missing, f"{len(missing)} of {len(ids)} findings opened no CAPA: {missing[:5]}"
    twice = {capa_id: n for capa_id, n in opened.items() if n != 1}
    assert not twice, f"CAPAs opened more than once: {json.dumps(twice)[:300]}"
    assert set(opened) == expected, "a CAPA was opened that no finding asked for"
    assert before_ready > 0, "no finding was produced while the worker started"
    print(
        f"{len(ids)} findings ({before_ready} before ready) produced during start-up, "
        f"each opened exactly one CAPA"
    )
