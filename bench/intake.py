"""Benchmark: events/s through the intake batch endpoint against a raw aiokafka producer.

    python bench/intake.py --events 20000 [--batch 500] [--clients 4] [--bootstrap HOST:PORT]
    python bench/intake.py --replicas 2     # N intake processes sharing the window

Same broker, same run, same events: the intake app runs under uvicorn in a subprocess on a
free port (topics under a fresh prefix); N events go through `POST /v1/events/batch`
(batches of --batch, --clients keep-alive connections sending pre-serialised requests,
spread over the --replicas processes, which then run with QMS_INTAKE_SHARED_WINDOW=true),
then the same N records, with
the bytes intake wrote, go through one raw AIOKafkaProducer (acks=all, idempotent, same
linger and batch size). Prints both rates and their ratio. Not a test: nothing asserts a
speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from pydantic_core import to_json

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from schemas import parse_event, to_kafka_record, topic_for  # noqa: E402
from services.common.topics import (  # noqa: E402
    delete_topics_under,
    ensure_topics,
    load_topic_specs,
)
from services.intake.config import IntakeSettings  # noqa: E402

COUNTS = re.compile(
    rb'^\{"accepted":(?P<accepted>\d+),"duplicates":\d+,"rejected":(?P<rejected>\d+)'
)
TOKEN = "dev-demo-province-token"  # development publisher from deploy/intake/publishers.dev.yaml


def make_events(count: int, run: str) -> list[dict[str, Any]]:
    """Realistic dossier.received events, spread over agencies (so over partitions)."""
    base = datetime.now(UTC) - timedelta(days=2)
    events = []
    for n in range(count):
        received = base + timedelta(seconds=n)
        agency = f"H56.{n % 40:02d}"
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": f"{run}-{n:08d}",
            "source": "urn:vn:gov:h56:one-stop-shop",
            "type": "vn.qms.dossier.received.v1",
            "subject": f"{agency}-{run[:6]}-{n:07d}",
            "time": received.isoformat(),
            "datacontenttype": "application/json",
            "agencycode": agency,
            "data": {
                "procedure_code": "1.001612.000.00.00.H56",
                "channel": "online" if n % 3 else "counter",
                "online_level": 4 if n % 3 else None,
                "due_at": (received + timedelta(days=5)).isoformat(),
                "applicant_id": f"applicant-{n:08x}",
                "officer_id": f"officer-{n % 97:04d}",
            },
        }
        events.append(event)
    for event in events:  # `online_level: null` is valid, but send what a publisher would
        if event["data"]["online_level"] is None:
            del event["data"]["online_level"]
    return events


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_intake(
    bootstrap: str, prefix: str, port: int, admission_workers: int, shared_window: bool = False
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QMS_INTAKE_SHARED_WINDOW": str(shared_window).lower(),
        "QMS_INTAKE_ADMISSION_WORKERS": str(admission_workers),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "QMS_TOPIC_PREFIX": prefix,
        "QMS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO_ROOT),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "services.intake.entrypoints.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(command, env=env, cwd=REPO_ROOT)


async def wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"intake exited with {process.returncode}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("intake did not become ready")


def batch_request(port: int, body: bytes) -> bytes:
    """The whole HTTP/1.1 request for one batch, serialised before the clock starts."""
    head = (
        f"POST /v1/events/batch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/cloudevents-batch+json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length (what uvicorn sends)."""
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = None
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError("response without Content-Length")
    return status, await reader.readexactly(length)


