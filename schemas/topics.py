"""The Kafka topics by short name: which family each event topic holds, and the others.

The one home of topic names in code; deploy/kafka/topics.yaml defines how each topic is
created and states the same families (and who consumes each topic), checked by a test.
Deployments put a prefix in front of every short name (`qms.` by default).
"""

from __future__ import annotations

from collections.abc import Mapping

# Each CloudEvents family's topic. A new family is its contract and one line here (plus
# its entry in topics.yaml).
FAMILY_TOPICS: Mapping[str, str] = {
    "dossier": "dossier.v1",
    "complaint": "complaint.v1",
    "satisfaction": "satisfaction.v1",
    "audit": "audit.v1",
    "objective": "objective.v1",
    "procedure": "procedure.v1",
    "document": "document.v1",
    "capa": "capa.v1",
}

# Topics that hold no CloudEvents family.
CAPA_COMMANDS_TOPIC = "capa.commands.v1"
LEDGER_TOPIC = "ledger.v1"
LEDGER_CHECKPOINTS_TOPIC = "ledger.checkpoints.v1"
DEADLETTER_TOPIC = "deadletter.v1"


def family_topics(families: tuple[str, ...] | frozenset[str]) -> tuple[str, ...]:
    """The topics of `families`, in the order of `FAMILY_TOPICS`."""
    unknown = set(families) - set(FAMILY_TOPICS)
    if unknown:
        raise ValueError(f"no topic for the families {sorted(unknown)}")
    return tuple(topic for family, topic in FAMILY_TOPICS.items() if family in families)
