"""Benchmark: late dossiers the CAPA worker turns into CAPAs, against a raw aiokafka loop.

    python bench/capa.py --events 5000 [--bootstrap HOST:PORT] [--port 18890] [--keep-log]

Same broker, same run, same records: N late `dossier.resolved` events, each for a procedure
of its own (so each opens a CAPA of its own), are pre-produced to `<prefix>dossier.v1`
under a fresh topic prefix. Then

1. baseline: one raw AIOKafkaConsumer (no group) reads the N records and, per fetched batch,
   calls the same pure decision as the worker (`policy_commands`: parse the event, the late
   dossier policy → `OpenCapa`; `decide` on no state → `capa.opened`) and produces the same
   two records per event (the encoded command, then the CloudEvent of `capa.opened`)
   through an AIOKafkaProducer (acks=all, idempotent), gathering the acks of the batch
   before fetching again: "decide + two acked produces", batched;
2. the CAPA service (`qms capa serve`, a subprocess with its own consumer group and data
   dir): its policy agent casts the commands, its command agent decides them against the
   table, appends `capa.opened` to `<prefix>capa.v1` and writes the table.

Rates are measured the same way on both outputs: (opened − 1) / (timestamp of the last
`capa.opened` record − timestamp of the first), so start-up, group join and table recovery
are left out. CPU µs/event: the baseline's own process time over its loop; the worker's
user + system time (/proc) from when its first CAPA was seen opened to its last, divided
by the CAPAs opened in between. Prints both and `ratio capa/raw: <x>` (what
bench/pipeline.py gathers). Not a test: nothing asserts a speed. Every topic under the
prefix (the worker's changelog and internal topics included) is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from kafka_runs import partitions_of, pre_produce, producer, start_worker, stop  # noqa: E402

from schemas import parse_event, to_kafka_record  # noqa: E402
from services.capa.adapters.codec import encode_command  # noqa: E402
from services.capa.config import CapaSettings  # noqa: E402
from services.capa.domain.decide import decide  # noqa: E402
from services.capa.entrypoints.worker import due_date_policy  # noqa: E402
from services.capa.service_layer.policies import policy_commands  # noqa: E402
from services.common.topics import (  # noqa: E402
    TopicSpec,
    delete_topics_under,
    ensure_topics,
    load_topic_specs,
)

WAIT_S = 900.0  # a deadline, not a measurement
OPENED = b"vn.qms.capa.opened.v1"
AGENCY = "H56.01"


def make_records(count: int, run: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of N accepted late `dossier.resolved` events, one procedure each."""
    resolved = datetime.now(UTC) - timedelta(hours=1)
    records = []
    for n in range(count):
        event = parse_event(
            {
                "specversion": "1.0",
                "id": f"{run}-{n:08d}",
                "source": "urn:vn:gov:h56:one-stop-shop",
                "type": "vn.qms.dossier.resolved.v1",
                "subject": f"LATE-{run[:6]}-{n:07d}",
                "time": resolved.isoformat(),
                "agencycode": AGENCY,
                "receivedtime": (resolved + timedelta(seconds=1)).isoformat(),
                "publisher": "one-stop-shop-h56",
                "data": {
                    "procedure_code": f"9.{run[:6]}.{n:07d}",
                    "outcome": "approved",
                    "received_at": (resolved - timedelta(days=12)).isoformat(),
                    "due_at": (resolved - timedelta(days=2)).isoformat(),
                },
            }
        )
        record = to_kafka_record(event)
        records.append((record.key, record.value))
    return records


async def raw_baseline(
    bootstrap: str, source: str, commands_topic: str, capa_topic: str, count: int
) -> float:
    """Consume, decide and produce command + `capa.opened` per event; the CPU seconds spent."""
    policy = due_date_policy(CapaSettings())
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    sender = producer(bootstrap)
    await consumer.start()
    await sender.start()
    try:
        partitions = await partitions_of(consumer, source)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        cpu = time.process_time()
        seen = 0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            acks = []
            for messages in batch.values():
                for message in messages:
                    for command in policy_commands(message.value or b"", policy):
                        key = command.capa_id.encode()
                        acks.append(await sender.send(commands_topic, encode_command(command), key))
                        for event in decide(command, None):
                            record = to_kafka_record(event)
                            acks.append(
                                await sender.send(
                                    capa_topic, record.value, record.key, headers=record.headers
                                )
                            )
                    seen += 1
            await asyncio.gather(*acks)
        return time.process_time() - cpu
    finally:
        await sender.stop()
        await consumer.stop()


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU time of one process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_capa(
    bootstrap: str, prefix: str, data_dir: Path, port: int, log_path: Path, profile: str | None
) -> subprocess.Popen[bytes]:
    argv = ["-m", "services.capa.entrypoints.cli", "serve", "--port", str(port)]
    worker = start_worker(
        argv,
        bootstrap,
        prefix,
        data_dir,
        log_path,
        QMS_LOG_LEVEL="WARNING",
        QMS_CAPA_APP_ID=f"{prefix}capa",
    )
    if profile:  # py-spy's raw (collapsed stacks) samples of the worker until it exits
        spy = str(Path(sys.executable).with_name("py-spy"))
        record = [spy, "record", "-f", "raw", "-o", profile, "--pid", str(worker.pid)]
        subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return worker


