"""Benchmark: entries/s the ledger worker chains, against a raw aiokafka consume→produce loop.

    python bench/ledger.py --events 20000 [--bootstrap HOST:PORT] [--worker-module MODULE]

Same broker, same run, same records: N `dossier.received` events (the bytes intake stores)
are pre-produced to `<prefix>dossier.v1` under a fresh topic prefix. Then

1. baseline: one raw AIOKafkaConsumer (no group) reads the N records and, per fetched batch,
   sends one small record per event through an AIOKafkaProducer (acks=all, idempotent) and
   gathers the acks before fetching again — the least a consume→ack→produce loop costs;
2. the ledger worker (`python -m services.intake.ledger.worker`, a subprocess with its own
   consumer group and data dir) chains the same N records into `<prefix>ledger.v1`.

Both rates are measured the same way, on their output topic: (records − 1) / (timestamp of
the last record − timestamp of the first), so worker start-up and group join are left out.
Prints both rates and their ratio. Not a test: nothing asserts a speed. Every topic under the
prefix (the worker's heads topic included) is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from kafka_runs import partitions_of, pre_produce, producer, start_worker, stop  # noqa: E402

from schemas import parse_event, to_kafka_record  # noqa: E402
from services.common.topics import (  # noqa: E402
    TopicSpec,
    delete_topics_under,
    ensure_topics,
    load_topic_specs,
)

WAIT_S = 900.0  # a deadline, not a measurement: the pre-batching worker needs minutes


def make_records(count: int, run: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of N accepted dossier events, spread over agencies (so over partitions)."""
    base = datetime.now(UTC) - timedelta(days=2)
    records = []
    for n in range(count):
        received = base + timedelta(seconds=n)
        agency = f"H56.{n % 40:02d}"
        event = parse_event(
            {
                "specversion": "1.0",
                "id": f"{run}-{n:08d}",
                "source": "urn:vn:gov:h56:one-stop-shop",
                "type": "vn.qms.dossier.received.v1",
                "subject": f"{agency}-{run[:6]}-{n:07d}",
                "time": received.isoformat(),
                "agencycode": agency,
                "receivedtime": (received + timedelta(seconds=1)).isoformat(),
                "publisher": "one-stop-shop-h56",
                "data": {
                    "procedure_code": "1.001612.000.00.00.H56",
                    "channel": "online",
                    "online_level": 4,
                    "due_at": (received + timedelta(days=5)).isoformat(),
                    "applicant_id": f"applicant-{n:08x}",
                },
            }
        )
        record = to_kafka_record(event)
        records.append((record.key, record.value))
    return records


async def raw_baseline(bootstrap: str, source: str, target: str, count: int) -> None:
    """Consume `count` records of `source`; per fetched batch, produce one small record each."""
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
        seen = 0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            acks = []
            for tp, messages in batch.items():
                for message in messages:
                    value = f"{tp.partition}:{message.offset}".encode()
                    acks.append(await sender.send(target, value, key=message.key))
            await asyncio.gather(*acks)
            seen += len(acks)
    finally:
        await sender.stop()
        await consumer.stop()


def start_ledger(
    bootstrap: str, prefix: str, data_dir: Path, module: str, log_path: Path
) -> subprocess.Popen[bytes]:
    return start_worker(
        ["-m", module],
        bootstrap,
        prefix,
        data_dir,
        log_path,
        QMS_LEDGER_APP_ID=f"{prefix}ledger",
        QMS_LEDGER_TOPICS='["dossier.v1"]',
        QMS_LEDGER_SESSION_TIMEOUT_S="10",
    )


async def output_count(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def wait_for_output(
    bootstrap: str, topic: str, count: int, worker: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + WAIT_S
    while (found := await output_count(bootstrap, topic)) < count:
        if worker.poll() is not None:
            raise RuntimeError(f"ledger worker exited with {worker.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{found}/{count} ledger entries after {WAIT_S:.0f} s")
        await asyncio.sleep(0.5)


async def rate_of(bootstrap: str, topic: str) -> tuple[int, float]:
    """(records, records/s between the first and the last record's timestamp) of `topic`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        stamps: list[int] = []
        while sum(end.values()) > len(stamps):
            for messages in (await consumer.getmany(timeout_ms=1000)).values():
                stamps.extend(message.timestamp for message in messages)
        span_s = (max(stamps) - min(stamps)) / 1000
        return len(stamps), (len(stamps) - 1) / span_s if span_s > 0 else float("inf")
    finally:
        await consumer.stop()


async def main(args: argparse.Namespace) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    source, baseline_topic = f"{prefix}dossier.v1", f"{prefix}bench.raw.v1"
    specs = load_topic_specs(prefix=prefix)
    await ensure_topics(
        args.bootstrap, [*specs, TopicSpec(baseline_topic, 3, 1, {}, "baseline output")]
    )
    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    worker: subprocess.Popen[bytes] | None = None
    try:
        await pre_produce(args.bootstrap, source, make_records(args.events, prefix))
        print(f"pre-produced {args.events} events to {source}")

        await raw_baseline(args.bootstrap, source, baseline_topic, args.events)
        raw_count, raw_rate = await rate_of(args.bootstrap, baseline_topic)
        print(f"raw aiokafka consume→produce: {raw_count} records, {raw_rate:,.0f} records/s")

        started = time.monotonic()
        worker = start_ledger(
            args.bootstrap, prefix, workdir / "data", args.worker_module, workdir / "worker.log"
        )
        ledger_topic = f"{prefix}ledger.v1"
        await wait_for_output(args.bootstrap, ledger_topic, args.events, worker)
        wall = time.monotonic() - started
        stop(worker)
        count, rate = await rate_of(args.bootstrap, ledger_topic)
        print(
            f"ledger worker ({args.worker_module}): {count} entries, {rate:,.0f} entries/s "
            f"({wall:.1f} s wall from process start, start-up and group join included)"
        )
        print(f"ratio ledger/raw: {rate / raw_rate:.2f}")
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
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--worker-module", default="services.intake.ledger.worker")
    parser.add_argument("--keep-log", action="store_true", help="keep the worker's log")
    asyncio.run(main(parser.parse_args()))
