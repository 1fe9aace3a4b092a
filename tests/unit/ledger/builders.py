"""Builders for ledger tests: real accepted events, chains over them, signed checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.binding import to_kafka_record
from schemas.catalogue import parse_event
from services.intake.ledger.adapters.keys import Ed25519Signer
from services.intake.ledger.domain.chain import (
    ChainHead,
    EventRecord,
    LedgerEntry,
    extend,
    tree_leaves,
)
from services.intake.ledger.domain.merkle import tree_root
from services.intake.ledger.domain.note import (
    Checkpoint,
    SignedCheckpoint,
    origin_for,
    parse_note,
    sign_checkpoint,
)

TOPIC = "qms.dossier.v1"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def dossier_received_value(number: int, subject: str | None = None) -> bytes:
    """The record value intake stores for a valid `dossier.received` event."""
    received = START + timedelta(minutes=number)
    event = parse_event(
        {
            "specversion": "1.0",
            "id": f"evt-{number:05d}",
            "source": "urn:vn:gov:h56:one-stop-shop",
            "type": "vn.qms.dossier.received.v1",
            "subject": subject or f"H56.01-260302-{number:04d}",
            "time": received.isoformat(),
            "agencycode": "H56.01",
            "receivedtime": (received + timedelta(seconds=2)).isoformat(),
            "publisher": "one-stop-shop-h56",
            "data": {
                "procedure_code": "1.001612.000.00.00.H56",
                "channel": "online",
                "online_level": 4,
                "due_at": (received + timedelta(days=5)).isoformat(),
                "applicant_id": f"applicant-{number:08x}",
            },
        }
    )
    return to_kafka_record(event).value


def records(
    count: int, partition: int = 0, topic: str = TOPIC, subject: str | None = None
) -> list[EventRecord]:
    return [
        EventRecord(
            topic, partition, offset, dossier_received_value(partition * 1000 + offset, subject)
        )
        for offset in range(count)
    ]


def chain_over(items: Sequence[EventRecord]) -> list[LedgerEntry]:
    head = ChainHead(items[0].topic, items[0].partition)
    entries = []
    for record in items:
        entry, head = extend(head, record)
        entries.append(entry)
    return entries


def new_signer(name: str = "test-ledger") -> Ed25519Signer:
    return Ed25519Signer(name, Ed25519PrivateKey.generate())


def checkpoint_at(
    entries: Sequence[LedgerEntry], size: int, signer: Ed25519Signer
) -> SignedCheckpoint:
    head = entries[size - 1]
    root = tree_root(tree_leaves(entries[:size]))
    text = sign_checkpoint(
        Checkpoint(origin_for("qms-trail", head.topic, head.partition), size, root), signer
    )
    return parse_note(text)


def with_value(record: EventRecord, value: bytes) -> EventRecord:
    return replace(record, value=value)
