"""Kafka topic definitions (deploy/kafka/topics.yaml) and the admin helper that creates them.

    python -m services.common.topics create [--prefix qms.] [--bootstrap 127.0.0.1:9092]
    python -m services.common.topics list
    python -m services.common.topics ping --bootstrap 127.0.0.1:9092

Loading the specs is pure; only `ensure_topics`, `wait_for_broker` and the CLI talk to Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from services.common.kafka_security import aiokafka_security
from services.common.settings import CommonSettings
from services.common.shipped import shipped_file

log = logging.getLogger(__name__)

DEFAULT_TOPICS_FILE = shipped_file("kafka/topics.yaml")
DEFAULT_PREFIX = "qms."
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

# Kafka's own rule: [a-zA-Z0-9._-], at most 249 characters.
_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicSpec:
    """One topic as it should exist on the cluster (full name, prefix included)."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    description: str
    # What the topic holds and who reads it (documentation the tests hold to the code:
    # `schemas.topics` and each service's topic list).
    families: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()


def topic_name(prefix: str, short: str) -> str:
    """Full topic name: `topic_name("qms.", "dossier.v1") == "qms.dossier.v1"`."""
    name = f"{prefix}{short}"
    if not _LEGAL_TOPIC.match(name) or name in {".", ".."}:
        raise ValueError(f"illegal Kafka topic name {name!r} (allowed: [a-zA-Z0-9._-], ≤249)")
    return name


def load_topic_specs(
    prefix: str = DEFAULT_PREFIX,
    path: Path | None = None,
    replication_factor: int | None = None,
) -> list[TopicSpec]:
    """Read the topic definition file; `replication_factor` overrides the file's for all."""
    source = path or DEFAULT_TOPICS_FILE
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    return parse_topic_specs(document, prefix, replication_factor, origin=str(source))


def parse_topic_specs(
    document: Any,
    prefix: str = DEFAULT_PREFIX,
    replication_factor: int | None = None,
    origin: str = "<topics>",
) -> list[TopicSpec]:
    """Turn the parsed YAML document into specs, refusing anything malformed."""
    root = _mapping(document, origin)
    defaults = _mapping(root.get("defaults", {}), f"{origin}: defaults")
    topics = _mapping(root.get("topics"), f"{origin}: topics")
    if not topics:
        raise ValueError(f"{origin}: no topics defined")
    default_config = _config(defaults.get("config", {}), f"{origin}: defaults.config")

    specs: list[TopicSpec] = []
    for short, raw in topics.items():
        where = f"{origin}: topics.{short}"
        entry = _mapping(raw, where)
        unknown = set(entry) - {
            "partitions",
            "replication_factor",
            "config",
            "description",
            "families",
            "consumers",
        }
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
        description = entry.get("description")
        if not isinstance(description, str) or not description.strip():
            raise ValueError(f"{where}: a non-empty description is required")
        rf = replication_factor
        if rf is None:
            rf = entry.get("replication_factor", defaults.get("replication_factor", 1))
        specs.append(
            TopicSpec(
                name=topic_name(prefix, str(short)),
                partitions=_positive_int(
                    entry.get("partitions", defaults.get("partitions", 1)), f"{where}.partitions"
                ),
                replication_factor=_positive_int(rf, f"{where}.replication_factor"),
                config={**default_config, **_config(entry.get("config", {}), f"{where}.config")},
                description=" ".join(description.split()),
                families=_names(entry.get("families", []), f"{where}.families"),
                consumers=_names(entry.get("consumers", []), f"{where}.consumers"),
            )
        )
    return specs


async def ensure_topics(
    bootstrap_servers: str,
    specs: Sequence[TopicSpec],
    timeout_s: float = 30.0,
    *,
    security: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet and wait until their metadata is visible.

    Returns the names this call created. Existing topics are left untouched, whatever
    their configuration (a partition count that differs from the spec is logged); a
    concurrent creator's TopicAlreadyExists is not an error. `security`: the TLS/SASL options
    of `services.common.kafka_security.aiokafka_security`.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="qms-topics", **(security or {})
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        await _warn_on_partition_drift(admin, [spec for spec in specs if spec.name in existing])
        created: list[str] = []
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=spec.replication_factor,
                        topic_configs=dict(spec.config),
                    )
                    for spec in missing
                ],
                timeout_ms=int(timeout_s * 1000),
            )
            failures: list[str] = []
            for topic_error in response.topic_errors:
                name, code = topic_error[0], topic_error[1]
                message = topic_error[2] if len(topic_error) > 2 else None
                if code == 0:
                    created.append(name)
                elif code != _TOPIC_ALREADY_EXISTS:
                    error = for_code(code)
                    failures.append(f"{name}: {error.__name__} {message or ''}".rstrip())
            if failures:
                raise RuntimeError("could not create topics: " + "; ".join(failures))
            await _wait_for_metadata(
                admin, {spec.name: spec.partitions for spec in missing}, timeout_s
            )
        return sorted(created)
    finally:
        await admin.close()


