"""The effectiveness check with fakes of its ports: what it measures and what it sends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from schemas.capa import NonconformitySource
from services.capa.adapters.codec import decode_command
from services.capa.domain.commands import RecordEffectivenessMeasurement
from services.capa.domain.effectiveness import LATE_DOSSIERS_MEASURE, MEASURES, MeasurementWindow
from services.capa.service_layer.policies import Outgoing
from services.metrics.config import MetricsSettings
from services.metrics.domain.capa_kpis import MEASURE_SQL
from services.metrics.domain.report_html import ReportData, render_report
from services.metrics.entrypoints.effectiveness_check import effectiveness_timer
from services.metrics.service_layer.effectiveness import (
    DueMeasurement,
    EffectivenessPolicy,
    check_effectiveness,
)

pytestmark = pytest.mark.unit

DONE = datetime(2026, 4, 1, 3, tzinfo=UTC)
NOW = DONE + timedelta(days=31)
POLICY = EffectivenessPolicy(
    window_days=30, thresholds={LATE_DOSSIERS_MEASURE: 1}, reopen_if_ineffective=True
)


def due(capa_id: str) -> DueMeasurement:
    return DueMeasurement(capa_id, NonconformitySource.LATE_DOSSIERS, "H56.01", "1.004227", DONE)


class FakeReader:
    """The CAPAs due and, per CAPA, how many late dossiers its window holds."""

    def __init__(self, late_dossiers: dict[str, int]) -> None:
        self.late_dossiers = late_dossiers
        self.windows: list[MeasurementWindow] = []

    async def due(self, at: datetime, policy: EffectivenessPolicy) -> list[DueMeasurement]:
        return [due(capa_id) for capa_id in self.late_dossiers]

    async def measured(self, measure: str, due: DueMeasurement, window: MeasurementWindow) -> int:
        assert measure == LATE_DOSSIERS_MEASURE
        self.windows.append(window)
        return self.late_dossiers[due.capa_id]


class FakeCommandTopic:
    def __init__(self, fail_after: int | None = None) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self.fail_after = fail_after

    async def send(self, command: Outgoing) -> None:
        if self.fail_after is not None and len(self.records) >= self.fail_after:
            raise ConnectionError("broker away")
        self.records.append((command.key, command.value))

    def commands(self) -> list[RecordEffectivenessMeasurement]:
        decoded = [decode_command(value) for _, value in self.records]
        assert all(isinstance(c, RecordEffectivenessMeasurement) for c in decoded)
        return decoded  # type: ignore[return-value]


async def test_each_capa_due_gets_its_measurement_keyed_by_its_id() -> None:
    reader, topic = FakeReader({"CAPA-a": 3, "CAPA-b": 0}), FakeCommandTopic()
    sent = await check_effectiveness(reader, topic.send, POLICY, NOW)
    assert [key for key, _ in topic.records] == [b"CAPA-a", b"CAPA-b"]
    assert topic.commands() == sent
    recurring, quiet = sent
    assert (recurring.value, recurring.threshold, recurring.window_days) == (3, 1, 30)
    assert quiet.value == 0 and quiet.reopen_if_ineffective is True
    assert recurring.window_start == DONE and recurring.at == NOW
    assert recurring.actor_role == "system" and recurring.measure == LATE_DOSSIERS_MEASURE
    assert reader.windows[0] == MeasurementWindow(DONE, 30)


async def test_two_checkers_send_the_same_command_ids() -> None:
    first, second = FakeCommandTopic(), FakeCommandTopic()
    await check_effectiveness(FakeReader({"CAPA-a": 3}), first.send, POLICY, NOW)
    await check_effectiveness(
        FakeReader({"CAPA-a": 3}), second.send, POLICY, NOW + timedelta(minutes=5)
    )
    assert first.commands()[0].measurement_id == second.commands()[0].measurement_id
    other_window = replace(POLICY, window_days=60)
    third = FakeCommandTopic()
    await check_effectiveness(
        FakeReader({"CAPA-a": 3}), third.send, other_window, NOW + timedelta(days=30)
    )
    assert third.commands()[0].measurement_id != first.commands()[0].measurement_id


async def test_a_broker_away_stops_the_run_so_the_next_one_sends_again() -> None:
    topic = FakeCommandTopic(fail_after=1)
    with pytest.raises(ConnectionError):
        await check_effectiveness(FakeReader({"CAPA-a": 3, "CAPA-b": 0}), topic.send, POLICY, NOW)
    assert [key for key, _ in topic.records] == [b"CAPA-a"]


def test_every_measure_of_the_capa_domain_has_its_sql_once() -> None:
    assert set(MEASURE_SQL) == set(MEASURES.values())
    assert "NOT (time <= due_at)" in MEASURE_SQL[LATE_DOSSIERS_MEASURE]  # the on-time rule


def test_the_policy_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMS_EFFECTIVENESS_WINDOW_DAYS", "60")
    monkeypatch.setenv("QMS_EFFECTIVENESS_LATE_DOSSIERS_THRESHOLD", "2")
    monkeypatch.setenv("QMS_EFFECTIVENESS_REOPEN", "true")
    policy = EffectivenessPolicy.from_settings(MetricsSettings())
    assert policy == EffectivenessPolicy(60, {LATE_DOSSIERS_MEASURE: 2}, True, 24)
    monkeypatch.setenv("QMS_EFFECTIVENESS_WINDOW_DAYS", "0")
    with pytest.raises(ValueError, match="QMS_EFFECTIVENESS_WINDOW_DAYS"):
        MetricsSettings()


def test_the_report_shows_effectiveness_by_measurement_beside_the_verdict() -> None:
    capa = {"effective_by_verdict": 4, "measured": 7, "effective_by_measurement": 5}
    capa |= {"ineffective_by_measurement": 2, "verdict_contradicted": 1}
    empty: dict[str, int] = {}
    html = render_report(
        ReportData(
            agency="H56.01",
            period="2026",
            generated_at="now",
            dossiers_total=empty,
            dossiers_by_month=[],
            in_progress=empty,
            objectives=[],
            satisfaction_by_month=[],
            satisfaction_total=empty,
            complaints_by_month=[],
            complaints_total=empty,
            capa=capa,
            audits=empty,
            score_by_month=[],
        )
    )
    section = html[html.index("Effectiveness: by measurement and by verdict") :]
    cells = [section.index(f"<td>{n}</td>") for n in (4, 7, 5, 2, 1)]
    assert cells == sorted(cells)


async def test_the_metrics_worker_checks_every_interval_and_survives_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QMS_TOPIC_PREFIX", "t1.")
    monkeypatch.setenv("QMS_EFFECTIVENESS_CHECK_INTERVAL_S", "600")
    topic = FakeCommandTopic(fail_after=1)
    timer = effectiveness_timer(
        MetricsSettings(), FakeReader({"CAPA-a": 3, "CAPA-b": 0}), topic.send
    )
    assert timer is not None and timer.interval_s == 600
    tick = timer.tick
    await tick()  # the broker goes away after one command: logged, not raised
    assert [key for key, _ in topic.records] == [b"CAPA-a"]
    topic.fail_after = None
    await tick()  # the next tick sends both again (the CAPA records each id once)
    assert [key for key, _ in topic.records] == [b"CAPA-a", b"CAPA-a", b"CAPA-b"]


def test_an_interval_of_zero_runs_no_effectiveness_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMS_EFFECTIVENESS_CHECK_INTERVAL_S", "0")
    assert effectiveness_timer(MetricsSettings(), FakeReader({}), FakeCommandTopic().send) is None
