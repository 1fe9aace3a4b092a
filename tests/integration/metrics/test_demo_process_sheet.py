"""On a demo province, the process control sheets and their KPIs equal the generator's truth.

The province goes to the real broker twice, in time order and then shuffled across and
within dossiers (see test_demo_province_kpis.py); the sheets and step KPIs of the read API
are then compared with `fold_sheets(events)`, a plain fold written from docs/kpis.md.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.demo.domain.calendar import VN_TZ
from services.demo.domain.province import Province, generate_province
from services.demo.domain.sheet_truth import SheetTruth, fold_sheets
from services.metrics.config import MetricsSettings
from tests.integration.metrics.conftest import produce, running_service, wait_until_drained

pytestmark = pytest.mark.integration
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=VN_TZ)
SEED = 4
RANGES: tuple[tuple[str, str] | None, ...] = (
    None,
    ("2026-04", "2026-04"),
    ("2026-05", "2026-05"),
    ("2026-06", "2026-06"),
    ("2026-04", "2026-05"),
)
STEP_ROUTES = {
    "by-unit": ("agency", "unit"),
    "by-procedure-step": ("agency", "procedure", "step", "unit"),
    "by-unit-month": ("agency", "unit", "month"),
}
TIME_LOST_ROUTES = {
    "by-unit": ("agency", "unit"),
    "by-procedure-step": ("agency", "procedure", "step", "unit"),
}


@pytest.fixture(scope="module")
def province() -> Province:
    return generate_province(SEED, agencies=20, dossiers=600, months=2, now=NOW)


def _params(months: tuple[str, str] | None) -> dict[str, str]:
    return {} if months is None else {"from": months[0], "to": months[1]}


async def _get(api: httpx.AsyncClient, path: str, **params: str) -> Any:
    return (await api.get(path, params=params)).raise_for_status().json()


def _close(got: Mapping[str, Any], expected: Mapping[str, Any], where: object) -> None:
    assert set(expected) <= set(got), where
    for name, value in expected.items():
        if isinstance(value, float):
            assert got[name] == pytest.approx(value, abs=1e-3), (where, name)
        else:
            assert got[name] == value, (where, name)


async def assert_step_kpis(api: httpx.AsyncClient, truth: SheetTruth) -> None:
    for route, group in STEP_ROUTES.items():
        for months in RANGES:
            rows = (await _get(api, f"/v1/kpi/steps/{route}", **_params(months)))["rows"]
            got = {tuple(r[g] for g in group): r for r in rows}
            expected = truth.step_counts(group, months)
            assert set(got) == set(expected), (route, months)
            for key, exp in expected.items():
                timed = exp["timed_steps"]
                exp = {**exp, "avg_hours": exp["hours_spent"] / timed if timed else None}
                _close(got[key], exp, (route, months, key))


async def assert_time_lost(api: httpx.AsyncClient, truth: SheetTruth) -> None:
    for route, group in TIME_LOST_ROUTES.items():
        for months in RANGES:
            rows = (await _get(api, f"/v1/kpi/time-lost/{route}", **_params(months)))["rows"]
            got = {tuple(r[g] for g in group): r for r in rows}
            expected = truth.time_lost_counts(group, months)
            assert set(got) == set(expected), (route, months)
            for key, exp in expected.items():
                hours = exp.pop("step_hours")
                exp["avg_step_hours"] = sum(hours) / len(hours) if hours else None
                _close(got[key], exp, (route, months, key))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


async def assert_sheets(api: httpx.AsyncClient, truth: SheetTruth) -> None:
    late = sorted(truth.late_dossiers)
    others = sorted(set(truth.sheets) - set(late))
    sample = late + random.Random(SEED).sample(others, 20)
    assert late, "the demo province has late dossiers with sheets"
    for agency, code in sample:
        sheet = await _get(api, f"/v1/dossiers/{code}/sheet")
        assert sheet["agency"] == agency
        steps = truth.sheets[agency, code]
        assert [s["step"] for s in sheet["steps"]] == [s.step for s in steps], code
        for got, exp in zip(sheet["steps"], steps, strict=True):
            assert (got["unit"], got["to_unit"], got["officer"]) == (
                exp.unit, exp.to_unit, exp.officer,
            ), code  # fmt: skip
            assert (got["started_at"], got["handed_over_at"], got["step_due_at"]) == (
                _iso(exp.started_at), _iso(exp.handed_over_at), _iso(exp.step_due_at),
            ), code  # fmt: skip
            assert got["allotted_working_hours"] == exp.allotted_working_hours
            assert got["late"] is exp.late, code
        lost = truth.time_lost_at(agency, code)
        if lost is None:
            assert sheet["time_lost"] is None, code
        else:
            assert (sheet["time_lost"]["step"], sheet["time_lost"]["unit"]) == (
                lost.step, lost.unit,
            ), code  # fmt: skip


async def test_sheets_and_step_kpis_equal_the_ground_truth_after_a_shuffled_second_delivery(
    metrics_settings: MetricsSettings,
    kafka_bootstrap: str,
    topic_prefix: str,
    province: Province,
) -> None:
    await produce(kafka_bootstrap, topic_prefix, province.events)
    shuffled = list(province.events)
    random.Random(SEED).shuffle(shuffled)
    await produce(kafka_bootstrap, topic_prefix, shuffled)
    truth = fold_sheets(shuffled + province.events[:50])  # the fold ignores repeats and order
    async with running_service(metrics_settings) as api:
        await wait_until_drained(kafka_bootstrap, topic_prefix, metrics_settings.consumer_group)
        await assert_step_kpis(api, truth)
        await assert_time_lost(api, truth)
        await assert_sheets(api, truth)
