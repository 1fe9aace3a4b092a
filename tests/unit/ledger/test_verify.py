"""Verification finds the first broken entry and says why, for every kind of tampering."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.ledger.domain.canonical import canonical_value
from services.intake.ledger.domain.chain import (
    ZERO_HASH,
    ChainHead,
    EventRecord,
    LedgerEntry,
    entry_hash,
    extend,
)
from services.intake.ledger.domain.note import SignedCheckpoint
from services.intake.ledger.domain.verify import Breakage, ChainReport, Coverage, verify_chain
from tests.unit.ledger.builders import (
    TOPIC,
    chain_over,
    checkpoint_at,
    new_signer,
    records,
    with_value,
)

pytestmark = pytest.mark.unit

CHAIN = f"{TOPIC}/0"
SIGNER = new_signer()
VERIFIER = SIGNER.verifier()
ITEMS = records(10)
ENTRIES = chain_over(ITEMS)
CHECKPOINTS = [checkpoint_at(ENTRIES, 5, SIGNER), checkpoint_at(ENTRIES, 10, SIGNER)]


def check(
    items: list[EventRecord] | None = None,
    entries: list[LedgerEntry] | None = None,
    checkpoints: list[SignedCheckpoint] | None = None,
    check_offsets: bool = True,
) -> ChainReport:
    return verify_chain(
        CHAIN,
        ENTRIES if entries is None else entries,
        ITEMS if items is None else items,
        CHECKPOINTS if checkpoints is None else checkpoints,
        VERIFIER,
        check_offsets=check_offsets,
    )


def broken(report: ChainReport) -> tuple[Breakage, int]:
    assert report.problem is not None, "tampering went unnoticed"
    return report.problem.kind, report.problem.seq


def altered(record: EventRecord) -> EventRecord:
    document = json.loads(record.value)
    document["data"]["online_level"] = 2
    return with_value(record, json.dumps(document).encode())


def test_the_untouched_chain_passes() -> None:
    report = check()
    assert report.ok, report.problem
    assert (report.entries, report.events, report.anchored_size, report.checkpoints) == (
        10,
        10,
        10,
        2,
    )


def test_an_altered_event_is_named() -> None:
    items = list(ITEMS)
    items[3] = altered(items[3])
    report = check(items)
    assert broken(report) == (Breakage.ALTERED_EVENT, 3)
    assert "evt-00003" in str(report.problem)


def test_a_dropped_event_is_named() -> None:
    items = ITEMS[:4] + ITEMS[5:]
    report = check(items)
    assert broken(report) == (Breakage.DROPPED_EVENT, 4)
    assert "evt-00004" in str(report.problem)


def test_a_dropped_last_event_is_named() -> None:
    assert broken(check(ITEMS[:-1])) == (Breakage.DROPPED_EVENT, 9)


def test_two_swapped_events_are_named() -> None:
    items = list(ITEMS)
    items[6], items[7] = items[7], items[6]
    assert broken(check(items)) == (Breakage.REORDERED_EVENTS, 6)


def test_an_inserted_event_is_named() -> None:
    items = [*ITEMS[:2], altered(ITEMS[2]), *ITEMS[2:]]
    assert broken(check(items, check_offsets=False)) == (Breakage.ALTERED_EVENT, 2)


def test_the_first_of_several_breaks_is_named() -> None:
    items = list(ITEMS)
    items[8], items[9] = items[9], items[8]
    items[2] = altered(items[2])
    del items[5]
    assert broken(check(items, check_offsets=False)) == (Breakage.ALTERED_EVENT, 2)


def test_offsets_are_compared_on_the_topic_itself_not_on_a_copy() -> None:
    moved = [replace(record, offset=record.offset + 100) for record in ITEMS]
    assert broken(check(moved)) == (Breakage.OFFSET_MISMATCH, 0)
    assert check(moved, check_offsets=False).ok


def test_a_flipped_byte_in_a_leaf_breaks_the_entry() -> None:
    entries = list(ENTRIES)
    leaf = bytearray(entries[4].leaf)
    leaf[0] ^= 0x80
    entries[4] = replace(entries[4], leaf=bytes(leaf))
    assert broken(check(entries=entries)) == (Breakage.ALTERED_ENTRY, 4)


def test_an_entry_rewritten_in_place_is_an_altered_entry_not_an_altered_event() -> None:
    entries = list(ENTRIES)
    forged = replace(entries[4], leaf=bytes(32))
    entries[4] = replace(forged, hash=forged.expected_hash())
    # Entry 4 is self-consistent now, but entry 5 still links to the original: the ledger
    # changed, the event did not.
    report = check(entries=entries)
    assert broken(report) == (Breakage.ALTERED_ENTRY, 4)
    assert report.problem is not None and "rewritten in place" in report.problem.detail


def test_the_last_entry_rewritten_in_place_is_caught_by_its_checkpoint() -> None:
    entries = list(ENTRIES)
    forged = replace(entries[9], leaf=bytes(32))
    entries[9] = replace(forged, hash=forged.expected_hash())
    assert broken(check(entries=entries)) == (Breakage.ALTERED_ENTRY, 9)


def forged_insert(at: int) -> list[LedgerEntry]:
    """The ledger with a forged entry slipped in before seq `at`, re-chained from there on."""
    forged_event = records(1, subject="H56.01-FORGED")[0].value
    fake = EventRecord(TOPIC, 0, ITEMS[at].offset, forged_event)
    return rechain([*ITEMS[:at], fake, *ITEMS[at:]])


def rechain(items: list[EventRecord]) -> list[LedgerEntry]:
    """Chain `items` as given, offsets and all: a forger's consistent rewrite."""
    entries: list[LedgerEntry] = []
    for seq, record in enumerate(items):
        prev = entries[-1].hash if entries else ZERO_HASH
        head = ChainHead(TOPIC, 0, seq, prev, record.offset - 1)
        entry, _ = extend(head, record)
        entries.append(entry)
    return entries


