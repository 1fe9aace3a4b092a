"""`ledger_checkpoints` (deploy/clickhouse/0002): the ledger's signed checkpoints as they came.

The note is read by the ledger's own parser (`parse_note`), the one home of its format;
a record that is not a checkpoint note is refused with the parser's reason. Signatures are
not checked here: `qms ledger verify` does that against the verifier key.
"""

from __future__ import annotations

import base64
from typing import NamedTuple

from services.common.deadletter import RecordPosition
from services.intake.ledger.domain.note import parse_note
from services.metrics.domain.rows.values import RecordRefused, unsigned


class CheckpointRow(NamedTuple):
    """One row of `ledger_checkpoints`, keyed by its Kafka position (no CloudEvents id)."""

    topic: str
    partition: int
    offset: int
    origin: str
    tree_size: int
    root_hash: str
    body: str


def checkpoint_row(position: RecordPosition, value: bytes) -> CheckpointRow:
    try:
        body = value.decode()
    except UnicodeDecodeError as exc:
        raise RecordRefused(f"value: not UTF-8 text ({exc})") from exc
    try:
        checkpoint = parse_note(body).checkpoint
    except ValueError as exc:
        raise RecordRefused(f"value: not a signed checkpoint note ({exc})") from exc
    return CheckpointRow(
        topic=position.topic,
        partition=position.partition,
        offset=position.offset,
        origin=checkpoint.origin,
        tree_size=unsigned(checkpoint.size, 64, "size"),
        root_hash=base64.b64encode(checkpoint.root).decode(),
        body=body,
    )
