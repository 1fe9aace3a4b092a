"""Writes the Strimzi KafkaTopic and KafkaUser resources of deploy/k8s/base/kafka/.

    python deploy/k8s/build_kafka.py          # rewrite the files
    python deploy/k8s/build_kafka.py --check  # exit 1 when they differ (the tests check too)

The topics come from deploy/kafka/topics.yaml (names, retention, cleanup); on the cluster
every topic has 3 replicas, `min.insync.replicas` 2, and at least as many partitions as the
largest consumer group reading it has workers in any overlay (a partition has one consumer
of a group, and a ledger chain is one partition: the count is chosen once, for the largest
deployment). Which app reads which topic comes from the code that subscribes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from schemas.catalogue import PUBLISHED_FAMILIES
from schemas.topics import (
    CAPA_COMMANDS_TOPIC,
    DEADLETTER_TOPIC,
    FAMILY_TOPICS,
    LEDGER_CHECKPOINTS_TOPIC,
    LEDGER_TOPIC,
    family_topics,
)
from services.capa.entrypoints.worker import SOURCE_TOPICS
from services.common.topics import TopicSpec, load_topic_specs
from services.intake.ledger.settings import CHAINED_TOPICS
from services.metrics.entrypoints.consumer import EVENT_TOPICS

K8S = Path(__file__).resolve().parent
PREFIX = "qms."
CLUSTER = "qms-kafka"
REPLICAS = 3
MIN_INSYNC_REPLICAS = "2"
ACCEPTED_TOPICS = family_topics(PUBLISHED_FAMILIES)
LEDGER_TOPICS = (LEDGER_TOPIC, LEDGER_CHECKPOINTS_TOPIC)
DEADLETTER = DEADLETTER_TOPIC
CAPA_TOPICS = (CAPA_COMMANDS_TOPIC, FAMILY_TOPICS["capa"])

# Workload (its name in deploy/k8s) → consumer group and the topics it reads.
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ledger": (f"{PREFIX}ledger", (*CHAINED_TOPICS, *LEDGER_TOPICS)),
    "capa": (f"{PREFIX}capa", (*SOURCE_TOPICS, *CAPA_TOPICS)),
    "metrics-ingest": (f"{PREFIX}metrics", EVENT_TOPICS),
}
# What each workload writes; intake also reads the accepted topics back (its window rebuild).
WRITES: dict[str, tuple[str, ...]] = {
    "intake": (*ACCEPTED_TOPICS, DEADLETTER),
    "ledger": (*LEDGER_TOPICS, DEADLETTER),
    "capa": (*CAPA_TOPICS, DEADLETTER),
    # The effectiveness and measured-nonconformity checks send CAPA commands.
    "metrics-ingest": (DEADLETTER, CAPA_COMMANDS_TOPIC),
}
# Workloads that create and use topics of their own named after their group: the CAPA faust
# app (table changelogs, repartitions) and the ledger (its heads topic); the metrics worker
# has none.
OWN_TOPIC_APPS = ("ledger", "capa")
READS_WITHOUT_GROUP: dict[str, tuple[str, ...]] = {
    "intake": ACCEPTED_TOPICS,
    "auditor": (*ACCEPTED_TOPICS, *LEDGER_TOPICS),
}


def largest_replicas() -> dict[str, int]:
    """Workload → the most replicas any overlay gives it."""
    largest: dict[str, int] = {}
    for kustomization in sorted((K8S / "overlays").glob("*/kustomization.yaml")):
        for entry in yaml.safe_load(kustomization.read_text()).get("replicas", []):
            largest[entry["name"]] = max(largest.get(entry["name"], 1), int(entry["count"]))
    return largest


def partitions_for(spec: TopicSpec, replicas: dict[str, int]) -> int:
    short = spec.name.removeprefix(PREFIX)
    readers = [replicas.get(app, 1) for app, (_, topics) in GROUPS.items() if short in topics]
    return max([spec.partitions, *readers])


def kafka_topic(spec: TopicSpec, replicas: dict[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {
            "name": spec.name.replace(".", "-"),
            "labels": {"strimzi.io/cluster": CLUSTER},
            "annotations": {"qms.vn/description": spec.description},
        },
        "spec": {
            "topicName": spec.name,
            "partitions": partitions_for(spec, replicas),
            "replicas": REPLICAS,
            "config": {**spec.config, "min.insync.replicas": MIN_INSYNC_REPLICAS},
        },
    }


def acl(kind: str, name: str, operations: list[str], pattern: str = "literal") -> dict[str, Any]:
    return {
        "resource": {"type": kind, "name": name, "patternType": pattern},
        "operations": operations,
        "host": "*",
    }


def kafka_user(app: str) -> dict[str, Any]:
    acls: list[dict[str, Any]] = []
    group, group_topics = GROUPS.get(app, ("", ()))
    for short in sorted({*group_topics, *READS_WITHOUT_GROUP.get(app, ())}):
        acls.append(acl("topic", PREFIX + short, ["Read", "Describe"]))
    for short in WRITES.get(app, ()):
        acls.append(acl("topic", PREFIX + short, ["Write", "Describe"]))
    if group:
        acls.append(acl("group", group, ["Read"]))
    if group and app in OWN_TOPIC_APPS:
        acls.append(acl("topic", f"{group}-", ["Read", "Write", "Create", "Describe"], "prefix"))
    if app in WRITES:
        acls.append(acl("cluster", "kafka-cluster", ["IdempotentWrite"]))
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": f"qms-{app}", "labels": {"strimzi.io/cluster": CLUSTER}},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def render() -> dict[Path, str]:
    replicas = largest_replicas()
    topics = [kafka_topic(spec, replicas) for spec in load_topic_specs(prefix=PREFIX)]
    apps = ["intake", *GROUPS, "auditor"]
    header = (
        "# Generated by deploy/k8s/build_kafka.py from deploy/kafka/topics.yaml: do not edit.\n"
    )
    return {
        K8S / "base" / "kafka" / "topics.yaml": header + _documents(topics),
        K8S / "base" / "kafka" / "users.yaml": header + _documents(map(kafka_user, apps)),
    }


def _documents(resources: Any) -> str:
    return "---\n".join(
        yaml.safe_dump(r, sort_keys=False, allow_unicode=True, width=100) for r in resources
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = [
        path for path, text in render().items() if not path.exists() or path.read_text() != text
    ]
    if args.check:
        for path in stale:
            print(f"{path} is out of date: run deploy/k8s/build_kafka.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in render().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
