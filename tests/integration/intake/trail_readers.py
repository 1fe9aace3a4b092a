"""Trail readers in a process of their own (so that their HTTP work never slows the publishers
they are measured against): `python -m tests.integration.intake.trail_readers URL SUBJECTS
READERS SECONDS OUT_DIR` reads random trails for SECONDS, then writes each 200's body to
OUT_DIR and prints a JSON summary: every status, and the seconds each 200 took."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

import httpx

TOKEN = "dev-demo-province-token"


def subject_of(number: int) -> str:
    return f"H56.01-260302-R{number:04d}"


async def read_for(
    base_url: str, subjects: int, readers: int, seconds: float
) -> tuple[dict[str, list[float]], list[tuple[str, bytes]]]:
    bodies: list[tuple[str, bytes]] = []
    statuses: list[float] = []
    ok_seconds: list[float] = []
    chooser = random.Random(15)
    stop_at = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=readers)

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def reader() -> None:
            while time.monotonic() < stop_at:
                subject = subject_of(chooser.randrange(subjects))
                started = time.perf_counter()
                response = await client.get(f"/v1/audit/trail/{subject}", headers=headers)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    ok_seconds.append(time.perf_counter() - started)
                    bodies.append((subject, response.content))
                else:
                    await asyncio.sleep(0.05)  # an impatient client: far less than Retry-After

        await asyncio.gather(*(reader() for _ in range(readers)))
    return {"statuses": statuses, "ok_seconds": ok_seconds}, bodies


def main() -> None:
    # Readers are other machines in production; here their client work must not take CPU from
    # the publishers' client or from intake, or the test would measure this process.
    os.nice(10)
    base_url, subjects, readers, seconds, out = sys.argv[1:6]
    summary, bodies = asyncio.run(read_for(base_url, int(subjects), int(readers), float(seconds)))
    for number, (subject, body) in enumerate(bodies):
        (Path(out) / f"{number:05d}-{subject}.json").write_bytes(body)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
