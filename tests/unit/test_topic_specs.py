"""The topic catalogue in deploy/kafka/topics.yaml, read without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.topics import (
    DEFAULT_TOPICS_FILE,
    TopicSpec,
    load_topic_specs,
    parse_topic_specs,
    topic_name,
)

pytestmark = pytest.mark.unit

EVENT_TOPICS = (
    "dossier.v1",
    "complaint.v1",
    "satisfaction.v1",
    "audit.v1",
    "objective.v1",
    "procedure.v1",
    "document.v1",
)
ALL_TOPICS = (
    *EVENT_TOPICS,
    "capa.v1",
    "capa.commands.v1",
    "ledger.v1",
    "ledger.checkpoints.v1",
    "deadletter.v1",
)


def by_name(specs: list[TopicSpec]) -> dict[str, TopicSpec]:
    return {spec.name: spec for spec in specs}


def test_the_file_lives_where_the_tooling_expects_it() -> None:
    repo_root = Path(__file__).resolve().parents[2]

    assert repo_root / "deploy" / "kafka" / "topics.yaml" == DEFAULT_TOPICS_FILE


def test_default_prefix_is_applied_to_every_topic() -> None:
    names = [spec.name for spec in load_topic_specs()]

    assert sorted(names) == sorted(f"qms.{short}" for short in ALL_TOPICS)


def test_a_custom_prefix_replaces_the_default() -> None:
    names = {spec.name for spec in load_topic_specs(prefix="t123.")}

    assert "t123.dossier.v1" in names
    assert not any(name.startswith("qms.") for name in names)


def test_event_topics_are_kept_forever_and_never_compacted() -> None:
    specs = by_name(load_topic_specs())

    for short in (*EVENT_TOPICS, "capa.v1"):
        config = specs[f"qms.{short}"].config
        assert config["retention.ms"] == "-1", short
        assert config["retention.bytes"] == "-1", short
        assert config["cleanup.policy"] == "delete", short


def test_ledger_topics_never_expire_and_are_not_compacted() -> None:
    specs = by_name(load_topic_specs())

    for name in ("qms.ledger.v1", "qms.ledger.checkpoints.v1"):
        config = specs[name].config
        assert config["retention.ms"] == "-1"
        assert config["retention.bytes"] == "-1"
        assert config["cleanup.policy"] == "delete"
        assert "compact" not in config["cleanup.policy"]


def test_command_and_dead_letter_topics_expire() -> None:
    specs = by_name(load_topic_specs())

    assert specs["qms.capa.commands.v1"].config["retention.ms"] == str(7 * 24 * 3600 * 1000)
    assert specs["qms.deadletter.v1"].config["retention.ms"] == str(30 * 24 * 3600 * 1000)


def test_capa_commands_are_co_partitioned_with_capa_events() -> None:
    specs = by_name(load_topic_specs())

    assert specs["qms.capa.commands.v1"].partitions == specs["qms.capa.v1"].partitions


def test_every_topic_says_what_it_is_for_and_has_three_partitions_locally() -> None:
    for spec in load_topic_specs():
        assert spec.description
        assert spec.partitions == 3
        assert spec.replication_factor == 1


def test_replication_factor_can_be_raised_for_a_real_cluster() -> None:
    assert {spec.replication_factor for spec in load_topic_specs(replication_factor=3)} == {3}


def test_topic_specs_are_immutable() -> None:
    spec = load_topic_specs()[0]

    with pytest.raises(AttributeError):
        spec.partitions = 12  # type: ignore[misc]


def test_topic_name_joins_prefix_and_short_name() -> None:
    assert topic_name("qms.", "ledger.v1") == "qms.ledger.v1"
    assert topic_name("", "ledger.v1") == "ledger.v1"


@pytest.mark.parametrize("prefix", ["qms/", "qms ", "x" * 250])
def test_illegal_topic_names_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="illegal Kafka topic name"):
        topic_name(prefix, "dossier.v1")


def test_per_topic_config_overrides_defaults_and_values_become_strings() -> None:
    document = {
        "defaults": {"partitions": 2, "config": {"retention.ms": -1, "cleanup.policy": "delete"}},
        "topics": {
            "a.v1": {"description": "A.", "config": {"retention.ms": 1000}},
            "b.v1": {"description": "B.", "partitions": 6, "config": {"preallocate": True}},
        },
    }

    a, b = parse_topic_specs(document, prefix="p.")

    assert a == TopicSpec(
        "p.a.v1", 2, 1, {"retention.ms": "1000", "cleanup.policy": "delete"}, "A."
    )
    assert b.partitions == 6
    assert b.config == {"retention.ms": "-1", "cleanup.policy": "delete", "preallocate": "true"}


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ({"partitions": 1}, "description"),
        ({"description": "x", "partitions": 0}, "positive integer"),
        ({"description": "x", "partitons": 3}, "unknown field"),
        ({"description": "x", "config": {"retention.ms": [1]}}, "string or an integer"),
    ],
)
def test_malformed_entries_are_refused(topic: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_topic_specs({"topics": {"a.v1": topic}})


def test_an_alternative_file_can_be_loaded(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text("topics:\n  only.v1:\n    description: The only one.\n", encoding="utf-8")

    assert load_topic_specs(prefix="", path=path) == [
        TopicSpec("only.v1", 1, 1, {}, "The only one.")
    ]


def test_the_file_states_the_families_and_readers_the_code_derives_from_schemas() -> None:
    from schemas.topics import (
        CAPA_COMMANDS_TOPIC,
        FAMILY_TOPICS,
        LEDGER_CHECKPOINTS_TOPIC,
        LEDGER_TOPIC,
    )
    from services.capa.service_layer.policies import SOURCE_TOPICS
    from services.intake.ledger.settings import CHAINED_TOPICS
    from services.metrics.entrypoints.consumer import EVENT_TOPICS as METRICS_TOPICS

    specs = {spec.name.removeprefix("qms."): spec for spec in load_topic_specs()}
    stated_families = {short: list(spec.families) for short, spec in specs.items() if spec.families}
    assert stated_families == {topic: [family] for family, topic in FAMILY_TOPICS.items()}
    reads = {
        "ledger": {*CHAINED_TOPICS, LEDGER_TOPIC, LEDGER_CHECKPOINTS_TOPIC},
        "capa": {*SOURCE_TOPICS, CAPA_COMMANDS_TOPIC},
        "metrics": set(METRICS_TOPICS),
    }
    assert {short: set(spec.consumers) for short, spec in specs.items()} == {
        short: {service for service, topics in reads.items() if short in topics} for short in specs
    }


def test_families_and_consumers_must_be_lists_of_names() -> None:
    document = {"topics": {"x.v1": {"description": "x", "consumers": "metrics"}}}

    with pytest.raises(ValueError, match=r"topics\.x\.v1\.consumers: expected a list of names"):
        parse_topic_specs(document)
