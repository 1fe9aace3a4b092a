"""Metrics benchmark: ingestion and replay throughput, dashboard query latency at scale.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 .venv/bin/python bench/metrics.py \
        [--kafka-events 100000] [--query-events 10000000] [--repeat 10]

Prints, from one run:
1. ingestion events/s: events produced to Kafka (fresh topic prefix), consumed by the
   metrics worker (its group consumer, run in-process by the service's `create_app`),
   inserted into chDB, until /v1/stats counts them all; beside it the baseline of the same
   run: a plain AIOKafkaConsumer (no group, no commits, no dead-letter path) mapping the
   same records to the same rows (`map_record`) and inserting them with the same
   deduplication tokens into a fresh database, one insert round per fetch. Both steady
   rates are read the same way from what each stored: the raw events' `ingested_at` (one
   instant per insert), (events − those of the first insert) / (last insert − first), so
   start-up, group join and the first fetch are left out of both;
2. replay events/s: `qms metrics replay` of the same topics into a fresh database, against
   the same baseline;
3. p50 / p95 of dashboard questions over `--query-events` synthetic dossier events
   (generated inside ClickHouse, half received, half resolved), asked of the summed
   dossier counts (0019, the design in use), of the dossier marks under FINAL (0007,
   which they replaced), of the exact-set daily aggregate (0003, rebuilt in the bench
   database for the comparison) and of the raw events table (JSON in `data`), with the
   ratio and whether the answers are the same; once as
   inserted (unmerged parts, FINAL has to merge), once merged, once after ten inserts
   into the last two months, and once *while* inserts arrive: a second connection
   inserts redeliveries and new dossiers into the latest months about once a second,
   concurrently with the questions (p50 and p95; the answers are compared on a frozen
   copy afterwards, since live answers move with every insert).

A benchmark, not a test: figures depend on the machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from schemas.binding import to_kafka_record  # noqa: E402
from schemas.catalogue import topic_for  # noqa: E402
from services.common.deadletter import RecordPosition  # noqa: E402
from services.common.topics import (  # noqa: E402
    delete_topics_under,
    ensure_topics,
    load_topic_specs,
)
from services.metrics.adapters.clickhouse import ClickHouseStore  # noqa: E402
from services.metrics.config import MetricsSettings  # noqa: E402
from services.metrics.domain.kpi_catalogue import (  # noqa: E402
    DOSSIER_COUNT_GROUPS,
    DOSSIER_COUNT_TABLE,
    ON_TIME_SQL,
    count_sql,
)
from services.metrics.domain.rows import map_record  # noqa: E402
from services.metrics.domain.tokens import batch_token  # noqa: E402
from services.metrics.entrypoints.consumer import EVENT_TOPICS  # noqa: E402
from services.metrics.entrypoints.replay import replay_all  # noqa: E402

ICT = timezone(timedelta(hours=7))


async def produce_province(bootstrap: str, prefix: str, events: int) -> int:
    """Dossier events (received + resolved pairs) as intake would append them."""
    sys.path.insert(0, str(REPO))
    from tests.unit.metrics import factories as f

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
        compression_type=None,
    )
    await producer.start()
    sent = 0
    try:
        start = datetime(2026, 1, 1, 8, tzinfo=ICT)
        pending = []
        for n in range(events // 2):
            agency = f"H56.{n % 300:03d}"
            received_at = start + timedelta(minutes=n % (300 * 24 * 60))
            due = received_at + timedelta(days=10)
            resolved_at = received_at + timedelta(hours=(n * 7919) % (15 * 24))
            for e in (
                f.received(f"D{n}", agency, received_at, due),
                f.resolved(f"D{n}", agency, received_at, resolved_at, due),
            ):
                record = to_kafka_record(e)
                pending.append(
                    await producer.send(
                        topic_for(e.type, prefix), key=record.key, value=record.value
                    )
                )
                sent += 1
            if len(pending) > 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def steady_rate(store: ClickHouseStore) -> float:
    """Events/s of the raw events' inserts, the first left out (its duration is unknown)."""
    inserts = store.query(
        "SELECT ingested_at, count() FROM events GROUP BY ingested_at ORDER BY ingested_at"
    )
    span_s = (inserts[-1][0] - inserts[0][0]).total_seconds() if inserts else 0.0
    if span_s <= 0:
        raise SystemExit(f"{store.database}: one insert only, no steady rate: more --kafka-events")
    return sum(int(count) for _, count in inserts[1:]) / span_s


