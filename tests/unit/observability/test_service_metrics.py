"""The pieces of /metrics that need no broker: lag arithmetic, chain health, command outcomes."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from services.capa.entrypoints.command_metrics import CommandObservation
from services.capa.entrypoints.problems import unavailable
from services.common.consumer_lag import lag_by_partition
from services.common.deadletter import DeadLetter, RecordPosition
from services.common.problems import ProblemError
from services.common.service_metrics import count_dead_letter, reason_class
from services.intake.ledger.domain.chain import ChainHead
from services.intake.ledger.health import ChainHealth, ledger_lag

pytestmark = pytest.mark.unit

A0, A1 = TopicPartition("qms.dossier.v1", 0), TopicPartition("qms.dossier.v1", 1)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_lag_counts_from_the_committed_offset_or_the_first_one() -> None:
    ends = {A0: 120, A1: 40}
    assert lag_by_partition(ends, committed={A0: 100}, beginnings={A1: 10}) == {A0: 20, A1: 30}


def test_lag_is_never_negative() -> None:
    # A committed offset read after the end offset (records arrived in between).
    assert lag_by_partition({A0: 5}, committed={A0: 7}, beginnings={}) == {A0: 0}


def test_ledger_lag_is_the_end_offset_past_the_chain_head() -> None:
    heads = {A0: ChainHead(A0.topic, 0, size=10, last_offset=9), A1: ChainHead(A1.topic, 1)}
    assert ledger_lag({A0: 15, A1: 3}, heads) == {"qms.dossier.v1/0": 5, "qms.dossier.v1/1": 3}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_checkpoint_age_runs_from_the_first_unanchored_entry_until_a_checkpoint() -> None:
    clock = Clock()
    health = ChainHealth(clock)
    key = "qms.unit-age.v1/0"
    health.chained(key, size=10, checkpointed=0)
    clock.now += 30
    health.chained(key, size=20, checkpointed=0)  # still the same oldest entry
    clock.now += 30
    assert health.checkpoint_age(key) == 60
    assert sample("qms_ledger_checkpoint_age_seconds", chain=key) == 60
    health.anchored(key, checkpoint_size=20, head_size=20)
    assert health.checkpoint_age(key) == 0


def test_a_chain_another_worker_took_over_is_no_longer_reported() -> None:
    health = ChainHealth(Clock())
    health.chained("qms.unit-moved.v1/0", size=1, checkpointed=0)
    health.keep_only([])
    assert (
        REGISTRY.get_sample_value(
            "qms_ledger_checkpoint_age_seconds", {"chain": "qms.unit-moved.v1/0"}
        )
        is None
    )


def test_commands_are_counted_by_outcome_and_refusal_kind() -> None:
    refused = {"command": "UnitCmd", "outcome": "refused", "refusal": "stale"}
    before = sample("qms_capa_commands_total", **refused)
    with CommandObservation("UnitCmd") as seen:
        seen.refused("stale")
    with pytest.raises(ProblemError), CommandObservation("UnitCmd"):
        raise unavailable("no decision came back")
    with CommandObservation("UnitCmd") as seen:
        seen.forwarded()  # the owning worker counts it
    assert sample("qms_capa_commands_total", **refused) == before + 1
    assert sample("qms_capa_commands_total", command="UnitCmd", outcome="unavailable", refusal="")
    assert sample("qms_capa_command_seconds_count", command="UnitCmd", outcome="refused") >= 1
    assert sample("qms_capa_command_seconds_count", command="UnitCmd", outcome="unavailable") >= 1


def test_dead_letters_are_counted_by_a_bounded_reason_class() -> None:
    where = RecordPosition("qms.dossier.v1", 0, 7)
    rule = DeadLetter(where, "data.due_time: not a time", "unit-consumer", b"k", b"v")
    crash = DeadLetter(where, "boom", "unit-consumer", b"k", b"v", error="KeyError")
    assert (reason_class(rule), reason_class(crash)) == ("invalid_record", "KeyError")
    count_dead_letter(rule)
    count_dead_letter(crash)
    count_dead_letter(crash)
    assert sample("qms_dead_letters_total", consumer="unit-consumer", reason_class="KeyError") == 2
