"""The platform-health dashboard and the alert rules name only metrics the services export."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import Metric

import services.common.service_metrics  # noqa: F401  (registers the shared metrics)
from services.common.settings import REPO_ROOT
from services.intake.entrypoints.observability import IntakeMetrics
from services.intake.ledger.settings import LedgerSettings
from tests.unit.test_dashboards_generated import builder

pytestmark = pytest.mark.unit

ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yaml"
# Names of series in PromQL: those of this platform and of prometheus-client's collectors.
SERIES = re.compile(r"\b((?:qms|process|python)_[a-z0-9_]+)\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def series_names(family: Metric) -> Iterator[str]:
    for suffix in SUFFIXES.get(family.type, ("",)):
        yield family.name + suffix


def exported_series() -> set[str]:
    """Every series name the services can expose on /metrics (default registry + intake's)."""
    registries: list[CollectorRegistry] = [REGISTRY, IntakeMetrics().registry]
    return {name for r in registries for family in r.collect() for name in series_names(family)}


def platform_board() -> dict[str, Any]:
    board: dict[str, Any] = builder().DASHBOARDS["platform-health.json"]
    return board


def test_the_registry_holds_the_platform_metrics_and_the_process_collectors() -> None:
    exported = exported_series()
    assert {
        "qms_consumer_lag_records",
        "qms_dead_letters_total",
        "qms_ledger_checkpoint_age_seconds",
        "qms_capa_commands_total",
        "qms_intake_events_accepted_total",
        "process_resident_memory_bytes",
        "python_gc_objects_collected_total",
    } <= exported


def test_every_panel_reads_prometheus_and_names_exported_metrics() -> None:
    exported = exported_series()
    for panel in platform_board()["panels"]:
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "qms-prometheus", panel["title"]
            names = set(SERIES.findall(target["expr"]))
            assert names, f"{panel['title']}: no metric in {target['expr']}"
            assert names <= exported, f"{panel['title']}: {names - exported} not exported"


def test_the_dashboard_shows_what_an_on_call_engineer_looks_at() -> None:
    text = " ".join(t["expr"] for p in platform_board()["panels"] for t in p["targets"])
    for metric in (
        "qms_consumer_lag_records",
        "qms_dead_letters_total",
        "qms_ledger_lag_records",
        "qms_ledger_checkpoint_age_seconds",
        "qms_capa_commands_total",
        "qms_capa_command_seconds_bucket",
        "qms_intake_events_accepted_total",
        "qms_intake_events_rejected_total",
        "qms_intake_publish_seconds_bucket",
    ):
        assert metric in text


def test_a_prometheus_source_is_provisioned_beside_the_clickhouse_one() -> None:
    sources = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "datasources"
    (prometheus,) = yaml.safe_load((sources / "prometheus.yaml").read_text())["datasources"]
    assert (prometheus["type"], prometheus["uid"]) == ("prometheus", "qms-prometheus")


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert set(document) == {"groups"}
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_have_the_prometheus_shape_and_exported_metrics() -> None:
    exported = exported_series()
    rules = alert_rules()
    assert len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])
        names = set(SERIES.findall(rule["expr"]))
        assert names and names <= exported, f"{rule['alert']}: {names - exported}"


def test_the_alerts_cover_lag_dead_letters_checkpoints_and_unavailable_commands() -> None:
    by_name = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    assert "deriv(" in by_name["QmsConsumerLagGrowing"]
    assert "qms_dead_letters_total" in by_name["QmsDeadLetters"]
    assert 'outcome="unavailable"' in by_name["QmsCapaCommandsUnavailable"]
    threshold = float(by_name["QmsLedgerCheckpointOverdue"].rsplit(">", 1)[1])
    # N x the timed checkpoint interval, N between 2 and 10: late, but not noise.
    interval = LedgerSettings().checkpoint_seconds
    assert 2 * interval <= threshold <= 10 * interval
