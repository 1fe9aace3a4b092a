"""deploy/k8s renders for every overlay and says what a cluster deployment must.

Built-in resources are validated against the Kubernetes schemas that kubernetes-validate
ships. The custom resources (Strimzi, Altinity) are checked field by field below: their CRDs
are not published in a package registry this project can install from.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest

from services.common.settings import REPO_ROOT
from services.common.topics import load_topic_specs
from tests.kustomize_lite import KustomizeError, containers, render

pytestmark = pytest.mark.unit

K8S = REPO_ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.34.0"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
WORKLOADS = {"Deployment", "StatefulSet"}
SECRET_LIKE = re.compile(r"(PASSWORD|TOKEN|SECRET|DSN|SIGNING_KEY)$")


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_kafka", K8S / "build_kafka.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(render(K8S / "overlays" / overlay))


def rendered(overlay: str) -> list[dict[str, Any]]:
    """The overlay's resources, a fresh copy for each test."""
    return copy.deepcopy(list(_rendered(overlay)))


def of_kind(resources: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] in kinds]


def named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    return found


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def test_the_overlays_are_small_and_national() -> None:
    assert OVERLAYS == ["national", "small"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_builtin_resource_is_valid_kubernetes(overlay: str) -> None:
    for resource in rendered(overlay):
        if "." in resource["apiVersion"].split("/")[0]:
            continue  # a custom resource: checked below
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_renderer_refuses_a_patch_without_a_target(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{K8S / 'base'}]\npatches:\n  - path: patch.yaml\n"
    )
    (tmp_path / "patch.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: no-such-app}\n"
    )
    with pytest.raises(KustomizeError, match="no Deployment no-such-app"):
        render(tmp_path)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_is_replicated_three_times_and_refuses_writes_below_two(overlay: str) -> None:
    resources = rendered(overlay)
    kafka = named(resources, "Kafka", "qms-kafka")["spec"]["kafka"]
    config = kafka["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert config["auto.create.topics.enable"] is False
    assert kafka["authorization"]["type"] == "simple"
    for listener in kafka["listeners"]:
        assert listener["tls"] is True and listener["authentication"]["type"] == "scram-sha-512"
    pools = {p["metadata"]["name"]: p["spec"] for p in of_kind(resources, "KafkaNodePool")}
    assert pools["controllers"]["roles"] == ["controller"] and pools["controllers"]["replicas"] == 3
    assert pools["brokers"]["roles"] == ["broker"] and pools["brokers"]["replicas"] >= 3


def test_the_topic_and_user_resources_are_what_the_builder_writes() -> None:
    for path, text in builder().render().items():
        assert path.read_text() == text, f"{path.name} is stale: run deploy/k8s/build_kafka.py"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_of_topics_yaml_is_a_kafka_topic_sized_for_its_largest_group(
    overlay: str,
) -> None:
    resources = rendered(overlay)
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind(resources, "KafkaTopic")}
    specs = {spec.name: spec for spec in load_topic_specs(prefix="qms.")}
    assert set(topics) == set(specs)
    groups: dict[str, tuple[str, tuple[str, ...]]] = builder().GROUPS
    largest: dict[str, int] = {}
    for other in OVERLAYS:
        for workload in of_kind(rendered(other), *WORKLOADS):
            name = workload["metadata"]["name"]
            largest[name] = max(largest.get(name, 0), workload["spec"]["replicas"])
    for name, topic in topics.items():
        spec = specs[name]
        for key in ("cleanup.policy", "retention.ms", "retention.bytes"):
            assert topic["config"].get(key) == spec.config.get(key), (name, key)
        assert topic["replicas"] == 3 and topic["config"]["min.insync.replicas"] == "2"
        assert topic["partitions"] >= spec.partitions
        for app, (_, reads) in groups.items():
            if name.removeprefix("qms.") in reads:
                assert topic["partitions"] >= largest[app], (name, app)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_kafka_client_has_its_own_scram_user_with_acls(overlay: str) -> None:
    resources = rendered(overlay)
    users = {u["metadata"]["name"]: u["spec"] for u in of_kind(resources, "KafkaUser")}
    clients = 0
    for workload in of_kind(resources, *WORKLOADS):
        for container in containers(workload):
            env = env_of(container)
            if "KAFKA_SASL_USERNAME" not in env:
                continue
            clients += 1
            user = env["KAFKA_SASL_USERNAME"]["value"]
            assert user in users, f"{workload['metadata']['name']}: no KafkaUser {user}"
            password = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert password == {"name": user, "key": "password"}  # Strimzi's user secret
            assert users[user]["authentication"]["type"] == "scram-sha-512"
            acls = users[user]["authorization"]["acls"]
            assert acls and all(a["resource"]["name"] != "*" for a in acls)
    assert clients == 4  # intake, capa, ledger, metrics ingestion


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_clickhouse_is_replicated_with_keeper(overlay: str) -> None:
    resources = rendered(overlay)
    (chi,) = of_kind(resources, "ClickHouseInstallation")
    (chk,) = of_kind(resources, "ClickHouseKeeperInstallation")
    (cluster,) = chi["spec"]["configuration"]["clusters"]
    assert cluster["layout"]["replicasCount"] >= 2
    keepers = chk["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"]
    assert keepers >= 3 and keepers % 2 == 1, "a Keeper quorum needs an odd count"
    (node,) = chi["spec"]["configuration"]["zookeeper"]["nodes"]
    assert node["host"] == f"keeper-{chk['metadata']['name']}"
    for key, value in chi["spec"]["configuration"]["users"].items():
        if key.endswith("/password"):
            assert set(value) == {"valueFrom"}, f"{key} must come from a secret"
    assert chi["spec"]["configuration"]["users"]["grafana/profile"] == "readonly"