async def bench_ingestion(settings: MetricsSettings, expected: int) -> float:
    """Seconds from start until all counted by the read API (start-up included)."""
    import httpx
    import uvicorn

    from services.metrics.entrypoints.api import create_app

    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    started = time.perf_counter()
    task = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.port}",
            headers={"Authorization": f"Bearer {settings.read_token}"},
        ) as api:
            while True:
                await asyncio.sleep(0.25)
                try:
                    stats = (await api.get("/v1/stats", timeout=60)).json()
                except httpx.TransportError:
                    continue
                if stats["events"] >= expected:
                    return time.perf_counter() - started
    finally:
        server.should_exit = True
        await task


async def plain_ingestion(settings: MetricsSettings, expected: int) -> tuple[float, float, float]:
    """Seconds, CPU seconds and steady events/s for the plain baseline to store `expected`
    events: fetch, map every record, one insert round per fetch (raw events last), next fetch."""
    store = ClickHouseStore(settings.clickhouse_dsn, "plain").open()
    consumer = AIOKafkaConsumer(
        *(settings.topic(name) for name in EVENT_TOPICS),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    stored = 0
    cpu = time.process_time()
    started = time.perf_counter()
    try:
        while stored < expected:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=settings.batch_size)
            rows: dict[str, list[Any]] = {}
            positions = []
            for records in fetched.values():
                for record in records:
                    position = RecordPosition(record.topic, record.partition, record.offset)
                    positions.append(position)
                    for table, table_rows in map_record(position, record.value or b"").items():
                        rows.setdefault(table, []).extend(table_rows)
            if positions:
                await store.ainsert_batch(rows, batch_token(positions))
                stored += len(positions)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        return seconds, cpu, steady_rate(store)
    finally:
        await consumer.stop()
        store.close()


SYNTHETIC = """
    INSERT INTO {table} ({columns})
    SELECT {select}
    FROM (
        SELECT number, intDiv(number, 2) AS d, number % 2 = 1 AS is_resolved,
            toDateTime64('2025-01-01 00:00:00', 3, 'UTC')
                + toIntervalSecond(cityHash64(d) % (700 * 86400)) AS received_at,
            received_at + toIntervalDay(10) AS due,
            received_at + toIntervalSecond(cityHash64(d, 1) % (15 * 86400)) AS resolved_at,
            if(is_resolved, resolved_at, received_at) AS t,
            concat('H56.', leftPad(toString(d % 500), 3, '0')) AS agency,
            concat('1.00', toString(d % 200), '.000.00.00.H56') AS procedure,
            if(is_resolved, 'vn.qms.dossier.resolved.v1', 'vn.qms.dossier.received.v1') AS type
        FROM numbers({offset}, {count})
    )
"""
FACT_SELECT = (
    "'urn:bench', toString(number), type, concat('D', toString(d)), agency, "
    "procedure, t, toDate(addHours(t, 7)), if(d % 3 = 0, 'online', 'counter'), "
    "if(d % 3 = 0, 3, 0), due, if(is_resolved, received_at, NULL), "
    "if(is_resolved, 'approved', '')"
)
RAW_SELECT = (
    "'urn:bench', toString(number), type, 'dossier', concat('D', toString(d)), "
    "agency, t, t, 'bench', concat('{\"procedure_code\":\"', procedure, "
    "'\",\"due_at\":\"', formatDateTime(due, '%Y-%m-%dT%H:%i:%SZ'), '\"}'), "
    f"'{topic_for('vn.qms.dossier.received.v1')}', 0, number"
)

