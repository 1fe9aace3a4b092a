"""Throughput of late-dossier events to linked CAPAs: one run, one measurement (not a test).

    PYTHONPATH=. .venv/bin/python tests/integration/capa/bench_late_dossiers.py PREFIX N URL

with a CAPA service already serving URL on topics PREFIX (see docs/capa.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer

from schemas.binding import to_kafka_record
from schemas.catalogue import parse_event


async def main(prefix: str, n: int, url: str) -> None:
    due = datetime(2026, 11, 3, 10, tzinfo=UTC)
    p = AIOKafkaProducer(
        bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        acks="all",
        linger_ms=5,
    )
    await p.start()
    t0 = time.monotonic()
    for i in range(n):
        ev = parse_event(
            {
                "id": f"b-{i}",
                "source": "urn:bench",
                "type": "vn.qms.dossier.resolved.v1",
                "subject": f"D-{i}",
                "time": (due + timedelta(hours=1 + i % 48)).isoformat(),
                "agencycode": f"H{50 + i % 20}.01",
                "data": {
                    "procedure_code": f"P{i % 10}",
                    "outcome": "approved",
                    "received_at": (due - timedelta(days=5)).isoformat(),
                    "due_at": due.isoformat(),
                },
            }
        )
        r = to_kafka_record(ev)
        await p.send(prefix + "dossier.v1", key=r.key, value=r.value, headers=r.headers)
    await p.flush()
    await p.stop()
    t1 = time.monotonic()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": "Bearer dev-viewer-token"}
    ) as c:
        while True:
            body = (await c.get("/v1/capas", params={"limit": 1000})).json()
            refs = sum(len(x["references"]) for x in body["items"])
            if refs >= n:
                break
            await asyncio.sleep(0.5)
    t2 = time.monotonic()
    print(
        json.dumps(
            {
                "events": n,
                "capas": body["total"],
                "references": refs,
                "produce_s": round(t1 - t0, 2),
                "until_all_linked_s": round(t2 - t0, 2),
                "events_per_s": round(n / (t2 - t0), 1),
            }
        )
    )


asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
