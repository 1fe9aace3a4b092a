"""The platform's own Prometheus metrics, one definition each, in the default registry.

Every service exposes the default registry on `/metrics` (the ledger worker on its own port),
so the process and Python collectors come with it. Labels stay bounded: consumer groups,
topics, partitions, chains (topic/partition), command names, outcome and error classes —
never a CAPA id, a subject or a free-text reason.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from services.common.deadletter import DeadLetter

CONSUMER_LAG = Gauge(
    "qms_consumer_lag_records",
    "Records of a partition not yet committed by a consumer group (end offset - committed).",
    ["consumer", "topic", "partition"],
)
CONSUMER_LAG_REFRESHED = Gauge(
    "qms_consumer_lag_refreshed_timestamp_seconds",
    "When a consumer group's lag was last read from the broker (Unix time).",
    ["consumer"],
)
BATCH_RECORDS = Histogram(
    "qms_consumer_batch_records",
    "Records per batch a consumer processed.",
    ["consumer"],
    buckets=(1, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 100000),
)
BATCH_SECONDS = Histogram(
    "qms_consumer_batch_seconds",
    "Time to process one batch (store or chain it, dead letters included).",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DEAD_LETTERS = Counter(
    "qms_dead_letters",
    "Records sent to the dead-letter topic, by consumer and reason class.",
    ["consumer", "reason_class"],
)
LEDGER_LAG = Gauge(
    "qms_ledger_lag_records",
    "Accepted events of a chain's partition not yet chained (end offset - chain head).",
    ["chain"],
)
LEDGER_CHECKPOINT_AGE = Gauge(
    "qms_ledger_checkpoint_age_seconds",
    "Age of the oldest chained entry no signed checkpoint covers yet (0: all anchored).",
    ["chain"],
)
CAPA_COMMANDS = Counter(
    "qms_capa_commands",
    "CAPA commands answered, by command, outcome (accepted, refused, unavailable) and the "
    "refusal's kind (empty unless refused).",
    ["command", "outcome", "refusal"],
)
CAPA_COMMAND_SECONDS = Histogram(
    "qms_capa_command_seconds",
    "From a CAPA command's arrival to its answer, by command and outcome class.",
    ["command", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

INVALID_RECORD = "invalid_record"


def reason_class(letter: DeadLetter) -> str:
    """A bounded label for why a record was dead-lettered: the exception class that refused
    it, or `invalid_record` when a rule refused it (its reason text stays on the topic)."""
    return letter.error or INVALID_RECORD


def count_dead_letter(letter: DeadLetter) -> None:
    """Count one dead letter the broker acknowledged."""
    DEAD_LETTERS.labels(letter.consumer, reason_class(letter)).inc()


def exposition(*registries: CollectorRegistry) -> tuple[bytes, str]:
    """(body, content type) of the default registry followed by any service-own registries."""
    body = b"".join(generate_latest(registry) for registry in (REGISTRY, *registries))
    return body, CONTENT_TYPE_LATEST
