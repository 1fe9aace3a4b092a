"""The process control sheet end to end: step transfers on Kafka (delivered in order, then
again shuffled) → the metrics consumer → ClickHouse (chDB) → the sheet of one dossier and
the step KPIs of the read API, each read in the caller's scope."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.envelope import CloudEvent
from services.common.credentials import hash_token
from services.metrics.config import MetricsSettings
from services.metrics.domain.report_html import render_report
from services.metrics.entrypoints.report_cli import gather
from tests.integration.metrics.conftest import produce, running_service, wait_until_drained
from tests.unit.metrics import factories as f

pytestmark = pytest.mark.integration

ICT = timezone(timedelta(hours=7))
T0 = datetime(2025, 3, 3, 8, tzinfo=ICT)  # Monday 08:00


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def utc(hours: float) -> str:
    return h(hours).astimezone(UTC).isoformat()


RECEPTION, EXPERTS, HEAD, DIRECTOR = "Tiếp nhận", "Chuyên môn", "Lãnh đạo phòng", "Văn thư"
EVENTS: list[CloudEvent] = [
    # A-1 (H56.01), late: the experts' step overran its due time by 10 hours.
    f.received("A-1", "H56.01", T0, h(120)),
    f.step_transferred("A-1", "H56.01", h(2), 1, RECEPTION, EXPERTS, officer="off-1", due=h(4)),
    f.step_transferred(
        "A-1", "H56.01", h(30), 2, EXPERTS, HEAD, officer="off-2", due=h(20), taken_over=h(31)
    ),
    # Step 3 was transferred twice: the later transfer (a correction) is the sheet's.
    f.step_transferred("A-1", "H56.01", h(39), 3, "Sai", DIRECTOR, officer="off-9"),
    f.step_transferred(
        "A-1", "H56.01", h(40), 3, HEAD, DIRECTOR, officer="off-3", allotted_hours=8
    ),
    f.resolved("A-1", "H56.01", T0, h(144), h(120)),
    f.event(
        "dossier.result_returned",
        "A-1",
        "H56.01",
        h(150),
        {"procedure_code": "1.001612.000.00.00.H56", "channel": "counter"},
    ),
    # B-1 (H56.01), on time: no step overran.
    f.received("B-1", "H56.01", T0, h(120)),
    f.step_transferred("B-1", "H56.01", h(3), 1, RECEPTION, EXPERTS, due=h(4)),
    f.step_transferred("B-1", "H56.01", h(10), 2, EXPERTS, HEAD),
    f.resolved("B-1", "H56.01", T0, h(20), h(120)),
    # C-1 (H56.02), late with no overrun: it lost its time at the longest step.
    f.received("C-1", "H56.02", T0, h(24)),
    f.step_transferred("C-1", "H56.02", h(5), 1, RECEPTION, EXPERTS, due=h(6)),
    f.step_transferred("C-1", "H56.02", h(50), 2, EXPERTS, HEAD),
    f.resolved("C-1", "H56.02", T0, h(60), h(24)),
]
A1_STEPS = [
    {
        "step": 1, "unit": RECEPTION, "to_unit": EXPERTS, "officer": "off-1",
        "started_at": utc(0), "handed_over_at": utc(2), "taken_over_at": utc(2),
        "step_due_at": utc(4), "allotted_working_hours": None,
        "duration_hours": 2.0, "overrun_hours": 0.0, "late": False,
    },
    {
        "step": 2, "unit": EXPERTS, "to_unit": HEAD, "officer": "off-2",
        "started_at": utc(2), "handed_over_at": utc(30), "taken_over_at": utc(31),
        "step_due_at": utc(20), "allotted_working_hours": None,
        "duration_hours": 28.0, "overrun_hours": 10.0, "late": True,
    },
    {
        "step": 3, "unit": HEAD, "to_unit": DIRECTOR, "officer": "off-3",
        "started_at": utc(31), "handed_over_at": utc(40), "taken_over_at": utc(40),
        "step_due_at": None, "allotted_working_hours": 8.0,
        "duration_hours": 9.0, "overrun_hours": None, "late": False,
    },
]  # fmt: skip
USERS = {"national": ("*",), "h5602": ("H56.02",)}


def _bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer token-of-{user}"}


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    lines = ["users:"]
    for user, agencies in USERS.items():
        lines += [
            f"  - user_id: reader-{user}",
            "    role: viewer",
            f"    agencies: {list(agencies)}",
            f"    token_sha256: {hash_token(f'token-of-{user}')}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
async def api(
    metrics_settings: MetricsSettings, users_file: Path, kafka_bootstrap: str, topic_prefix: str
) -> AsyncIterator[httpx.AsyncClient]:
    shuffled = list(EVENTS)
    random.Random(13).shuffle(shuffled)
    await produce(kafka_bootstrap, topic_prefix, EVENTS)
    await produce(kafka_bootstrap, topic_prefix, shuffled)  # a redelivery out of order
    settings = metrics_settings.model_copy(update={"users_file": users_file})
    async with running_service(settings) as client:
        client.headers.pop("Authorization")  # each request below says who it is
        await wait_until_drained(kafka_bootstrap, topic_prefix, settings.consumer_group)
        yield client


async def _get(api: httpx.AsyncClient, path: str, user: str, **params: str) -> Any:
    return (await api.get(path, params=params, headers=_bearer(user))).raise_for_status().json()


async def test_the_sheet_lists_the_steps_in_order_and_where_the_late_dossier_lost_its_time(
    api: httpx.AsyncClient,
) -> None:
    sheet = await _get(api, "/v1/dossiers/A-1/sheet", "national")
    assert sheet == {
        "dossier": "A-1",
        "agency": "H56.01",
        "procedure": "1.001612.000.00.00.H56",
        "received_at": utc(0),
        "received_by": None,
        "due_at": utc(120),
        "resolved_at": utc(144),
        "on_time": False,
        "returned_at": utc(150),
        "withdrawn_at": None,
        "steps": A1_STEPS,
        "time_lost": {"step": 2, "unit": EXPERTS, "overrun_hours": 10.0, "duration_hours": 28.0},
    }
    on_time = await _get(api, "/v1/dossiers/B-1/sheet", "national")
    assert (on_time["on_time"], on_time["time_lost"]) == (True, None)
    assert [s["late"] for s in on_time["steps"]] == [False, False]
    longest = await _get(api, "/v1/dossiers/C-1/sheet", "h5602")
    assert longest["time_lost"] == {
        "step": 2, "unit": EXPERTS, "overrun_hours": None, "duration_hours": 45.0,
    }  # fmt: skip


async def test_the_sheet_is_401_without_a_token_and_404_outside_the_scope_or_unknown(
    api: httpx.AsyncClient,
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await api.get("/v1/dossiers/A-1/sheet", headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
    for code in ("A-1", "NO-SUCH-DOSSIER"):  # another agency's dossier is an unknown one
        response = await api.get(f"/v1/dossiers/{code}/sheet", headers=_bearer("h5602"))
        assert response.status_code == 404, response.text
        assert "steps" not in response.json()
    response = await api.get("/v1/dossiers/-bad-/sheet", headers=_bearer("national"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "path.code"


async def test_step_kpis_per_unit_and_month_and_where_time_is_lost_in_scope(
    api: httpx.AsyncClient,
) -> None:
    rows = (await _get(api, "/v1/kpi/steps/by-unit", "national"))["rows"]
    by_unit = {(r["agency"], r["unit"]): r for r in rows}
    assert set(by_unit) == {
        ("H56.01", RECEPTION), ("H56.01", EXPERTS), ("H56.01", HEAD),
        ("H56.02", RECEPTION), ("H56.02", EXPERTS),
    }  # fmt: skip
    experts = by_unit["H56.01", EXPERTS]  # A-1 step 2 (28 h, late) and B-1 step 2 (7 h)
    assert (experts["steps"], experts["hours_spent"], experts["avg_hours"]) == (2, 35.0, 17.5)
    assert (experts["max_hours"], experts["steps_with_due"], experts["late_steps"]) == (28.0, 1, 1)
    assert experts["late_step_share"] == 100.0
    reception = by_unit["H56.01", RECEPTION]
    assert (reception["steps"], reception["late_steps"], reception["late_step_share"]) == (
        2,
        0,
        0.0,
    )

    months = (await _get(api, "/v1/kpi/steps/by-unit-month", "national"))["rows"]
    late = {(r["agency"], r["unit"], r["month"]): r["late_steps"] for r in months}
    assert late[("H56.01", EXPERTS, "2025-03")] == 1 and sum(late.values()) == 1
    none = await _get(api, "/v1/kpi/steps/by-unit-month", "national", **{"from": "2025-04"})
    assert none["rows"] == []

    lost = (await _get(api, "/v1/kpi/time-lost/by-unit", "national"))["rows"]
    assert [(r["agency"], r["unit"], r["late_dossiers"], r["overran_dossiers"]) for r in lost] == [
        ("H56.01", EXPERTS, 1, 1),
        ("H56.02", EXPERTS, 1, 0),
    ]
    assert lost[0]["hours_overrun"] == 10.0 and lost[1]["avg_step_hours"] == 45.0

    # A scoped reader gets its own agency's rows only, and 404 for another agency's.
    for path in ("/v1/kpi/steps/by-unit", "/v1/kpi/steps/by-procedure-step",
                 "/v1/kpi/steps/by-unit-month", "/v1/kpi/time-lost/by-unit",
                 "/v1/kpi/time-lost/by-procedure-step"):  # fmt: skip
        national = (await _get(api, path, "national"))["rows"]
        scoped = (await _get(api, path, "h5602"))["rows"]
        assert scoped == [r for r in national if r["agency"] == "H56.02"] != [], path
        assert (await api.get(path)).status_code == 401, path
        response = await api.get(path, params={"agency": "H56.01"}, headers=_bearer("h5602"))
        assert response.status_code == 404, path


async def test_the_report_shows_where_time_is_lost_per_unit(api: httpx.AsyncClient) -> None:
    def report() -> str:
        with httpx.Client(base_url=str(api.base_url), headers=_bearer("national")) as client:
            return render_report(gather(client, "H56.01", "2025-03", datetime.now(UTC)))

    html = await asyncio.to_thread(report)  # in a thread: this loop serves the API
    section = html.split("<h3>Where time is lost</h3>", 1)[1].split("</table>", 1)[0]
    rows = [re.findall(r"<td>([^<]*)</td>", row) for row in section.split("<tr>")[2:]]
    # Most late dossiers lost first, then most late steps, then by unit; the experts held
    # A-1 past its step due time.
    assert rows == [
        [EXPERTS, "2", "17.5", "28.0", "1", "100.0%", "1", "10.0"],
        [HEAD, "1", "9.0", "9.0", "0", "–", "0", "0.0"],
        [RECEPTION, "2", "2.5", "3.0", "0", "0.0%", "0", "0.0"],
    ]