MARKS = "FROM dossier_marks_final"
COUNTS = f"FROM {DOSSIER_COUNT_TABLE}"
HAVING = DOSSIER_COUNT_GROUPS
# The design in use (0019): marks counted once when stored, summed per agency, procedure,
# measure and day; the columns as the read API and the views write them (kpi_catalogue).
COUNT_COLUMNS = (
    f"{count_sql('received', 'received')}, {count_sql('resolved', 'resolved')}, "
    f"{count_sql('on_time', 'on_time')}"
)

QUESTIONS = {
    # name: (SQL over the summed counts (the design in use), over the dossier marks under
    #        FINAL (0007, which it replaced), over the exact-set daily aggregate (0003,
    #        rebuilt here for the comparison), over the raw events)
    "per agency, all time": (
        f"SELECT agency, {COUNT_COLUMNS} {COUNTS} GROUP BY agency {HAVING} ORDER BY agency",
        "SELECT agency, countIf(measure = 'received') AS received, "
        "countIf(measure = 'resolved') AS resolved, countIf(measure = 'on_time') AS on_time "
        f"{MARKS} GROUP BY agency ORDER BY agency",
        "SELECT agency, uniqExactMerge(received_state) AS received, "
        "uniqExactMerge(resolved_state) AS resolved, uniqExactMerge(on_time_state) AS on_time "
        "FROM legacy_dossier_daily GROUP BY agency ORDER BY agency",
        "SELECT agency, uniqExactIf(subject, type = 'vn.qms.dossier.received.v1') AS received, "
        "uniqExactIf(subject, type = 'vn.qms.dossier.resolved.v1') AS resolved, "
        "uniqExactIf(subject, type = 'vn.qms.dossier.resolved.v1' AND time <= "
        "parseDateTime64BestEffort(JSONExtractString(data, 'due_at'), 3, 'UTC')) AS on_time "
        "FROM events WHERE family = 'dossier' GROUP BY agency ORDER BY agency",
    ),
    "per agency and month, one quarter": (
        "SELECT agency, month, received, resolved, on_time, late FROM kpi_dossiers_agency_month "
        "WHERE month >= '2026-01-01' AND month < '2026-04-01' ORDER BY agency, month",
        "SELECT agency, toStartOfMonth(day) AS month, countIf(measure = 'received') AS received, "
        "countIf(measure = 'resolved') AS resolved, countIf(measure = 'on_time') AS on_time, "
        f"resolved - on_time AS late {MARKS} WHERE day >= '2026-01-01' AND day < '2026-04-01' "
        "GROUP BY agency, month ORDER BY agency, month",
        "SELECT agency, toStartOfMonth(day) AS month, uniqExactMerge(received_state) AS received,"
        " uniqExactMerge(resolved_state) AS resolved, uniqExactMerge(on_time_state) AS on_time, "
        "resolved - on_time AS late FROM legacy_dossier_daily WHERE day >= '2026-01-01' AND "
        "day < '2026-04-01' GROUP BY agency, month ORDER BY agency, month",
        "SELECT agency, toStartOfMonth(toDate(addHours(time, 7))) AS month, "
        "uniqExactIf(subject, type = 'vn.qms.dossier.received.v1') AS received, "
        "uniqExactIf(subject, type = 'vn.qms.dossier.resolved.v1') AS resolved, "
        "uniqExactIf(subject, type = 'vn.qms.dossier.resolved.v1' AND time <= "
        "parseDateTime64BestEffort(JSONExtractString(data, 'due_at'), 3, 'UTC')) AS on_time, "
        "resolved - on_time AS late FROM events WHERE family = 'dossier' "
        "AND toDate(addHours(time, 7)) >= '2026-01-01' AND toDate(addHours(time, 7)) < "
        "'2026-04-01' GROUP BY agency, month ORDER BY agency, month",
    ),
    "daily series, one agency, one year": (
        f"SELECT toDateTime(day) AS time, {count_sql('received', 'received')}, "
        f"{count_sql('resolved', 'resolved')} {COUNTS} WHERE agency = 'H56.007' "
        f"AND day >= '2025-06-01' AND day < '2026-06-01' GROUP BY time {HAVING} ORDER BY time",
        "SELECT toDateTime(day) AS time, countIf(measure = 'received') AS received, "
        f"countIf(measure = 'resolved') AS resolved {MARKS} WHERE agency = 'H56.007' "
        "AND day >= '2025-06-01' AND day < '2026-06-01' GROUP BY time ORDER BY time",
        "SELECT toDateTime(day) AS time, uniqExactMerge(received_state) AS received, "
        "uniqExactMerge(resolved_state) AS resolved FROM legacy_dossier_daily "
        "WHERE agency = 'H56.007' AND day >= '2025-06-01' AND day < '2026-06-01' "
        "GROUP BY time ORDER BY time",
        "SELECT toDateTime(toDate(addHours(time, 7))) AS t, "
        "uniqExactIf(subject, type = 'vn.qms.dossier.received.v1') AS received, "
        "uniqExactIf(subject, type = 'vn.qms.dossier.resolved.v1') AS resolved FROM events "
        "WHERE family = 'dossier' AND agency = 'H56.007' AND toDate(addHours(time, 7)) >= "
        "'2025-06-01' AND toDate(addHours(time, 7)) < '2026-06-01' GROUP BY t ORDER BY t",
    ),
}

