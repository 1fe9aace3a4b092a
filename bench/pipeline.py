"""One benchmark for the whole pipeline: each stage beside its baseline, then end-to-end latency.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 .venv/bin/python bench/pipeline.py \
        [--stage-events 20000] [--capa-events 2000] [--rates 100,500] [--seconds 20] \
        [--workers 1|2] [--skip-stages] [--latency-csv FILE]

One run, one broker (every topic under fresh prefixes, deleted at the end):

1. **Stages** (skipped with --skip-stages): the stage benchmarks run one after another on the
   same broker, each against its own baseline measured in the same run, and their ratio rows
   are gathered into one table — intake (`bench/intake.py`: batch endpoint vs a raw
   idempotent producer; with --workers 2, two intake processes sharing the idempotency
   window), the ledger worker (`bench/ledger.py`: vs a raw consume→produce loop), the CAPA
   policies (`bench/capa.py`: --capa-events late dossiers, each opening a CAPA, through
   `qms capa serve` vs a raw aiokafka loop calling the same pure decision with the same two
   acked produces per event, batched; the worker is slow, hence fewer events), metrics
   ingestion and replay (`bench/metrics.py`: vs a plain aiokafka consumer inserting the
   same rows).
2. **End-to-end latency** at each offered load of --rates (events/s, for --seconds each): the
   whole stack — intake, the ledger worker, the CAPA service and the metrics service, each
   `--workers` times except metrics (the embedded ClickHouse admits one writer) — runs as
   `qms run` starts it; late `dossier.resolved` events, each for a procedure of its own so
   that each opens a CAPA, are posted one by one to `POST /v1/events` on a fixed schedule.
   From each event's acceptance (the `receivedtime` intake answers with its 202: the
   client may read the answer later than that on a busy machine) it measures, p50 and p95:
   - to its ledger entry: the entry's record timestamp on `ledger.v1` (the ledger worker's
     produce time; same machine, same clock);
   - to the CAPA it opened: the `capa.opened` record timestamp on `capa.v1`;
   - to being counted by the metrics read API: `/v1/stats` is polled every 250 ms and the
     k-th accepted event is visible once the count reaches k (counts grow in the order
     the events were accepted, give or take a partition: an approximation, said here).

Not a test: nothing asserts a speed; figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from services.capa.domain.policies import late_dossier_capa_id, resolution_month  # noqa: E402
from services.common.topics import (  # noqa: E402
    delete_topics_under,
    ensure_topics,
    load_topic_specs,
)
from services.runner.stack import ServiceProcess, qms_command  # noqa: E402

TOKEN = "dev-demo-province-token"  # the development publisher (deploy/intake/publishers.dev.yaml)
READ_TOKEN = "dev-national-reader-token"
AGENCY = "H56.01"
SOURCE = "urn:vn:gov:h56:one-stop-shop"
SENDERS = 64  # concurrent requests at most, as many as the client keeps connections
RATIO = re.compile(r"^ratio (?P<name>[\w ]+/raw): (?P<ratio>[\d.]+)", re.MULTILINE)


# --- 1. stages ---------------------------------------------------------------------------


def run_stage(argv: list[str], bootstrap: str) -> tuple[str, list[str]]:
    """Run one stage benchmark; its whole output and its ratio lines."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    result = subprocess.run(
        [sys.executable, *argv], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    output = result.stdout + (
        f"\n(exit {result.returncode})\n{result.stderr[-2000:]}" if result.returncode else ""
    )
    return output, [m.group(0) for m in RATIO.finditer(result.stdout)]


