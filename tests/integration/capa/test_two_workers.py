"""Two CAPA workers in one consumer group: every CAPA is read and commanded through either API.

Each worker owns some partitions of the commands topic and of the table; a request for a CAPA
the other one owns is forwarded there (its URL from faust's assignor) and answered from there.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.capa.domain.policies import capa_id_for
from tests.integration.capa.conftest import (
    CapaProcess,
    bearer,
    eventually,
    finding,
    produce_raw,
    terminate_within_grace,
)

pytestmark = pytest.mark.integration

CAPAS = 9
TAKEOVER_S = 30  # the bound for a killed worker's partitions to be served again
FINDING_SOURCE = "urn:vn:gov:h56:audit-tool"


async def test_any_capa_through_either_api(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "QMS_TOPIC_PREFIX": topic_prefix,
        "QMS_CAPA_APP_ID": f"{topic_prefix}capa",
        "QMS_ENV": "development",
        "QMS_LOG_LEVEL": "WARNING",
    }
    workers = [CapaProcess(env, tmp_path / name) for name in ("a", "b")]
    for worker in workers:
        worker.workdir.mkdir()
        worker.start()
    try:
        for worker in workers:
            await worker.wait_ready()
        event_ids = [f"finding-two-{n}" for n in range(CAPAS)]
        await produce_raw(kafka_bootstrap, topic_prefix, [finding(e) for e in event_ids])
        capa_ids = [capa_id_for("audit_finding", FINDING_SOURCE, e) for e in event_ids]
        async with (
            httpx.AsyncClient(base_url=workers[0].url, timeout=30) as a,
            httpx.AsyncClient(base_url=workers[1].url, timeout=30) as b,
        ):

            async def readable_through_both() -> bool:
                for capa_id in capa_ids:
                    for api in (a, b):
                        got = await api.get(f"/v1/capas/{capa_id}", headers=bearer("viewer"))
                        if got.status_code != 200:
                            return False
                return True

            await eventually(readable_through_both)
            # Both workers hold CAPAs: the forwarding was exercised both ways.
            parts = [
                (await api.get("/internal/v1/capas", headers=bearer("viewer"))).json()
                for api in (a, b)
            ]
            local = [part["total"] for part in parts]
            assert sum(local) == CAPAS and min(local) > 0, local
            assert sorted(p for part in parts for p in part["partitions"]) == [0, 1, 2]
            # Lists and summaries answer for every partition through either API.
            for api in (a, b):
                listed = (await api.get("/v1/capas", headers=bearer("viewer"))).json()
                assert listed["total"] == CAPAS
                assert sorted(c["capa_id"] for c in listed["items"]) == sorted(capa_ids)
                paged = [
                    c["capa_id"]
                    for offset in range(0, CAPAS, 4)
                    for c in (
                        await api.get(
                            "/v1/capas",
                            params={"limit": 4, "offset": offset},
                            headers=bearer("viewer"),
                        )
                    ).json()["items"]
                ]
                assert paged == [c["capa_id"] for c in listed["items"]]  # one order, any worker
                counts = (await api.get("/v1/capas/summary", headers=bearer("viewer"))).json()
                assert counts["opened"] == CAPAS and counts["by_source"] == {"audit_finding": CAPAS}
                # Scope holds on every worker: H57's owner sees none of H56's CAPAs.
                other = (await api.get("/v1/capas", headers=bearer("owner_h57"))).json()
                assert other["total"] == 0 and other["items"] == []
                other_counts = await api.get("/v1/capas/summary", headers=bearer("owner_h57"))
                assert other_counts.json()["opened"] == 0
                assert (await api.get("/v1/capas")).status_code == 401
                assert (await api.get("/internal/v1/capas")).status_code == 401

            body = {"expected_version": 1, "reason": "r", "correction": "c"}
            for number, capa_id in enumerate(capa_ids):
                first, other = (a, b) if number % 2 else (b, a)
                path = f"/v1/capas/{capa_id}/correction"
                applied = await first.post(path, json=body, headers=bearer("owner"))
                assert applied.status_code == 200, applied.text
                assert applied.json()["version"] == 2
                stale = await other.post(path, json=body, headers=bearer("owner"))
                assert stale.status_code == 409, stale.text
                unknown = await other.post(path, json=body)  # no token: refused where it lands
                assert unknown.status_code == 401
            for capa_id in capa_ids:
                for api in (a, b):
                    history = (
                        await api.get(f"/v1/capas/{capa_id}", headers=bearer("viewer"))
                    ).json()["history"]
                    assert [e["type"] for e in history] == [
                        "vn.qms.capa.opened.v1",
                        "vn.qms.capa.correction_recorded.v1",
                    ]

            # SIGKILL one: the survivor takes its partitions over and serves every CAPA.
            workers[0].kill()

            async def survivor_serves_all() -> bool:
                for capa_id in capa_ids:
                    stale = await b.post(
                        f"/v1/capas/{capa_id}/correction", json=body, headers=bearer("owner")
                    )
                    if stale.status_code != 409:  # decided by the agent: the stream is there
                        return False
                return True

            await eventually(survivor_serves_all, timeout_s=TAKEOVER_S)
            listed = (await b.get("/v1/capas", headers=bearer("viewer"))).json()
            assert listed["total"] == CAPAS
            assert all(c["version"] == 2 for c in listed["items"])  # nothing applied twice
            assert terminate_within_grace(workers[1]) is not None
    finally:
        for worker in workers:
            worker.stop()