# The exact-set daily aggregate of migration 0003, which 0007 replaced: kept here only to
# print before/after figures from one run.
LEGACY = f"""
    CREATE TABLE legacy_dossier_daily
    ENGINE = AggregatingMergeTree ORDER BY (agency, procedure, day)
    AS SELECT agency, procedure, day,
        uniqExactStateIf(dossier, type = 'vn.qms.dossier.received.v1') AS received_state,
        uniqExactStateIf(dossier, type = 'vn.qms.dossier.resolved.v1') AS resolved_state,
        uniqExactStateIf(dossier, type = 'vn.qms.dossier.resolved.v1' AND {ON_TIME_SQL})
            AS on_time_state
    FROM dossier_events GROUP BY agency, procedure, day
"""

# Steady state: history merged, while inserts keep landing in the latest months. Here they
# redeliver a tenth of those months' facts each (through the materialized view), so the
# answers must stay the same as the replaced design's, which does not see them.
LIVE_INSERTS = 10
LIVE = """
    INSERT INTO dossier_events SELECT * FROM dossier_events
    WHERE day >= (SELECT toStartOfMonth(max(day)) - toIntervalMonth(1) FROM dossier_events)
      AND cityHash64(id) % {n} = {k}
"""


# While inserts arrive: what the worker does in production, about one insert a second, each
# a redelivery of a tenth of the latest two months' facts plus new dossiers received then.
NEW_DOSSIERS = 5_000
NEW = """
    INSERT INTO dossier_events (source, id, type, dossier, agency, procedure, time, day,
        channel, online_level, due_at, received_at, outcome)
    SELECT source, concat(id, '-live{round}'), type, concat(dossier, '-live{round}'), agency,
        procedure, time, day, channel, online_level, due_at, received_at, outcome
    FROM dossier_events
    WHERE day >= (SELECT toStartOfMonth(max(day)) FROM dossier_events)
      AND cityHash64(id) % 1000 < 2
    LIMIT {count}
"""


class LiveInserts:
    """A second connection inserting into the latest months about once a second."""

    def __init__(self, dsn: str, database: str, interval_s: float = 1.0) -> None:
        self.store = ClickHouseStore(dsn, database).open(migrate=False)
        self.interval_s = interval_s
        self.inserts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            k = self.inserts % LIVE_INSERTS
            self.store.command(LIVE.format(k=k, n=LIVE_INSERTS))
            self.store.command(NEW.format(round=self.inserts, count=NEW_DOSSIERS))
            self.inserts += 1
            self._stop.wait(max(0.0, self.interval_s - (time.perf_counter() - started)))

    def __enter__(self) -> LiveInserts:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.store.close()