def stages(args: argparse.Namespace) -> None:
    events = str(args.stage_events)
    runs = {
        "intake": [
            "bench/intake.py",
            "--events",
            events,
            "--rounds",
            "3",
            "--replicas",
            str(args.workers),
            "--bootstrap",
            args.bootstrap,
        ],
        "ledger": ["bench/ledger.py", "--events", events, "--bootstrap", args.bootstrap],
        "capa": [
            "bench/capa.py",
            "--events",
            str(args.capa_events),
            "--port",
            str(args.port_base - 2),
            "--bootstrap",
            args.bootstrap,
        ],
        "metrics": [
            "bench/metrics.py",
            "--kafka-events",
            events,
            "--query-events",
            "0",
            "--port",
            str(args.port_base - 1),
        ],
    }
    rows: list[tuple[str, str]] = []
    for name, argv in runs.items():
        print(f"--- stage {name}: python {' '.join(argv)}", flush=True)
        output, ratios = run_stage(argv, args.bootstrap)
        print(output.rstrip(), flush=True)
        rows.extend((name, ratio) for ratio in ratios or ["no ratio printed (see above)"])
    print("\nstage ratios (stage / its baseline, same run, same broker):")
    for name, ratio in rows:
        print(f"  {name:8s} {ratio}")


# --- 2. end-to-end latency ------------------------------------------------------------------


@dataclass
class Offered:
    """The events of one offered load: when each was accepted, by id."""

    rate: int
    accepted_at: dict[str, float] = field(default_factory=dict)  # event id -> receivedtime (s)
    order: list[str] = field(default_factory=list)  # event ids in the order of their 202s
    capa_of: dict[str, str] = field(default_factory=dict)  # CAPA id -> event id
    refused: Counter[str] = field(default_factory=Counter)  # status (or error) -> count


def late_dossier(run: str, n: int, now: datetime) -> tuple[dict[str, Any], str]:
    """A late `dossier.resolved` for a procedure of its own, and the CAPA id it opens."""
    procedure = f"9.{run}.{n:06d}"
    resolved = now - timedelta(seconds=30)
    event = {
        "specversion": "1.0",
        "id": f"lat-{run}-{n}",
        "source": SOURCE,
        "type": "vn.qms.dossier.resolved.v1",
        "subject": f"LAT-{run}-{n}",
        "time": resolved.isoformat(),
        "agencycode": AGENCY,
        "data": {
            "procedure_code": procedure,
            "outcome": "approved",
            "received_at": (resolved - timedelta(days=12)).isoformat(),
            "due_at": (resolved - timedelta(days=2)).isoformat(),
        },
    }
    return event, late_dossier_capa_id(AGENCY, procedure, resolution_month(resolved))


async def offer(intake_urls: list[str], rate: int, seconds: float, run: str) -> Offered:
    """Post `rate` events a second for `seconds`, on a fixed schedule, round-robin over the
    intake processes; a send that falls behind the schedule is sent at once (no catch-up
    burst is hidden: its latency counts from its own 202)."""
    offered = Offered(rate)
    total = int(rate * seconds)
    clients = [
        httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {TOKEN}"},
            # Waiting for a free connection is part of the latency, never an error.
            timeout=httpx.Timeout(60, pool=None),
            limits=httpx.Limits(max_connections=64),
        )
        for url in intake_urls
    ]
    now = datetime.now(UTC)

    async def send(n: int, start: float) -> None:
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        event, capa_id = late_dossier(run, n, now)
        try:
            response = await clients[n % len(clients)].post("/v1/events", json=event)
        except httpx.HTTPError as error:
            offered.refused[type(error).__name__] += 1
            return
        if response.status_code != 202:
            offered.refused[str(response.status_code)] += 1
            return
        # Intake's own time of acceptance: the client may read the 202 later than that.
        received = datetime.fromisoformat(response.json()["receivedtime"])
        offered.accepted_at[event["id"]] = received.timestamp()
        offered.order.append(event["id"])  # the order of the answers, not quite of the 202s
        offered.capa_of[capa_id] = event["id"]

    # A fixed set of senders, each taking the next scheduled event: thousands of requests
    # queued at once inside the HTTP client cost the client more than the server.
    numbers = iter(range(total))

    async def sender(start: float) -> None:
        for n in numbers:
            await send(n, start)

    try:
        start = time.monotonic()
        await asyncio.gather(*(sender(start) for _ in range(SENDERS)))
    finally:
        for client in clients:
            await client.aclose()
    return offered


