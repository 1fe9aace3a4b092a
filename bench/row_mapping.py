"""Time the pure record-to-rows mapping of the metrics consumer (no Kafka, no ClickHouse).

    python -m bench.row_mapping [--records 50000] [--rounds 5]

Maps a mix of every family (as the demo publishes them, dossiers most) through
`map_record` and prints the best round's µs per record.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta, timezone

from schemas.binding import to_kafka_record
from services.common.deadletter import RecordPosition
from services.metrics.domain.rows import map_record
from tests.unit.metrics import factories as f

ICT = timezone(timedelta(hours=7))


def sample_values() -> list[tuple[RecordPosition, bytes]]:
    at, due = datetime(2026, 1, 5, 9, tzinfo=ICT), datetime(2026, 1, 9, tzinfo=ICT)
    events = [
        f.received("D1", "H56.01", at, due, channel="online", level=3),
        f.resolved("D1", "H56.01", at, at + timedelta(days=2), due),
        f.supplement_received("D1", "H56.01", at + timedelta(days=1), due + timedelta(days=3)),
        f.complaint_filed("C1", "H56.01", at),
        f.complaint_resolved("C1", "H56.01", at, True),
        f.rating("R1", "H56.01", at, 4),
        f.finding("A1", "H56", "H56.01", at, "F1", "major"),
        f.objective_set("O1", "H56.01", at, "online_share", 50, "2026"),
        f.capa("opened", "CAPA-1", "H56.01", at, 1),
    ]
    return [
        (RecordPosition(f"qms.{e.family}.v1", 0, n), to_kafka_record(e).value)
        for n, e in enumerate(events)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    samples = sample_values()
    records = [samples[n % len(samples)] for n in range(args.records)]
    best = float("inf")
    for _ in range(args.rounds):
        start = time.perf_counter()
        for position, value in records:
            map_record(position, value)
        best = min(best, time.perf_counter() - start)
    print(
        f"{args.records} records: {best * 1e6 / args.records:.2f} µs/record (best of {args.rounds})"
    )


if __name__ == "__main__":
    main()
