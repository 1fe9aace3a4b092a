"""The hash chain: leaf and entry hashes exactly as docs/audit-trail.md defines them."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
import rfc8785

from services.intake.ledger.adapters.publisher import entry_value
from services.intake.ledger.domain.canonical import CanonicalForm
from services.intake.ledger.domain.chain import (
    ZERO_HASH,
    ChainHead,
    EventRecord,
    LedgerEntry,
    extend,
    extend_all,
    record_leaf,
    split_chain_key,
    tree_leaves,
    undelivered,
)
from services.intake.ledger.domain.merkle import tree_root
from services.intake.ledger.domain.verify import order_entries
from tests.poison import hostile_bytes
from tests.unit.ledger.builders import TOPIC, chain_over, records

pytestmark = pytest.mark.unit


def test_entries_follow_the_documented_formulas() -> None:
    items = records(3, partition=2)
    entries = chain_over(items)
    prev = ZERO_HASH
    for seq, (record, entry) in enumerate(zip(items, entries, strict=True)):
        leaf = hashlib.sha256(b"\x00" + rfc8785.dumps(json.loads(record.value))).digest()
        topic = TOPIC.encode()
        expected = hashlib.sha256(
            b"\x01" + prev + leaf + struct.pack(">QQIH", seq, record.offset, 2, len(topic)) + topic
        ).digest()
        assert (entry.seq, entry.leaf, entry.prev, entry.hash) == (seq, leaf, prev, expected)
        prev = expected


def test_entries_carry_the_envelope_identity() -> None:
    (entry,) = chain_over(records(1, subject="H56.01-SUBJ-1"))
    assert entry.subject == "H56.01-SUBJ-1"
    assert entry.type == "vn.qms.dossier.received.v1"
    assert entry.id == "evt-00000"
    assert entry.chain == f"{TOPIC}/0"


def test_offsets_may_have_gaps_the_seq_does_not() -> None:
    head = ChainHead(TOPIC, 0)
    seqs = []
    for offset in (0, 5, 6, 42):
        entry, head = extend(head, EventRecord(TOPIC, 0, offset, b"{}"))
        seqs.append(entry.seq)
    assert seqs == [0, 1, 2, 3]
    assert (head.size, head.last_offset) == (4, 42)


def test_a_redelivered_offset_is_refused_not_chained_twice() -> None:
    head = ChainHead(TOPIC, 0)
    _, head = extend(head, EventRecord(TOPIC, 0, 7, b"{}"))
    assert head.already_chained(7) and head.already_chained(3) and not head.already_chained(8)
    with pytest.raises(ValueError, match="already chained"):
        extend(head, EventRecord(TOPIC, 0, 7, b"{}"))


def test_a_record_of_another_partition_is_refused() -> None:
    with pytest.raises(ValueError, match="on chain of"):
        extend(ChainHead(TOPIC, 0), EventRecord(TOPIC, 1, 0, b"{}"))


def test_entry_and_head_round_trip_through_json() -> None:
    entries = chain_over(records(2))
    for entry in entries:
        assert LedgerEntry.from_json(json.loads(json.dumps(entry.to_json()))) == entry
    head = ChainHead(TOPIC, 1, 2, entries[1].hash, 9)
    assert ChainHead.from_json(json.loads(json.dumps(head.to_json()))) == head


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("leaf", "abcd", "leaf"), ("seq", "1", "seq"), ("form", "xml", "xml"), ("topic", "", "topic")],
)
def test_malformed_entries_say_which_field(field: str, value: object, message: str) -> None:
    raw = chain_over(records(1))[0].to_json()
    raw[field] = value
    with pytest.raises(ValueError, match=message):
        LedgerEntry.from_json(raw)


def test_chain_keys_split_back() -> None:
    assert split_chain_key("qms.dossier.v1/2") == ("qms.dossier.v1", 2)
    with pytest.raises(ValueError):
        split_chain_key("qms.dossier.v1")


def test_a_batch_chains_exactly_like_one_record_at_a_time() -> None:
    items = records(7, partition=1)
    batch = extend_all(ChainHead(TOPIC, 1), items)
    assert list(batch.entries) == chain_over(items)
    assert (batch.head.size, batch.head.head, batch.head.last_offset) == (
        7,
        batch.entries[-1].hash,
        6,
    )
    assert batch.redelivered == ()


def test_a_batch_after_a_crash_skips_what_was_chained_and_reproduces_the_rest() -> None:
    items = records(6)
    first = extend_all(ChainHead(TOPIC, 0), items[:4])
    # The head moved after records 0..3; the redelivered batch starts again at offset 2.
    again = extend_all(first.head, items[2:])
    assert again.redelivered == (2, 3)
    assert [entry.seq for entry in again.entries] == [4, 5]
    assert list(first.entries + again.entries) == chain_over(items)


def test_a_batch_whose_head_did_not_move_reproduces_the_same_entries() -> None:
    # The worker published a batch's entries, then died before its head moved: the records
    # come again (read anew from the topic) and are chained from the same head.
    head = ChainHead(TOPIC, 0)
    published = extend_all(head, records(5)).entries
    redone = extend_all(head, records(5)).entries
    assert list(published) == chain_over(records(5))
    # The ledger then holds every entry twice: exact duplicates, which are tolerated, not a fork.
    ordered, duplicates, problem = order_entries(f"{TOPIC}/0", [*published, *redone])
    assert problem is None and duplicates == 5 and ordered == list(published)


def test_checkpoints_fall_on_every_multiple_of_n_inside_a_batch() -> None:
    entries = chain_over(records(9))
    batch = extend_all(ChainHead(TOPIC, 0), records(9))
    sizes = [(head.size, head.head, head.last_offset) for head in batch.checkpoints(4)]
    assert sizes == [(4, entries[3].hash, 3), (8, entries[7].hash, 7)]
    assert extend_all(batch.head, []).checkpoints(4) == []


@pytest.mark.parametrize(
    ("last_offset", "offsets", "gaps"),
    [
        (-1, [0, 1, 2], []),  # a fresh chain that starts at offset 0: nothing skipped
        (-1, [2, 3], [(0, 2)]),  # the `qms run` failure: offsets 0 and 1 never delivered
        (6, [7, 49, 50], [(8, 49)]),  # a run in the middle
        (6, [9, 12], [(7, 9), (10, 12)]),  # several runs
        (10, [3, 4, 11], []),  # redeliveries are not gaps
        (10, [8, 9, 10, 13], [(11, 13)]),  # a gap after redeliveries
        (4, [5, 5, 6], []),  # the same offset twice (delivered again after a seek back)
        (4, [], []),
    ],
)
def test_undelivered_names_the_offsets_a_batch_skips_after_the_head(
    last_offset: int, offsets: list[int], gaps: list[tuple[int, int]]
) -> None:
    head = ChainHead(TOPIC, 0, size=last_offset + 1, last_offset=last_offset)
    assert undelivered(head, offsets) == gaps


def test_a_huge_envelope_field_is_not_copied_so_the_entry_stays_small() -> None:
    value = hostile_bytes()["huge non-ASCII subject"]
    entry, _ = extend(ChainHead("qms.dossier.v1", 0), EventRecord("qms.dossier.v1", 0, 0, value))
    assert entry.form is CanonicalForm.JCS and entry.subject is None and entry.id is not None
    assert len(entry_value(entry)) < 2_000
    assert entry.leaf == record_leaf(value)


def test_the_head_keeps_the_merkle_frontier_that_checkpoints_sign() -> None:
    batch = extend_all(ChainHead(TOPIC, 0), records(9))
    (at_four, at_eight) = batch.checkpoints(4)
    leaves = tree_leaves(batch.entries)
    for head in (at_four, at_eight, batch.head):
        tree = head.tree()
        assert tree is not None and tree.root() == tree_root(leaves[: head.size])
    restored = ChainHead.from_json(json.loads(json.dumps(batch.head.to_json())))
    assert restored == batch.head
    assert extend(restored, records(10)[9])[1].tree() is not None


def test_a_head_stored_before_the_tree_has_no_frontier_to_sign() -> None:
    stored = {"topic": TOPIC, "partition": 0, "size": 3, "head": "ab" * 32, "last_offset": 2}
    head = ChainHead.from_json(stored)
    assert head.frontier is None and head.tree() is None
    assert extend(head, EventRecord(TOPIC, 0, 3, b"{}"))[1].tree() is None
    assert ChainHead.from_json({**stored, "size": 0}).tree() is not None


def test_a_batch_keeps_only_the_checkpoint_heads_it_is_asked_for() -> None:
    start = ChainHead(TOPIC, 0, size=3, last_offset=2, frontier=None)  # a pre-tree head too
    for head in (ChainHead(TOPIC, 0), extend_all(ChainHead(TOPIC, 0), records(3)).head, start):
        every_entry = extend_all(head, records(13))
        only_due = extend_all(head, records(13), checkpoint_every=4)
        assert only_due.entries == every_entry.entries and only_due.head == every_entry.head
        assert only_due.checkpoints(4) == every_entry.checkpoints(4)
        assert [h.size for h in only_due.heads] == [s for s in range(4, 14, 4) if s > head.size]


def test_a_batch_grows_the_same_heads_as_one_record_at_a_time() -> None:
    head, one_by_one = ChainHead(TOPIC, 0), []
    for record in records(11):
        _, head = extend(head, record)
        one_by_one.append(head)
    assert list(extend_all(ChainHead(TOPIC, 0), records(11)).heads) == one_by_one


def test_a_batch_refuses_a_record_of_another_partition() -> None:
    with pytest.raises(ValueError, match="on chain of"):
        extend_all(ChainHead(TOPIC, 0), records(2, partition=1))
