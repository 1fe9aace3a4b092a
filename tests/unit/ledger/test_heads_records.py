"""The heads topic's records: the layout the faust table wrote, read back latest-wins."""

from __future__ import annotations

import json

import pytest

from services.intake.ledger.adapters.heads import head_record, heads_topic, latest_heads
from services.intake.ledger.domain.chain import ChainHead, extend_all
from tests.unit.ledger.builders import TOPIC, records

pytestmark = pytest.mark.unit


def test_a_head_record_is_the_faust_table_s_json_key_and_value() -> None:
    head = extend_all(ChainHead(TOPIC, 2), records(3, partition=2)).head
    key, value = head_record(head)
    assert json.loads(key) == f"{TOPIC}/2"
    assert ChainHead.from_json(json.loads(value)) == head
    assert heads_topic("qms.ledger") == "qms.ledger-ledger-heads-changelog"


def test_the_latest_record_of_each_wanted_chain_wins_and_a_tombstone_forgets() -> None:
    first = extend_all(ChainHead(TOPIC, 0), records(2)).head
    later = extend_all(first, records(5)).head
    other = extend_all(ChainHead(TOPIC, 1), records(1, partition=1)).head
    gone = extend_all(ChainHead("gone.v1", 0), records(1, topic="gone.v1")).head
    stream: list[tuple[bytes | None, bytes | None]] = [
        head_record(first),
        head_record(other),
        head_record(later),
        head_record(gone),
        (head_record(other)[0], None),  # a tombstone
    ]

    assert latest_heads(stream, [f"{TOPIC}/0", f"{TOPIC}/1"]) == {f"{TOPIC}/0": later}
