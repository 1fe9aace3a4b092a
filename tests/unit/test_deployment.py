"""docker-compose.yml cannot run here; these tests check that it says what it must."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import yaml
from typer.testing import CliRunner

from services.cli import app as qms
from services.common.settings import REPO_ROOT

pytestmark = pytest.mark.unit

COMPOSE_TEXT = (REPO_ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
DEV_OVERRIDE: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.dev.yml").read_text())
DEV_ENV_FILE = REPO_ROOT / "deploy" / "compose" / "dev.env"
SERVICES: dict[str, Any] = COMPOSE["services"]
QMS_SERVICES = {name: spec for name, spec in SERVICES.items() if "build" in spec}
SETTINGS_OF = {
    "intake": "services.intake.config:IntakeSettings",
    "ledger": "services.intake.ledger.settings:LedgerSettings",
    "capa": "services.capa.config:CapaSettings",
    "metrics": "services.metrics.config:MetricsSettings",
}


# What an operator exports before `docker compose up`: every required variable, real values.
OPERATOR_ENV = {
    "QMS_CLICKHOUSE_WRITER_PASSWORD": "writer-secret",
    "QMS_GRAFANA_CLICKHOUSE_PASSWORD": "grafana-secret",
    "QMS_GRAFANA_H57_01_CLICKHOUSE_PASSWORD": "grafana-h57-secret",
    "GRAFANA_ADMIN_PASSWORD": "admin-secret",
    "QMS_LEDGER_KEY_NAME": "qms-trail-h56",
    "INTAKE_PUBLISHERS_FILE": "/etc/qms/publishers.yaml",
    "USERS_FILE": "/etc/qms/users.yaml",
    "LEDGER_SIGNING_KEY_FILE": "/etc/qms/ledger.pem",
}
_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}")


def expand(value: Any, env: dict[str, str] = OPERATOR_ENV) -> str:
    """Compose's interpolation: `${VAR:?message}` fails without VAR, `${VAR:-x}` falls back."""

    def substitute(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "-":
            return rest
        raise LookupError(f"compose refuses to start: {name} unset ({rest})")

    return _VARIABLE.sub(substitute, str(value))


def dev_env() -> dict[str, str]:
    lines = DEV_ENV_FILE.read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {name: value for name, value in pairs}


def settings_for(service: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in QMS_SERVICES[service]["environment"].items():
        monkeypatch.setenv(key, expand(value))
    module, name = SETTINGS_OF[service].split(":")
    return getattr(importlib.import_module(module), name)()


def test_every_image_is_pinned_to_a_version() -> None:
    for name, spec in SERVICES.items():
        image = spec["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image}"
        # Prometheus spells its tags v3.7.3.
        assert re.match(r"^v?\d+(\.\d+)+$", tag), f"{name}: tag {tag!r} is not a version"


def test_every_long_running_service_has_a_health_check_or_is_a_worker() -> None:
    for name in ("kafka", "clickhouse", "grafana", "intake", "capa", "metrics"):
        assert "healthcheck" in SERVICES[name], name


def test_dependencies_name_existing_services_and_conditions() -> None:
    for name, spec in SERVICES.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            assert condition["condition"] in {
                "service_healthy",
                "service_completed_successfully",
            }
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency]


@pytest.mark.parametrize("service", sorted(SETTINGS_OF))
def test_each_service_reads_the_kafka_of_the_compose_file(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(service, monkeypatch)
    host, port = settings.kafka_bootstrap_servers.split(":")
    assert host == "kafka" and host in SERVICES
    assert f"PLAINTEXT://:{port}" in SERVICES["kafka"]["environment"]["KAFKA_LISTENERS"]
    assert settings.topic_prefix == "qms."


def test_metrics_writes_to_the_clickhouse_server(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for("metrics", monkeypatch)
    dsn = urlsplit(str(settings.clickhouse_dsn))
    assert dsn.scheme == "http" and dsn.hostname == "clickhouse" and dsn.port == 8123
    assert dsn.username == "qms_writer"


@pytest.mark.parametrize("service", sorted(QMS_SERVICES))
def test_each_entry_point_is_a_real_qms_command(service: str) -> None:
    spec = QMS_SERVICES[service]
    if "entrypoint" in spec:
        module = spec["entrypoint"][2]
        assert importlib.import_module(module)
        return
    result = CliRunner().invoke(qms, [*spec["command"], "--help"])
    assert result.exit_code == 0, result.output


def test_mounted_configuration_exists_in_the_repository() -> None:
    for name, spec in SERVICES.items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).exists(), f"{name} mounts missing {source}"
    for name, secret in COMPOSE["secrets"].items():
        source = expand(secret["file"], dev_env())
        assert (REPO_ROOT / source).is_file(), f"dev secret {name}: missing {source}"


def test_grafana_data_source_points_at_the_clickhouse_service_as_read_only_user() -> None:
    provisioning = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "datasources"
    grafana_env = {k: expand(v) for k, v in SERVICES["grafana"]["environment"].items()}

    def interpolate(value: Any) -> str:  # Grafana expands $VAR / ${VAR} in provisioning
        return re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: grafana_env[m.group(1)], str(value))

    sources = [
        source
        for path in sorted(Path(provisioning).glob("*.y*ml"))
        for source in yaml.safe_load(path.read_text())["datasources"]
    ]
    clickhouse = [s for s in sources if s["type"] == "grafana-clickhouse-datasource"]
    assert clickhouse, "no grafana-clickhouse-datasource provisioned"
    json_data = {k: interpolate(v) for k, v in clickhouse[0]["jsonData"].items()}
    assert json_data["host"] == "clickhouse" and "clickhouse" in SERVICES
    assert json_data["port"] == "8123" and json_data["protocol"] == "http"
    user = json_data["username"]
    users_xml = (
        REPO_ROOT / "deploy" / "clickhouse" / "users.d" / "grafana-readonly.xml"
    ).read_text()
    assert f"<{user}>" in users_xml and "<readonly>1</readonly>" in users_xml
    clickhouse_env = SERVICES["clickhouse"]["environment"]
    assert interpolate(clickhouse[0]["secureJsonData"]["password"]) == expand(
        clickhouse_env["QMS_GRAFANA_CLICKHOUSE_PASSWORD"]
    )


def _clickhouse_users() -> dict[str, ElementTree.Element]:
    users: dict[str, ElementTree.Element] = {}
    for path in sorted((REPO_ROOT / "deploy" / "clickhouse" / "users.d").glob("*.xml")):
        for user in ElementTree.parse(path).getroot().findall("users/*"):
            users[user.tag] = user
    return users


def _profiles() -> dict[str, ElementTree.Element]:
    path = REPO_ROOT / "deploy" / "clickhouse" / "users.d" / "grafana-readonly.xml"
    return {p.tag: p for p in ElementTree.parse(path).getroot().findall("profiles/*")}


def test_every_grafana_data_source_reads_with_a_read_only_select_only_user() -> None:
    provisioning = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "datasources"
    grafana_env = {k: expand(v) for k, v in SERVICES["grafana"]["environment"].items()}
    users, profiles = _clickhouse_users(), _profiles()
    sources = [
        s
        for path in sorted(provisioning.glob("*.y*ml"))
        for s in yaml.safe_load(path.read_text())["datasources"]
        if s["type"] == "grafana-clickhouse-datasource"
    ]
    assert len(sources) >= 2  # the national one and the example agency's
    for source in sources:
        name = re.sub(
            r"\$\{?([A-Z0-9_]+)\}?",
            lambda m: grafana_env[m.group(1)],
            source["jsonData"]["username"],
        )
        user = users[name]
        profile = profiles[user.findtext("profile", "")]
        assert profile.findtext("readonly") == "1", name
        grants = [q.text for q in user.findall("grants/query")]
        assert grants == ["GRANT SELECT ON qms.*"], (name, grants)
        password = user.find("password")
        assert (
            password is not None
            and password.get("from_env") in (SERVICES["clickhouse"]["environment"])
        ), name


def test_the_agency_user_filters_every_agency_table_as_generated_from_the_one_list() -> None:
    from services.metrics.adapters.row_policies import (
        AGENCY_TABLES,
        EXAMPLE_AGENCY,
        EXAMPLE_PASSWORD_ENV,
        EXAMPLE_USER,
        agency_user_xml,
    )

    path = REPO_ROOT / "deploy" / "clickhouse" / "users.d" / "grafana-agency-h57-01.xml"
    assert path.read_text() == agency_user_xml(EXAMPLE_USER, EXAMPLE_AGENCY, EXAMPLE_PASSWORD_ENV)
    user = _clickhouse_users()[EXAMPLE_USER]
    filters = {t.tag: t.findtext("filter") for t in user.findall("databases/qms/*")}
    assert filters == {table: f"{column} = '{EXAMPLE_AGENCY}'" for table, column in AGENCY_TABLES}
    mounted = [v.split(":")[0] for v in SERVICES["clickhouse"]["volumes"]]
    assert "./deploy/clickhouse/users.d/grafana-agency-h57-01.xml" in mounted


def test_row_policy_statements_cover_every_agency_table_and_refuse_injection() -> None:
    from services.metrics.adapters.row_policies import AGENCY_TABLES, row_policies_sql

    sql = row_policies_sql("grafana_h56_02", "H56.02")
    statements = re.findall(
        r"^CREATE ROW POLICY OR REPLACE (\w+) ON qms\.(\w+) AS PERMISSIVE FOR SELECT "
        r"USING (\w+) = 'H56\.02' TO grafana_h56_02;$",
        sql,
        flags=re.MULTILINE,
    )
    assert [(table, column) for _, table, column in statements] == list(AGENCY_TABLES)
    assert {name for name, _, _ in statements} == {"agency_h56_02"}
    for agency, user in (("H56.02' OR 1=1 --", "g"), ("H56.02", "g; DROP USER x")):
        with pytest.raises(ValueError):
            row_policies_sql(user, agency)
    result = CliRunner().invoke(
        qms, ["metrics", "row-policies", "--agency", "x'", "--user", "grafana_x"]
    )
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output


def test_no_secret_has_a_default() -> None:
    assert "change-me" not in COMPOSE_TEXT
    for match in _VARIABLE.finditer(COMPOSE_TEXT):
        name, kind, message = match.groups()
        assert kind == "?" and message.strip(), f"${{{name}}} must be ${{{name}:?message}}"
    assert set(OPERATOR_ENV) == {m[1] for m in _VARIABLE.finditer(COMPOSE_TEXT)}


@pytest.mark.parametrize("missing", sorted(OPERATOR_ENV))
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    env = {k: v for k, v in OPERATOR_ENV.items() if k != missing}
    with pytest.raises(LookupError, match=missing):
        expand(COMPOSE_TEXT, env)


def test_the_services_run_as_production_and_read_credentials_from_compose_secrets() -> None:
    for name, spec in QMS_SERVICES.items():
        if "entrypoint" in spec:
            continue
        assert spec["environment"]["QMS_ENV"] == "production", name
        for value in spec["environment"].values():
            assert "/app/deploy/" not in str(value), f"{name} reads a file of the checkout"
        for secret in spec.get("secrets", []):
            assert secret in COMPOSE["secrets"], f"{name}: unknown secret {secret}"
    file_settings = {
        ("intake", "QMS_INTAKE_PUBLISHERS_FILE", "intake-publishers"),
        ("intake", "QMS_USERS_FILE", "platform-users"),
        ("capa", "QMS_USERS_FILE", "platform-users"),
        ("metrics", "QMS_USERS_FILE", "platform-users"),
        ("ledger", "QMS_LEDGER_SIGNING_KEY_FILE", "ledger-signing-key"),
    }
    for service, setting, secret in file_settings:
        assert secret in SERVICES[service]["secrets"], (service, secret)
        assert SERVICES[service]["environment"][setting] == f"/run/secrets/{secret}"


def test_the_dev_override_is_the_only_way_to_the_development_secrets() -> None:
    dev = dev_env()
    assert set(dev) == set(OPERATOR_ENV), "dev.env sets every required variable, nothing else"
    expand(COMPOSE_TEXT, dev)  # the dev trial starts
    for secret in COMPOSE["secrets"].values():
        source = expand(secret["file"], dev)
        assert ".dev." in source or "dev-key" in source, f"{source} is not a development file"
    for service in ("intake", "ledger", "capa", "metrics"):
        assert DEV_OVERRIDE["services"][service]["environment"]["QMS_ENV"] == "development"


def test_the_clickhouse_server_runs_the_engine_the_tests_use() -> None:
    # chDB embeds ClickHouse; chdb-core carries the engine's version (26.9.x for 26.9).
    engine = importlib.metadata.version("chdb-core").split(".")[:2]
    tag = SERVICES["clickhouse"]["image"].rpartition(":")[2]
    assert tag.split(".")[:2] == engine, f"compose runs ClickHouse {tag}, the tests {engine}"


def test_the_kafka_image_runs_the_broker_the_local_tooling_fetches() -> None:
    pom = (REPO_ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka.version>([0-9.]+)</kafka.version>", pom)
    assert match is not None
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{match[1]}"
    assert f"libs/kafka_2.13-{match[1]}.jar" in pom, "the libs-present profile names the jar"