def workloads(overlay: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for workload in of_kind(rendered(overlay), *WORKLOADS, "Job"):
        for container in containers(workload):
            yield workload, container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_http_container_is_probed_on_healthz_and_readyz(overlay: str) -> None:
    for workload, container in workloads(overlay):
        if not container.get("ports"):
            continue
        liveness = container["livenessProbe"]["httpGet"]["path"]
        readiness = container["readinessProbe"]["httpGet"]["path"]
        assert liveness == "/healthz", workload["metadata"]["name"]
        # The metrics service has no /readyz yet; its /healthz answers once the store is open.
        assert readiness in {"/readyz", "/healthz"}, workload["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_and_a_memory_limit(overlay: str) -> None:
    for workload, container in workloads(overlay):
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), workload["metadata"]["name"]
        assert "memory" in resources["limits"], workload["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_a_disruption_budget(overlay: str) -> None:
    resources = rendered(overlay)
    budgets = [
        b["spec"]["selector"]["matchLabels"] for b in of_kind(resources, "PodDisruptionBudget")
    ]
    for workload in of_kind(resources, *WORKLOADS):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert any(b.items() <= labels.items() for b in budgets), workload["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_only_referenced_never_inline(overlay: str) -> None:
    resources = rendered(overlay)
    assert not of_kind(resources, "Secret")
    for workload, container in workloads(overlay):
        for name, entry in env_of(container).items():
            if SECRET_LIKE.search(name):
                assert "secretKeyRef" in entry.get("valueFrom", {}), (
                    workload["metadata"]["name"],
                    name,
                )
    for config in of_kind(resources, "ConfigMap"):
        assert not any(SECRET_LIKE.search(key) for key in config["data"]), config["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_stateful_workers_keep_their_state_on_claims(overlay: str) -> None:
    resources = rendered(overlay)
    # CAPA: faust tables in RocksDB; the ledger: its checkpoint anchor (heads are in Kafka).
    for name, path in (("capa", "/var/lib/qms"), ("ledger", "/var/lib/qms-anchor")):
        workload = named(resources, "StatefulSet", name)
        claims = {c["metadata"]["name"] for c in workload["spec"]["volumeClaimTemplates"]}
        (container,) = containers(workload)
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts[path] in claims, f"{name}: {path} must be on a claim"
    config = named(resources, "ConfigMap", "qms-config")["data"]
    assert config["QMS_DATA_DIR"] == "/var/lib/qms" and config["QMS_ENV"] == "production"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_migrations_run_as_a_job_and_every_image_is_the_released_one(overlay: str) -> None:
    resources = rendered(overlay)
    (job,) = of_kind(resources, "Job")
    (container,) = containers(job)
    # The cluster form, on the ClickHouseInstallation's cluster, and the workers leave it to it.
    (installation,) = of_kind(resources, "ClickHouseInstallation")
    (cluster,) = installation["spec"]["configuration"]["clusters"]
    assert container["args"] == ["migrate", "--cluster", cluster["name"]]
    config = named(resources, "ConfigMap", "qms-config")["data"]
    assert config["CLICKHOUSE_CLUSTER"] == cluster["name"]
    assert config["QMS_METRICS_MIGRATE_ON_START"] == "false"
    assert int(config["QMS_TOPIC_REPLICATION_FACTOR"]) >= 3
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    for workload, each in workloads(overlay):
        name, _, tag = each["image"].rpartition(":")
        assert name.endswith("/qms-trail") and tag == version, workload["metadata"]["name"]


def test_the_operations_guide_names_every_secret_the_manifests_reference() -> None:
    guide = (REPO_ROOT / "docs" / "operations.md").read_text()
    referenced: set[str] = set()
    for overlay in OVERLAYS:
        for _, container in workloads(overlay):
            for entry in container.get("env", []):
                if "secretKeyRef" in entry.get("valueFrom", {}):
                    referenced.add(entry["valueFrom"]["secretKeyRef"]["name"])
        for workload in of_kind(rendered(overlay), *WORKLOADS, "Job"):
            for volume in workload["spec"]["template"]["spec"].get("volumes", []):
                if "secret" in volume:
                    referenced.add(volume["secret"]["secretName"])
    for secret in sorted(referenced):
        assert f"`{secret}`" in guide, f"docs/operations.md does not say how to create {secret}"