def fill_synthetic(store: ClickHouseStore, events: int, chunk: int = 1_000_000) -> float:
    started = time.perf_counter()
    fact_cols = (
        "source, id, type, dossier, agency, procedure, time, day, channel, "
        "online_level, due_at, received_at, outcome"
    )
    raw_cols = (
        "source, id, type, family, subject, agency, time, received_time, publisher, "
        "data, topic, partition, offset"
    )
    for offset in range(0, events, chunk):
        count = min(chunk, events - offset)
        store.command(
            SYNTHETIC.format(
                table="dossier_events",
                columns=fact_cols,
                select=FACT_SELECT,
                offset=offset,
                count=count,
            )
        )
        store.command(
            SYNTHETIC.format(
                table="events", columns=raw_cols, select=RAW_SELECT, offset=offset, count=count
            )
        )
    return time.perf_counter() - started


def latency(store: ClickHouseStore, sql: str, repeat: int) -> tuple[float, float]:
    store.query(sql)  # warm-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        store.query(sql)
        samples.append(time.perf_counter() - started)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kafka-events", type=int, default=100_000)
    parser.add_argument("--query-events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--port", type=int, default=18083)
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="leave the chDB data directory (deleted at the end otherwise)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="qms-bench-"))
    try:
        await run(args, workdir)
    finally:
        if not args.keep_data:
            shutil.rmtree(workdir, ignore_errors=True)