async def through_intake(
    ports: list[int], requests: list[bytes], clients: int, expected: int
) -> float:
    """Seconds to publish every batch; checks every event was accepted.

    A minimal keep-alive HTTP/1.1 client on asyncio streams (`clients` connections)
    sending pre-serialised requests: the client shares the machine's CPU with intake and
    the broker, and httpx cost ~12 us of CPU per event here, a third of intake's own.
    """
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    accepted = 0

    async def client_loop(port: int) -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                writer.write(queue.get_nowait())
                status, content = await read_response(reader)
                if status != 200:
                    raise RuntimeError(f"batch refused: {status} {content[:500]!r}")
                # The counts open the body: read them without decoding 500 results.
                head = COUNTS.match(content)
                if head is None or int(head["rejected"]):
                    raise RuntimeError(f"events rejected: {content[:500]!r}")
                accepted += int(head["accepted"])
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(ports[n % len(ports)]) for n in range(clients)))
    elapsed = time.perf_counter() - started
    if accepted != expected:
        raise RuntimeError(f"intake accepted {accepted} of {expected} events")
    return elapsed


async def through_raw_producer(
    settings: IntakeSettings,
    records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]],
    *,
    gather: bool = False,
) -> float:
    """Seconds for one idempotent acks=all producer to append every record.

    Every send is enqueued first, then the acknowledgements are awaited in order (what
    intake does, and the fastest way found); `gather=True` awaits them with one
    asyncio.gather instead, the usual idiom, which costs a callback per record.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.producer_linger_ms,
        max_batch_size=settings.producer_max_batch_bytes,
    )
    await producer.start()
    try:
        # Warm the metadata so both paths start with a known topic.
        await producer.partitions_for(records[0][0])
        started = time.perf_counter()
        futures = [
            await producer.send(topic, value=value, key=key, headers=headers)
            for topic, key, value, headers in records
        ]
        if gather:
            await asyncio.gather(*futures)
        else:
            for future in futures:
                await future
        return time.perf_counter() - started
    finally:
        await producer.stop()


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process and its children (Linux /proc): the intake server
    with its admission workers, to see whether it was CPU-bound."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # a process that ended meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def run_queue_seconds(pid: int) -> float:
    """Time the server's event-loop thread was runnable but not running (Linux schedstat):
    tells a server starved of CPU by other processes from one waiting on Kafka."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def prepare(
    count: int, batch: int, run: str, raw_prefix: str
) -> tuple[list[bytes], list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]]:
    """Batch bodies for intake, and the records intake would write, for the raw producer."""
    events = make_events(count, run)
    bodies = [to_json(events[i : i + batch]) for i in range(0, len(events), batch)]
    now = datetime.now(UTC)
    records = []
    for raw in events:
        event = parse_event(raw).model_copy(
            update={"receivedtime": now, "publisher": "demo-province"}
        )
        record = to_kafka_record(event)
        records.append(
            (topic_for(event.type, raw_prefix), record.key, record.value, record.headers)
        )
    return bodies, records


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per path and round")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="intake processes (more than one: with the shared idempotency window); the "
        "clients are spread over them",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternate intake and raw this many times; medians are reported (a shared "
        "machine is noisy)",
    )
    parser.add_argument(
        "--admission-workers",
        type=int,
        default=0,
        help="QMS_INTAKE_ADMISSION_WORKERS for the intake under test (0: validate in the "
        "event loop)",
    )
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    args = parser.parse_args()

    run = uuid.uuid4().hex[:10]
    prefix = f"bench{run}."
    raw_prefix = f"benchraw{run}."
    for topic_prefix in (prefix, raw_prefix):
        await ensure_topics(args.bootstrap, load_topic_specs(prefix=topic_prefix))
    settings = IntakeSettings(KAFKA_BOOTSTRAP_SERVERS=args.bootstrap, QMS_TOPIC_PREFIX=raw_prefix)

    ports = [free_port() for _ in range(args.replicas)]
    shared = args.replicas > 1
    processes = [
        start_intake(args.bootstrap, prefix, port, args.admission_workers, shared) for port in ports
    ]
    intake_rates: list[float] = []
    raw_rates: list[float] = []
    gather_rates: list[float] = []
    intake_cpu_us: list[float] = []
    raw_cpu_us: list[float] = []
    mean_value = 0.0
    try:
        await asyncio.gather(
            *(
                wait_ready(f"http://127.0.0.1:{port}", process, timeout_s=60)
                for port, process in zip(ports, processes, strict=True)
            )
        )
        for round_number in range(1, args.rounds + 1):
            bodies, records = prepare(args.events, args.batch, f"{run}r{round_number}", raw_prefix)
            requests = [batch_request(ports[0], body) for body in bodies]
            mean_value = sum(len(r[2]) for r in records) / len(records)
            cpu_before = sum(process_cpu_seconds(p.pid) for p in processes)
            queued_before = sum(run_queue_seconds(p.pid) for p in processes)
            client_cpu_before = time.process_time()
            intake_s = await through_intake(ports, requests, args.clients, args.events)
            server_cpu = sum(process_cpu_seconds(p.pid) for p in processes) - cpu_before
            server_queued = sum(run_queue_seconds(p.pid) for p in processes) - queued_before
            client_cpu = time.process_time() - client_cpu_before
            raw_cpu_before = time.process_time()
            raw_s = await through_raw_producer(settings, records)
            raw_cpu = time.process_time() - raw_cpu_before
            gather_rates.append(
                args.events / await through_raw_producer(settings, records, gather=True)
            )
            intake_cpu_us.append(server_cpu / args.events * 1e6)
            raw_cpu_us.append(raw_cpu / args.events * 1e6)
            intake_rates.append(args.events / intake_s)
            raw_rates.append(args.events / raw_s)
            print(
                f"round {round_number}: intake {intake_rates[-1]:8.0f} ev/s  "
                f"raw {raw_rates[-1]:8.0f} ev/s  ratio {intake_rates[-1] / raw_rates[-1]:.2f}  "
                f"(raw with gather {gather_rates[-1]:.0f} ev/s)  "
                f"(intake server CPU {server_cpu:.2f} s = "
                f"{100 * server_cpu / intake_s:.0f}% of a core, runnable but waiting for a core "
                f"{100 * server_queued / intake_s:.0f}% of the time; "
                f"HTTP clients {client_cpu:.2f} s; "
                f"CPU/event intake {intake_cpu_us[-1]:.0f} us, raw {raw_cpu_us[-1]:.0f} us)"
            )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        for run_prefix in (prefix, raw_prefix):
            await delete_topics_under(args.bootstrap, run_prefix)

    intake_rate = statistics.median(intake_rates)
    raw_rate = statistics.median(raw_rates)
    print(
        f"events: {args.events} per path per round  rounds: {args.rounds}  batch: {args.batch}  "
        f"clients: {args.clients}  intake processes: {args.replicas}"
        f"{' (shared window)' if shared else ''}  admission workers: {args.admission_workers}  "
        f"mean record value: {mean_value:.0f} B  "
        f"broker: {args.bootstrap}  cores: {os.cpu_count()}"
    )
    print(f"intake (POST /v1/events/batch): {intake_rate:10.0f} events/s (median)")
    print(f"raw producer, in-order awaits:  {raw_rate:10.0f} events/s (median)")
    gather_rate = statistics.median(gather_rates)
    print(f"raw producer, asyncio.gather:   {gather_rate:10.0f} events/s (median)")
    # Each round measures intake and raw back to back, so the ratio of a round is less
    # exposed to the machine's load drifting between rounds than the ratio of medians.
    round_ratio = statistics.median(i / r for i, r in zip(intake_rates, raw_rates, strict=True))
    print(
        f"ratio intake/raw: {intake_rate / raw_rate:.2f}  "
        f"(median of the rounds' ratios: {round_ratio:.2f}; "
        f"against the gather idiom: {intake_rate / gather_rate:.2f})"
    )
    # Less sensitive to a busy machine than wall-clock rates: CPU spent per event by the
    # intake server (HTTP, validation, auth, idempotency, producer) and by the raw producer.
    intake_cpu, raw_cpu = statistics.median(intake_cpu_us), statistics.median(raw_cpu_us)
    print(
        f"CPU per event (median): intake server {intake_cpu:.0f} us, raw producer "
        f"{raw_cpu:.0f} us; CPU-efficiency ratio raw/intake: {raw_cpu / intake_cpu:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