async def delete_topics_under(
    bootstrap_servers: str, prefix: str, *, security: Mapping[str, Any] | None = None
) -> list[str]:
    """Delete every topic named `<prefix>…` (faust's changelog topics too); return them."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="qms-topics", **(security or {})
    )
    await admin.start()
    try:
        names = sorted(name for name in await admin.list_topics() if name.startswith(prefix))
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


async def wait_for_broker(
    bootstrap_servers: str, timeout_s: float = 10.0, *, security: Mapping[str, Any] | None = None
) -> int:
    """Wait until the cluster answers a metadata request; return how many brokers it has."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="qms-ping",
            request_timeout_ms=5000,
            **(security or {}),
        )
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            brokers = cluster.get("brokers") or []
            if brokers and cluster.get("controller_id", -1) != -1:
                return len(brokers)
        except Exception as exc:  # the broker is still starting: retry until the deadline
            last_error = exc
        finally:
            await admin.close()
        await asyncio.sleep(0.5)
    raise TimeoutError(
        f"no Kafka metadata from {bootstrap_servers} in {timeout_s:.0f}s: {last_error}"
    )


async def _wait_for_metadata(admin: Any, expected: Mapping[str, int], timeout_s: float) -> None:
    """Poll metadata until every topic shows all its partitions with a leader."""
    deadline = time.monotonic() + timeout_s
    pending = dict(expected)
    while pending:
        for topic in await admin.describe_topics(list(pending)):
            partitions = topic.get("partitions") or []
            leaders = [p for p in partitions if p.get("leader", -1) >= 0]
            if topic.get("error_code") == 0 and len(leaders) >= pending.get(topic["topic"], 1):
                pending.pop(topic["topic"], None)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"topic metadata not visible after {timeout_s:.0f}s: {sorted(pending)}"
            )
        await asyncio.sleep(0.2)


async def _warn_on_partition_drift(admin: Any, specs: Sequence[TopicSpec]) -> None:
    if not specs:
        return
    wanted = {spec.name: spec.partitions for spec in specs}
    for topic in await admin.describe_topics(list(wanted)):
        actual = len(topic.get("partitions") or [])
        if topic.get("topic") in wanted and actual != wanted[topic["topic"]]:
            log.warning(
                "topic %s has %d partitions, topics.yaml says %d (left as it is)",
                topic["topic"],
                actual,
                wanted[topic["topic"]],
            )


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(value).__name__}")
    return {str(key): item for key, item in value.items()}


def _config(value: Any, where: str) -> dict[str, str]:
    config: dict[str, str] = {}
    for key, item in _mapping(value, where).items():
        if isinstance(item, bool):
            config[key] = "true" if item else "false"
        elif isinstance(item, str | int):
            config[key] = str(item)
        else:
            raise ValueError(f"{where}.{key}: expected a string or an integer")
    return config


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{where}: expected a list of names, got {value!r}")
    return tuple(value)


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: expected a positive integer, got {value!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.common.topics",
        description="Create and inspect the Kafka topics defined in deploy/kafka/topics.yaml.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create the missing topics")
    listing = commands.add_parser("list", help="print the topic specs (no broker needed)")
    ping = commands.add_parser("ping", help="wait until the broker answers metadata")
    for sub in (create, ping):
        sub.add_argument(
            "--bootstrap",
            default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP),
            help="bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS, default %(default)s)",
        )
        sub.add_argument("--timeout", type=float, default=30.0, help="seconds (%(default)s)")
    for sub in (create, listing):
        sub.add_argument(
            "--prefix",
            default=os.environ.get("QMS_TOPIC_PREFIX", DEFAULT_PREFIX),
            help="topic name prefix (env QMS_TOPIC_PREFIX, default %(default)s)",
        )
        sub.add_argument("--file", type=Path, default=DEFAULT_TOPICS_FILE, help="topics.yaml")
        sub.add_argument(
            "--replication-factor",
            type=int,
            default=_env_int("QMS_TOPIC_REPLICATION_FACTOR"),
            help="override the file's replication factor (env QMS_TOPIC_REPLICATION_FACTOR)",
        )
    return parser


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    # The same TLS/SASL settings (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*) as the services.
    security = aiokafka_security(CommonSettings())
    if args.command == "ping":
        brokers = asyncio.run(wait_for_broker(args.bootstrap, args.timeout, security=security))
        print(f"kafka at {args.bootstrap}: {brokers} broker(s)")
        return 0
    specs = load_topic_specs(args.prefix, args.file, args.replication_factor)
    if args.command == "list":
        for spec in specs:
            config = ", ".join(f"{k}={v}" for k, v in sorted(spec.config.items()))
            print(
                f"{spec.name}\tpartitions={spec.partitions} rf={spec.replication_factor}\t{config}"
            )
        return 0
    created = asyncio.run(ensure_topics(args.bootstrap, specs, args.timeout, security=security))
    for name in created:
        print(f"created {name}")
    print(f"{len(specs)} topics present at {args.bootstrap} ({len(created)} created)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