async def record_times(
    bootstrap: str, topic: str, key_of: Any, wanted: set[str], deadline_s: float
) -> dict[str, float]:
    """key -> record timestamp (epoch s) of the first record of `topic` that `key_of` names
    with a wanted key (the topic also holds the records of the earlier offered loads)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    seen: dict[str, float] = {}
    try:
        deadline = time.monotonic() + deadline_s
        while len(seen) < len(wanted) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    key = key_of(record)
                    if key in wanted and key not in seen:
                        seen[key] = record.timestamp / 1000
    finally:
        await consumer.stop()
    return seen


def ledger_entry_id(record: Any) -> str | None:
    entry = json.loads(record.value)
    return entry.get("id") if entry.get("source") == SOURCE else None


def opened_capa_id(record: Any) -> str | None:
    event = json.loads(record.value)
    return event["subject"] if event.get("type") == "vn.qms.capa.opened.v1" else None


@dataclass
class CountWatch:
    """The epoch second at which `/v1/stats` first counted each event, from the start of an
    offered load: polled while the events are being sent, not after."""

    metrics_url: str
    baseline: int  # events counted before this offered load
    target: int | None = None  # set once the offered load knows how many were accepted
    reached: list[float] = field(default_factory=list)

    async def watch(self, deadline_s: float) -> None:
        async with httpx.AsyncClient(
            base_url=self.metrics_url, headers={"Authorization": f"Bearer {READ_TOKEN}"}
        ) as api:
            deadline = time.monotonic() + deadline_s
            while time.monotonic() < deadline:
                if self.target is not None and len(self.reached) >= self.target:
                    return
                stats = (await api.get("/v1/stats", timeout=10)).raise_for_status().json()
                at = time.time()
                new = stats["published_events"] - self.baseline - len(self.reached)
                self.reached.extend([at] * max(new, 0))
                # Not faster: each question takes the embedded engine's lock inserts need.
                await asyncio.sleep(0.25)


def percentiles(latencies: list[float]) -> str:
    if not latencies:
        return "none measured"
    ms = sorted(1000 * s for s in latencies)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"p50 {statistics.median(ms):7.0f} ms  p95 {p95:7.0f} ms  (n={len(ms)})"


def write_latencies(
    path: Path, rate: int, offered: Offered, ledger_at: dict[str, float], capa_at: dict[str, float]
) -> None:
    """One row per accepted event: when intake accepted it, then its ledger entry and CAPA
    opened latencies in seconds (empty when not seen), to see when the slow ones happen."""
    capa_by_event = {e: capa_at.get(c) for c, e in offered.capa_of.items()}
    new = not path.exists()
    with path.open("a") as out:
        if new:
            out.write("rate,event,accepted_at,to_ledger_s,to_capa_s\n")
        for event in offered.order:
            at = offered.accepted_at[event]
            ledger, capa = ledger_at.get(event), capa_by_event.get(event)
            out.write(
                f"{rate},{event},{at:.3f},"
                f"{'' if ledger is None else f'{ledger - at:.3f}'},"
                f"{'' if capa is None else f'{capa - at:.3f}'}\n"
            )


def start_stack(
    args: argparse.Namespace, prefix: str, workdir: Path
) -> tuple[list[ServiceProcess], list[str], str]:
    """Intake, ledger and CAPA × --workers, metrics once: the processes and the URLs."""
    base = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": args.bootstrap,
        "QMS_TOPIC_PREFIX": prefix,
        "QMS_ENV": "development",
        "QMS_LOG_LEVEL": "WARNING",
        "QMS_INTAKE_SHARED_WINDOW": "true" if args.workers > 1 else "false",
        "QMS_CAPA_APP_ID": f"{prefix}capa",
        "QMS_LEDGER_APP_ID": f"{prefix}ledger",
    }
    processes: list[ServiceProcess] = []

    def start(name: str, argv: list[str], port: int | None, health: str = "") -> str:
        """Start one process with a data directory of its own; its URL ("" without a port)."""
        url = f"http://127.0.0.1:{port}" if port is not None else ""
        process = ServiceProcess(
            name, qms_command(*argv), url + health if url else None, workdir / f"{name}.log"
        )
        process.start({**base, "QMS_DATA_DIR": str(workdir / name)})
        processes.append(process)
        return url

    port = args.port_base
    metrics_url = start("metrics", ["metrics", "serve", "--port", str(port)], port, "/healthz")
    intake_urls = []
    for n in range(args.workers):
        capa_port, intake_port = port + 1 + 2 * n, port + 2 + 2 * n
        start(f"capa-{n}", ["capa", "serve", "--port", str(capa_port)], capa_port, "/readyz")
        start(f"ledger-{n}", ["audit", "ledger-worker"], None)
        intake = ["intake", "serve", "--port", str(intake_port)]
        intake_urls.append(start(f"intake-{n}", intake, intake_port, "/readyz"))
    for process in processes:
        process.wait_healthy(timeout=180)
    return processes, intake_urls, metrics_url


async def latency(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"benchpipe{run}."
    await ensure_topics(args.bootstrap, load_topic_specs(prefix=prefix))
    workdir = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    processes: list[ServiceProcess] = []
    try:
        processes, intake_urls, metrics_url = start_stack(args, prefix, workdir)
        print(
            f"\nstack up: intake, ledger, CAPA ×{args.workers}, metrics ×1 (topics {prefix}*)",
            flush=True,
        )
        counted_before = 0
        for rate in args.rates:
            wait_s = 120.0 + 2 * args.seconds
            counts = CountWatch(metrics_url, counted_before)
            watching = asyncio.create_task(counts.watch(wait_s + args.seconds))
            offered = await offer(intake_urls, rate, args.seconds, f"{run}r{rate}")
            accepted = len(offered.order)
            counts.target = accepted
            ledger_at, capa_at, _ = await asyncio.gather(
                record_times(
                    args.bootstrap,
                    f"{prefix}ledger.v1",
                    ledger_entry_id,
                    set(offered.order),
                    wait_s,
                ),
                record_times(
                    args.bootstrap, f"{prefix}capa.v1", opened_capa_id, set(offered.capa_of), wait_s
                ),
                watching,
            )
            counted_at = counts.reached
            counted_before += accepted
            to_ledger = [
                ledger_at[i] - offered.accepted_at[i] for i in offered.order if i in ledger_at
            ]
            to_capa = [
                capa_at[c] - offered.accepted_at[e]
                for c, e in offered.capa_of.items()
                if c in capa_at
            ]
            # The k-th event counted is matched with the k-th accepted (by receivedtime).
            accepted_times = sorted(offered.accepted_at.values())
            to_metrics = [at - t for t, at in zip(accepted_times, counted_at, strict=False)]
            print(
                f"offered {rate} ev/s for {args.seconds:.0f} s: {accepted} accepted, "
                f"{sum(offered.refused.values())} refused {dict(offered.refused) or ''}"
            )
            print(f"  202 → ledger entry     {percentiles(to_ledger)}")
            print(f"  202 → CAPA opened      {percentiles(to_capa)}")
            if args.latency_csv:
                write_latencies(args.latency_csv, rate, offered, ledger_at, capa_at)
            print(f"  202 → counted by API   {percentiles(to_metrics)}", flush=True)
    finally:
        for process in reversed(processes):
            process.stop()
        deleted = await delete_topics_under(args.bootstrap, prefix)
        print(f"deleted {len(deleted)} topics under {prefix}")
        if args.keep_logs:
            print(f"logs: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage-events", type=int, default=20_000)
    parser.add_argument(
        "--capa-events", type=int, default=2_000, help="late dossiers for the CAPA stage"
    )
    parser.add_argument(
        "--rates", type=lambda s: [int(r) for r in s.split(",")], default=[100, 500]
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="per offered load")
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2))
    parser.add_argument("--skip-stages", action="store_true")
    parser.add_argument("--port-base", type=int, default=18900)
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument(
        "--latency-csv", type=Path, help="append each event's latencies to this CSV file"
    )
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    args = parser.parse_args()
    print(f"broker {args.bootstrap}, cores {os.cpu_count()}, workers {args.workers}")
    if not args.skip_stages:
        stages(args)
    asyncio.run(latency(args))


if __name__ == "__main__":
    main()