def test_an_inserted_forged_entry_is_not_a_dropped_event() -> None:
    entries = forged_insert(4)
    assert broken(check(entries=entries, checkpoints=[])) == (Breakage.INSERTED_ENTRY, 4)
    # On a copy of the topic the offsets of the topic prove nothing, the chain's own do.
    assert broken(check(entries=entries, checkpoints=[], check_offsets=False)) == (
        Breakage.INSERTED_ENTRY,
        4,
    )


def test_a_dropped_event_on_a_copy_stays_a_dropped_event() -> None:
    assert broken(check(ITEMS[:4] + ITEMS[5:], check_offsets=False)) == (
        Breakage.DROPPED_EVENT,
        4,
    )


def test_a_re_linked_entry_is_a_bad_link() -> None:
    entries = list(ENTRIES)
    forged = replace(entries[5], prev=bytes(32))
    entries[5] = replace(forged, hash=forged.expected_hash())
    assert broken(check(entries=entries)) == (Breakage.BAD_LINK, 5)


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint() -> None:
    # The attacker alters event 7 and recomputes every entry from there: links all hold.
    items = list(ITEMS)
    items[7] = altered(items[7])
    rewritten = chain_over(items)
    report = check(items, entries=rewritten)
    assert broken(report) == (Breakage.ROOT_MISMATCH, 9)
    assert check(items, entries=rewritten, checkpoints=[]).ok  # hence: anchor checkpoints


def test_a_rewritten_chain_whose_checkpoints_were_deleted_is_caught() -> None:
    items = list(ITEMS)
    items[7] = altered(items[7])
    rewritten = chain_over(items)
    every_five = Coverage(every=5, batch=1)
    report = verify_chain(CHAIN, rewritten, items, [], VERIFIER, coverage=every_five)
    assert broken(report) == (Breakage.MISSING_CHECKPOINT, 4)
    assert report.problem is not None and "checkpoints were removed" in report.problem.detail
    # The untouched chain with its checkpoints meets the same rule.
    assert verify_chain(CHAIN, ENTRIES, ITEMS, CHECKPOINTS, VERIFIER, coverage=every_five).ok


@pytest.mark.parametrize(
    ("entries", "every", "batch", "required"),
    [
        (10, 5, 1, 5),
        (9, 5, 1, 5),
        (5, 5, 1, 0),
        (10, 5, 5, 5),
        (10, 5, 6, 0),
        (2500, 1000, 1000, 1000),
    ],
)
def test_how_far_a_chain_may_run_ahead_of_its_checkpoints(
    entries: int, every: int, batch: int, required: int
) -> None:
    assert Coverage(every, batch).required_size(entries) == required


def test_only_valid_checkpoints_count_as_coverage() -> None:
    forged = checkpoint_at(ENTRIES, 10, new_signer("test-ledger"))
    report = verify_chain(CHAIN, ENTRIES, ITEMS, [forged], VERIFIER, coverage=Coverage(5, 1))
    assert report.anchored_size == 0
    assert broken(report) == (Breakage.MISSING_CHECKPOINT, 4)


def test_a_flipped_byte_in_a_signature_is_named() -> None:
    text = CHECKPOINTS[0].text
    signature = text.rsplit(" ", 1)[1].strip()
    flipped = signature[:20] + ("A" if signature[20] != "A" else "B") + signature[21:]
    note = replace(CHECKPOINTS[0], text=text.replace(signature, flipped))
    from services.intake.ledger.domain.note import parse_note

    report = check(checkpoints=[parse_note(note.text), CHECKPOINTS[1]])
    assert broken(report) == (Breakage.BAD_SIGNATURE, 4)