async def run(args: argparse.Namespace, workdir: Path) -> None:
    """Every measurement of one run, against a chDB path under `workdir`."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    dsn = f"chdb://{workdir / 'chdb'}"
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = MetricsSettings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        data_dir=workdir,
        clickhouse_dsn=dsn,
        clickhouse_database="ingest",
        port=args.port,
        batch_size=10_000,
        flush_interval_s=1.0,
    )
    print(f"chDB at {workdir}, topics {prefix}*, Kafka {bootstrap}")

    if args.kafka_events:
        await ensure_topics(bootstrap, load_topic_specs(prefix))
        started = time.perf_counter()
        sent = await produce_province(bootstrap, prefix, args.kafka_events)
        produced_s = time.perf_counter() - started
        print(f"produced {sent:,} dossier events in {produced_s:.1f}s")
        plain_s, plain_cpu, plain_steady = await plain_ingestion(settings, sent)
        plain = sent / plain_s
        print(
            f"BASELINE: {sent:,} events plain aiokafka → map_record → ClickHouse in "
            f"{plain_s:.1f}s = {plain:,.0f} events/s, {plain_cpu / sent * 1e6:.0f} us CPU/event"
        )
        print(f"BASELINE steady: {plain_steady:,.0f} events/s between its first and last insert")
        seconds = await bench_ingestion(settings, sent)
        worker_store = ClickHouseStore(dsn, settings.clickhouse_database).open(migrate=False)
        try:
            steady = steady_rate(worker_store)
        finally:
            worker_store.close()
        print(
            f"INGESTION: {sent:,} events Kafka → metrics worker → ClickHouse in {seconds:.1f}s = "
            f"{sent / seconds:,.0f} events/s with consumer start-up and group join; "
            f"{steady:,.0f} events/s between its first and last insert"
        )
        replayed = await replay_all(settings.model_copy(update={"clickhouse_database": "replay"}))
        replay = replayed.records / replayed.seconds
        print(
            f"REPLAY: {replayed.records:,} records in {replayed.seconds:.1f}s = "
            f"{replay:,.0f} events/s"
        )
        print(f"ratio metrics ingestion/raw: {steady / plain_steady:.2f}  (steady state)")
        print(f"ratio metrics replay/raw: {replay / plain:.2f}")
        await delete_topics_under(bootstrap, prefix)

    if args.query_events:
        store = ClickHouseStore(dsn, "scale").open()
        fill_s = fill_synthetic(store, args.query_events)
        (rows,) = store.query("SELECT count() FROM events")[0]
        (marks,) = store.query("SELECT count() FROM dossier_marks")[0]
        print(
            f"generated {rows:,} raw dossier events (+ facts, {marks:,} dossier marks) in "
            f"{fill_s:.1f}s inside ClickHouse"
        )
        sizes = store.query(
            "SELECT table, sum(rows), formatReadableSize(sum(bytes_on_disk)) FROM system.parts "
            "WHERE database = currentDatabase() AND active AND table IN ('dossier_marks', "
            "'dossier_mark_index', 'dossier_mark_counts') GROUP BY table ORDER BY table"
        )
        print("stored: " + ", ".join(f"{t} {rows:,} rows {size}" for t, rows, size in sizes))
        started = time.perf_counter()
        store.command(LEGACY)
        print(
            f"built the replaced exact-set daily aggregate in {time.perf_counter() - started:.1f}s"
        )
        ask_questions(store, args.repeat, "dossier marks as inserted (unmerged parts)")
        started = time.perf_counter()
        store.command("OPTIMIZE TABLE dossier_marks FINAL")
        store.command("OPTIMIZE TABLE dossier_mark_counts FINAL")
        print(
            f"merged the dossier marks in {time.perf_counter() - started:.1f}s "
            "(what background merges reach)"
        )
        ask_questions(store, args.repeat, "dossier marks merged")
        started = time.perf_counter()
        for k in range(LIVE_INSERTS):
            store.command(LIVE.format(k=k, n=LIVE_INSERTS))
        print(
            f"{LIVE_INSERTS} inserts into the last two months in "
            f"{time.perf_counter() - started:.1f}s"
        )
        ask_questions(
            store,
            args.repeat,
            "dossier marks merged, then live inserts (redeliveries) in the last two "
            "months: FINAL merges those partitions; answers must not move",
        )
        with LiveInserts(dsn, "scale") as live:
            started = time.perf_counter()
            ask_questions(
                store,
                args.repeat,
                "while inserts arrive (a second connection, about one insert a second into "
                "the last two months: redeliveries and new dossiers)",
                compare=False,
            )
            seconds = time.perf_counter() - started
        print(f"{live.inserts} inserts landed during those {seconds:.1f}s")
        ask_questions(
            store,
            args.repeat,
            "right after the live inserts stopped (the new dossiers are only in the facts, "
            "the marks and the counts: same = counts and marks agree)",
            raw_too=False,
        )
        store.close()


def ask_questions(
    store: ClickHouseStore, repeat: int, state: str, compare: bool = True, raw_too: bool = True
) -> None:
    """p50/p95 of each question over the summed counts and the marks under FINAL, p50 over
    the replaced sets and the raw events; whether they answer the same (not while inserts
    arrive: each answer is of its instant)."""
    print(f"-- {state}")
    print(
        f"{'question':36} {'counts p50':>10} {'counts p95':>10} {'marks p50':>10} "
        f"{'marks p95':>10} {'sets p50':>10} {'raw p50':>10} {'marks/counts':>12}  same"
    )
    for name, (counts_sql, marks_sql, sets_sql, raw_sql) in QUESTIONS.items():
        if compare:
            counts, marks, sets, raw = (
                store.query(sql) for sql in (counts_sql, marks_sql, sets_sql, raw_sql)
            )
            # the replaced aggregate was built once and is not fed by the live inserts
            agree = counts == marks and ((sets == marks and sets == raw) or not raw_too)
            same = "yes" if agree else "NO"
        else:
            same = "-"
        c50, c95 = latency(store, counts_sql, repeat)
        m50, m95 = latency(store, marks_sql, repeat)
        s50, _ = latency(store, sets_sql, repeat)
        r50, _ = latency(store, raw_sql, repeat)
        print(
            f"{name:36} {c50 * 1000:8.1f}ms {c95 * 1000:8.1f}ms {m50 * 1000:8.1f}ms "
            f"{m95 * 1000:8.1f}ms {s50 * 1000:8.1f}ms {r50 * 1000:8.1f}ms "
            f"{m50 / c50:11.1f}x  {same}"
        )


if __name__ == "__main__":
    asyncio.run(main())
