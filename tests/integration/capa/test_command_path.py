"""The command path on the real broker: more than 10,000 HTTP commands, every one answered.

The faust `agent.ask` reply path it replaces stopped after ~3,300 commands (every further
command 503 until restart). Here 20 CAPAs are opened by policy, then 10,500 commands go
through the HTTP API: per CAPA one correction that applies, the rest stale (409) or illegal
(422). None may be 503, and readiness still round-trips afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.capa.domain.policies import capa_id_for
from services.common.deadletter import CONSUMER, REASON, TOPIC
from tests.integration.capa.conftest import CapaProcess, bearer, eventually, finding, produce_raw
from tests.support import dead_letter_headers

pytestmark = pytest.mark.integration

CAPAS = 20
COMMANDS = 10_500
CONCURRENCY = 16
FINDING_SOURCE = "urn:vn:gov:h56:audit-tool"


async def test_more_than_ten_thousand_commands_are_all_answered(
    capa_service: CapaProcess, kafka_bootstrap: str, capa_prefix: str
) -> None:
    event_ids = [f"finding-many-{n}" for n in range(CAPAS)]
    await produce_raw(kafka_bootstrap, capa_prefix, [finding(e) for e in event_ids])
    capa_ids = [capa_id_for("audit_finding", FINDING_SOURCE, e) for e in event_ids]
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=capa_service.url, timeout=60, limits=limits) as api:

        async def all_opened() -> bool:
            for capa_id in capa_ids:
                response = await api.get(f"/v1/capas/{capa_id}", headers=bearer("viewer"))
                if response.status_code != 200:
                    return False
            return True

        await eventually(all_opened)
        statuses: Counter[int] = Counter()
        unexpected: list[str] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(COMMANDS):
            queue.put_nowait(number)

        async def sender(session: aiohttp.ClientSession) -> None:
            while not queue.empty():
                number = queue.get_nowait()
                capa_id = capa_ids[number % CAPAS]
                # Later rounds are stale (version 1 again: 409) or, every third, at the
                # current version 2 (422: the correction is recorded already).
                version = 1 if number % 3 else 2
                async with session.post(
                    f"/v1/capas/{capa_id}/correction",
                    json={"expected_version": version, "reason": "r", "correction": "c"},
                    headers=bearer("owner"),
                ) as response:
                    statuses[response.status] += 1
                    if response.status not in {200, 409, 422}:
                        unexpected.append(f"{response.status} {(await response.text())[:200]}")

        # The first round alone, so that each CAPA's one applicable correction applies.
        started = time.perf_counter()
        for number in range(CAPAS):
            queue.get_nowait()
            response = await api.post(
                f"/v1/capas/{capa_ids[number]}/correction",
                json={"expected_version": 1, "reason": "r", "correction": "c"},
                headers=bearer("owner"),
            )
            statuses[response.status_code] += 1
            assert response.status_code == 200, response.text
        # aiohttp (faust's own HTTP client) costs the client a third of httpx's CPU per
        # request, and the client shares the machine with the worker.
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(capa_service.url, connector=connector) as session:
            await asyncio.gather(*(sender(session) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started

        print(
            f"\n{COMMANDS} HTTP commands in {elapsed:.1f} s: {COMMANDS / elapsed:.0f} commands/s "
            f"({CONCURRENCY} concurrent clients), answers {dict(sorted(statuses.items()))}"
        )
        assert not unexpected, unexpected[:5]
        assert sum(statuses.values()) == COMMANDS
        assert statuses[200] == CAPAS  # exactly one applied per CAPA, none twice
        assert statuses[409] > 0 and statuses[422] > 0
        assert (await api.get("/readyz")).status_code == 200
        for capa_id in capa_ids:
            body = (await api.get(f"/v1/capas/{capa_id}", headers=bearer("viewer"))).json()
            assert body["capa"]["version"] == 2
            assert [e["type"] for e in body["history"]] == [
                "vn.qms.capa.opened.v1",
                "vn.qms.capa.correction_recorded.v1",
            ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("expected_version", True), ("expected_version", "1"), ("expected_version", 1.5)],
)
async def test_a_boolean_or_a_string_is_not_a_version(
    capa_service: CapaProcess, field: str, value: object
) -> None:
    async with httpx.AsyncClient(base_url=capa_service.url, timeout=30) as api:
        response = await api.post(
            "/v1/capas/CAPA-any/correction",
            json={"reason": "r", "correction": "c", field: value},
            headers=bearer("owner"),
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]


@pytest.mark.parametrize(
    "as_of",
    [
        "9999-12-31T23:59:59-07:00",
        "0999-12-31T00:00:00Z",
        "0001-01-01T00:00:00+08:00",
        "2026-03-05T00:00:00",  # no offset
        "2026-13-01T00:00:00Z",
    ],
)
async def test_as_of_at_the_edges_of_the_calendar_is_422_naming_it(
    capa_service: CapaProcess, as_of: str
) -> None:
    async with httpx.AsyncClient(base_url=capa_service.url, timeout=30) as api:
        response = await api.get(
            "/v1/capas/CAPA-any", params={"as_of": as_of}, headers=bearer("viewer")
        )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["query.as_of"]


async def test_an_unreadable_command_is_dead_lettered_and_the_partition_flows(
    capa_service: CapaProcess, kafka_bootstrap: str, capa_prefix: str
) -> None:
    await produce_raw(kafka_bootstrap, capa_prefix, [finding("finding-poison-cmd")])
    capa_id = capa_id_for("audit_finding", FINDING_SOURCE, "finding-poison-cmd")
    async with httpx.AsyncClient(base_url=capa_service.url, timeout=30) as api:

        async def opened() -> bool:
            got = await api.get(f"/v1/capas/{capa_id}", headers=bearer("viewer"))
            return got.status_code == 200

        await eventually(opened)
        # Poison on the CAPA's own partition, ahead of the next HTTP command.
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for value in (b"not json", b'{"command": "no_such_command", "body": {}}'):
                await producer.send_and_wait(
                    f"{capa_prefix}capa.commands.v1", value, key=capa_id.encode()
                )
        finally:
            await producer.stop()
        applied = await api.post(
            f"/v1/capas/{capa_id}/correction",
            json={"expected_version": 1, "reason": "r", "correction": "c"},
            headers=bearer("owner"),
        )
        assert applied.status_code == 200, applied.text

    async def both_dead_lettered() -> list[dict[str, str]]:
        letters = await dead_letter_headers(
            kafka_bootstrap, f"{capa_prefix}deadletter.v1", 2, key=capa_id.encode()
        )
        return letters if len(letters) == 2 else []

    letters = await eventually(both_dead_lettered)
    for letter in letters:
        assert letter[TOPIC] == f"{capa_prefix}capa.commands.v1"
        assert letter[CONSUMER] == f"{capa_prefix}capa"
        assert "unreadable command" in letter[REASON]