async def output_count(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> int:
    return sum((await consumer.end_offsets(partitions)).values())


async def watch_worker(
    bootstrap: str, topic: str, count: int, worker: subprocess.Popen[bytes]
) -> tuple[int, float]:
    """Wait for `count` records on `topic`; (records opened while watched, CPU s meanwhile)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        deadline = time.monotonic() + WAIT_S
        first: tuple[int, float] | None = None
        while True:
            found = await output_count(consumer, partitions)
            if found and first is None:
                first = (found, process_cpu_seconds(worker.pid))
            if found >= count:
                assert first is not None
                return found - first[0], process_cpu_seconds(worker.pid) - first[1]
            if worker.poll() is not None:
                raise RuntimeError(f"CAPA worker exited with {worker.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{found}/{count} CAPA events after {WAIT_S:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()


async def opened_rate(bootstrap: str, topic: str) -> tuple[int, float]:
    """(CAPAs opened, opened/s between the first and the last `capa.opened` timestamp)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        read = 0
        stamps: list[int] = []
        ids: set[str] = set()
        while sum(end.values()) > read:
            for messages in (await consumer.getmany(timeout_ms=1000)).values():
                for message in messages:
                    read += 1
                    if OPENED in (message.value or b""):
                        ids.add(json.loads(message.value or b"{}")["subject"])
                        stamps.append(message.timestamp)
        if len(ids) != len(stamps):
            raise RuntimeError(f"{len(stamps)} capa.opened for {len(ids)} CAPAs: one doubled")
        span_s = (max(stamps) - min(stamps)) / 1000
        return len(stamps), (len(stamps) - 1) / span_s if span_s > 0 else float("inf")
    finally:
        await consumer.stop()


async def main(args: argparse.Namespace) -> None:
    prefix = f"benchcapa{uuid.uuid4().hex[:8]}."
    source = f"{prefix}dossier.v1"
    raw_commands, raw_capa = f"{prefix}bench.raw.commands.v1", f"{prefix}bench.raw.capa.v1"
    specs = load_topic_specs(prefix=prefix)
    await ensure_topics(
        args.bootstrap,
        [
            *specs,
            TopicSpec(raw_commands, 3, 1, {}, "baseline commands"),
            TopicSpec(raw_capa, 3, 1, {}, "baseline CAPA events"),
        ],
    )
    workdir = Path(tempfile.mkdtemp(prefix="capa-bench-"))
    worker: subprocess.Popen[bytes] | None = None
    try:
        await pre_produce(args.bootstrap, source, make_records(args.events, prefix))
        print(f"pre-produced {args.events} late dossier.resolved events to {source}")

        raw_cpu = await raw_baseline(args.bootstrap, source, raw_commands, raw_capa, args.events)
        raw_count, raw_rate = await opened_rate(args.bootstrap, raw_capa)
        raw_us = raw_cpu / args.events * 1e6
        print(
            f"raw aiokafka decide + two acked produces: {raw_count} CAPAs opened, "
            f"{raw_rate:,.0f} source events/s, CPU {raw_us:.0f} us/event"
        )

        started = time.monotonic()
        worker = start_capa(
            args.bootstrap,
            prefix,
            workdir / "data",
            args.port,
            workdir / "worker.log",
            args.profile,
        )
        watched, cpu = await watch_worker(args.bootstrap, f"{prefix}capa.v1", args.events, worker)
        wall = time.monotonic() - started
        stop(worker)
        count, rate = await opened_rate(args.bootstrap, f"{prefix}capa.v1")
        cpu_us = cpu / watched * 1e6 if watched else float("nan")
        print(
            f"CAPA worker (qms capa serve): {count} CAPAs opened, {rate:,.0f} source events/s, "
            f"CPU {cpu_us:.0f} us/event over the last {watched} "
            f"({wall:.1f} s wall from process start, start-up and group join included)"
        )
        if count != args.events:
            print(f"warning: {count} CAPAs opened for {args.events} late dossiers")
        print(f"ratio capa/raw: {rate / raw_rate:.3f}")
        print(f"CPU ratio raw/capa: {raw_us / cpu_us:.3f}")
    finally:
        if worker is not None:
            stop(worker)
        deleted = await delete_topics_under(args.bootstrap, prefix)
        print(f"deleted {len(deleted)} topics under {prefix}")
        if args.keep_log:
            print(f"worker log: {workdir / 'worker.log'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--port", type=int, default=18890, help="the CAPA API's port")
    parser.add_argument("--profile", help="record the worker with py-spy into this raw file")
    parser.add_argument("--keep-log", action="store_true", help="keep the worker's log")
    asyncio.run(main(parser.parse_args()))