def test_a_flipped_byte_in_a_checkpoint_root_is_named() -> None:
    forged = replace(CHECKPOINTS[0], checkpoint=replace(CHECKPOINTS[0].checkpoint, root=bytes(32)))
    assert broken(check(checkpoints=[forged])) == (Breakage.BAD_SIGNATURE, 4)
    assert broken(
        check(
            checkpoints=[
                checkpoint_at([*ENTRIES[:3], replace(ENTRIES[3], hash=bytes(32))], 4, SIGNER)
            ]
        )
    ) == (
        Breakage.ROOT_MISMATCH,
        3,
    )


def test_a_checkpoint_by_another_key_is_refused() -> None:
    other = checkpoint_at(ENTRIES, 10, new_signer("test-ledger"))
    assert broken(check(checkpoints=[other])) == (Breakage.BAD_SIGNATURE, 9)


def test_a_truncated_ledger_is_caught_by_the_checkpoint() -> None:
    assert broken(check(entries=ENTRIES[:7])) == (Breakage.TRUNCATED_LEDGER, 7)
    # Without a checkpoint beyond it, a shorter ledger is indistinguishable from a lagging one.
    assert check(entries=ENTRIES[:7], checkpoints=CHECKPOINTS[:1]).ok


def test_a_missing_ledger_entry_is_named() -> None:
    assert broken(check(entries=ENTRIES[:3] + ENTRIES[4:])) == (Breakage.MISSING_ENTRY, 3)


def test_reordered_ledger_entries_are_named() -> None:
    entries = list(ENTRIES)
    entries[2], entries[3] = entries[3], entries[2]
    report = check(entries=entries)
    assert broken(report) == (Breakage.MISSING_ENTRY, 2)
    assert report.problem is not None and "comes after" in report.problem.detail


def test_exact_duplicate_entries_are_tolerated() -> None:
    entries = ENTRIES[:6] + ENTRIES[4:6] + ENTRIES[6:]
    report = check(entries=entries)
    assert report.ok and report.duplicates_ignored == 2


def test_a_different_entry_with_a_seen_seq_is_a_fork() -> None:
    fork = replace(ENTRIES[5], leaf=bytes(32))
    fork = replace(fork, hash=fork.expected_hash())
    assert broken(check(entries=[*ENTRIES[:6], fork, *ENTRIES[6:]])) == (Breakage.FORKED_ENTRY, 5)


def test_events_not_chained_yet_are_pending_not_broken() -> None:
    report = check(entries=ENTRIES[:6], checkpoints=CHECKPOINTS[:1])
    assert report.ok and report.pending == 4 and report.anchored_size == 5


def test_an_entry_moved_to_another_chain_does_not_verify() -> None:
    (moved,) = chain_over(records(1, partition=1))
    entries = [replace(moved, partition=0, hash=moved.hash)]
    assert broken(check(items=records(1), entries=entries, checkpoints=[])) == (
        Breakage.ALTERED_ENTRY,
        0,
    )


def test_subject_entries_are_reported() -> None:
    items = [*records(3), EventRecord(TOPIC, 0, 3, records(1, subject="H56.01-ME")[0].value)]
    entries = chain_over(items)
    report = verify_chain(CHAIN, entries, items, [], VERIFIER, subject="H56.01-ME")
    assert [entry.seq for entry in report.subject_entries] == [3]


@settings(max_examples=60, deadline=None)
@given(position=st.integers(0, 9), byte=st.integers(0, 10_000), new=st.integers(0, 255))
def test_any_byte_change_is_caught_unless_meaning_is_unchanged(
    position: int, byte: int, new: int
) -> None:
    value = bytearray(ITEMS[position].value)
    index = byte % len(value)
    if value[index] == new:
        return
    value[index] = new
    items = list(ITEMS)
    items[position] = with_value(items[position], bytes(value))
    report = check(items)
    if canonical_value(bytes(value)).data == canonical_value(ITEMS[position].value).data:
        assert report.ok
    else:
        assert broken(report)[1] == position


def test_entry_hash_binds_every_field() -> None:
    base = dict(prev=bytes(32), leaf=b"\x01" * 32, seq=1, offset=2, topic="t", partition=3)
    reference = entry_hash(**base)  # type: ignore[arg-type]
    for field, value in [
        ("prev", b"\x02" * 32),
        ("leaf", bytes(32)),
        ("seq", 2),
        ("offset", 3),
        ("topic", "u"),
        ("partition", 4),
    ]:
        assert entry_hash(**{**base, field: value}) != reference, field  # type: ignore[arg-type]


def test_extend_after_verify_continues_the_same_chain() -> None:
    from services.intake.ledger.domain.chain import ChainHead

    head = ChainHead(TOPIC, 0, 10, ENTRIES[-1].hash, 9)
    entry, _ = extend(head, EventRecord(TOPIC, 0, 10, ITEMS[0].value))
    items = [*ITEMS, EventRecord(TOPIC, 0, 10, ITEMS[0].value)]
    assert check(items, entries=[*ENTRIES, entry]).ok
