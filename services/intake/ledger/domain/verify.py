"""Verify chains against the event records and the signed checkpoints.

Walks each chain entry by entry in `seq` order, next to the event topic partition read in
offset order, and stops at the first broken entry, saying which and why. Position `seq`
of the chain must hold the `seq`-th record of the partition: that is what catches a
dropped, inserted or reordered record even on a copy of the topic whose offsets differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from services.intake.ledger.domain.chain import (
    ZERO_HASH,
    EventRecord,
    LedgerEntry,
    record_leaf,
)
from services.intake.ledger.domain.merkle import Frontier, merkle_leaf
from services.intake.ledger.domain.note import SignedCheckpoint, Verifier


class Breakage(StrEnum):
    ALTERED_EVENT = "altered event"
    DROPPED_EVENT = "dropped event"
    REORDERED_EVENTS = "reordered events"
    OFFSET_MISMATCH = "offset mismatch"
    MISSING_ENTRY = "missing ledger entry"
    FORKED_ENTRY = "conflicting ledger entry"
    ALTERED_ENTRY = "altered ledger entry"
    INSERTED_ENTRY = "inserted ledger entry"
    BAD_LINK = "bad link"
    BAD_SIGNATURE = "bad checkpoint signature"
    ROOT_MISMATCH = "checkpoint root mismatch"
    BAD_PROOF = "proof does not hold"
    NOT_WITNESSED = "inconsistent with the witnessed checkpoint"
    TRUNCATED_LEDGER = "ledger shorter than its checkpoint"
    MISSING_CHECKPOINT = "missing checkpoint"
    MISSING_EVENT = "subject event left out"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class Problem:
    """The first broken entry of a chain."""

    chain: str
    seq: int
    offset: int | None
    kind: Breakage
    detail: str

    def __str__(self) -> str:
        where = f"{self.chain} seq {self.seq}"
        if self.offset is not None:
            where += f" (offset {self.offset})"
        return f"{where}: {self.kind.value}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    chain: str
    entries: int
    events: int
    anchored_size: int = 0  # largest verified checkpoint size
    checkpoints: int = 0  # distinct verified checkpoints
    duplicates_ignored: int = 0
    problem: Problem | None = None
    subject_entries: tuple[LedgerEntry, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def pending(self) -> int:
        """Records not chained yet (the ledger agent lags behind): not an error."""
        return max(0, self.events - self.entries)


@dataclass(frozen=True)
class Coverage:
    """How far the ledger worker may leave a chain ahead of its last signed checkpoint.

    The worker signs a checkpoint at every `every`-th entry right after the entries of a
    batch are acknowledged, so a reader may find at most one batch (`batch` entries) written
    but not yet checkpointed beyond the last multiple of `every`.
    """

    every: int
    batch: int

    def required_size(self, entries: int) -> int:
        """The checkpoint size a chain of `entries` entries must at least be anchored at."""
        settled = max(0, entries - self.batch)
        return settled - settled % self.every

    def problems(self, chain: str, ordered: Sequence[LedgerEntry], anchored: int) -> list[Problem]:
        required = self.required_size(len(ordered))
        if anchored >= required:
            return []
        entry = ordered[required - 1]
        return [
            Problem(
                chain,
                required - 1,
                entry.offset,
                Breakage.MISSING_CHECKPOINT,
                f"{len(ordered)} entries, but no valid signed checkpoint covers more than "
                f"{anchored}; the ledger signs one every {self.every} entries, so one of size "
                f"{required} must exist: checkpoints were removed or the chain was rewritten",
            )
        ]


def order_entries(
    chain: str, entries: Iterable[LedgerEntry]
) -> tuple[list[LedgerEntry], int, Problem | None]:
    """Entries of one chain in ledger order → (seq-ordered entries, duplicates, problem).

    At-least-once delivery can repeat an entry exactly (same seq, same hash): ignored.
    A different entry under a seq already seen is a fork; a seq jump is a missing entry.
    """
    ordered: list[LedgerEntry] = []
    duplicates = 0
    pending = list(entries)
    seqs = {entry.seq for entry in pending}
    for entry in pending:
        if entry.seq < len(ordered):
            if ordered[entry.seq] == entry:
                duplicates += 1
                continue
            return (
                ordered,
                duplicates,
                Problem(
                    chain,
                    entry.seq,
                    entry.offset,
                    Breakage.FORKED_ENTRY,
                    f"a second, different entry for seq {entry.seq} "
                    f"(hash {entry.hash.hex()[:16]}… vs {ordered[entry.seq].hash.hex()[:16]}…)",
                ),
            )
        if entry.seq > len(ordered):
            missing = len(ordered)
            detail = (
                f"seq {missing} comes after seq {entry.seq} in the ledger topic"
                if missing in seqs
                else f"no entry with seq {missing}; the next one is seq {entry.seq}"
            )
            return (
                ordered,
                duplicates,
                Problem(chain, missing, None, Breakage.MISSING_ENTRY, detail),
            )
        ordered.append(entry)
    return ordered, duplicates, None


def verify_chain(
    chain: str,
    entries: Iterable[LedgerEntry],
    records: Sequence[EventRecord],
    checkpoints: Iterable[SignedCheckpoint],
    verifier: Verifier | None,
    *,
    check_offsets: bool = True,
    subject: str | None = None,
    coverage: Coverage | None = None,
) -> ChainReport:
    """Verify one chain; `check_offsets` is off when `records` come from a copy of the topic.

    With `coverage`, a chain whose entries run further beyond its largest verified checkpoint
    than the ledger worker ever leaves them is broken: checkpoints were removed (or never
    signed, for a rewritten chain), and without them a consistent rewrite would verify.
    """
    ordered, duplicates, ledger_problem = order_entries(chain, entries)
    notes, problems = _checked_checkpoints(chain, checkpoints, verifier)
    by_size: dict[int, list[SignedCheckpoint]] = {}
    for note in notes:
        by_size.setdefault(note.checkpoint.size, []).append(note)

    leaves = [record_leaf(record.value) for record in records]
    first_position = _first_positions(leaves)
    entry_positions = _first_positions(entry.leaf for entry in ordered)
    walk_problem = _walk(
        chain, ordered, records, leaves, first_position, entry_positions, by_size, check_offsets
    )
    anchored = [n.checkpoint.size for n in notes if n.checkpoint.size <= len(ordered)]
    if walk_problem is not None:
        problems.append(walk_problem)
    elif ledger_problem is None:
        problems.extend(_beyond_the_ledger(chain, ordered, by_size))
        if coverage is not None:
            problems.extend(coverage.problems(chain, ordered, max(anchored, default=0)))
    if ledger_problem is not None:
        problems.append(ledger_problem)
    problem = min(problems, key=lambda p: p.seq) if problems else None
    return ChainReport(
        chain=chain,
        entries=len(ordered),
        events=len(records),
        anchored_size=max(anchored, default=0),
        checkpoints=len({n.checkpoint for n in notes}),
        duplicates_ignored=duplicates,
        problem=problem,
        subject_entries=tuple(e for e in ordered if subject is not None and e.subject == subject),
    )


def _walk(
    chain: str,
    ordered: Sequence[LedgerEntry],
    records: Sequence[EventRecord],
    leaves: Sequence[bytes],
    record_position: Mapping[bytes, int],
    entry_position: Mapping[bytes, int],
    checkpoints_by_size: Mapping[int, list[SignedCheckpoint]],
    check_offsets: bool,
) -> Problem | None:
    prev = ZERO_HASH
    tree = Frontier()
    for seq, entry in enumerate(ordered):
        problem = check_entry(chain, entry, seq, prev)
        if problem is not None:
            return problem
        tree = tree.append(merkle_leaf(entry.hash))
        if seq >= len(records):
            return Problem(
                chain,
                seq,
                entry.offset,
                Breakage.DROPPED_EVENT,
                f"the ledger chained {len(ordered)} events but the topic holds only "
                f"{len(records)}: event {entry.id or '?'} ({entry.type or '?'}) is gone",
            )
        record = records[seq]
        if leaves[seq] != entry.leaf:
            return _diagnose(
                chain,
                ordered,
                seq,
                record,
                leaves[seq],
                record_position,
                entry_position,
                {r.offset for r in records} if check_offsets else None,
                checkpoints_by_size,
                tree.root(),
            )
        if check_offsets and record.offset != entry.offset:
            return Problem(
                chain,
                seq,
                entry.offset,
                Breakage.OFFSET_MISMATCH,
                f"the entry chained offset {entry.offset}, the topic has it at {record.offset}",
            )
        for note in checkpoints_by_size.get(seq + 1, ()):
            if note.checkpoint.root != tree.root():
                return Problem(
                    chain,
                    seq,
                    entry.offset,
                    Breakage.ROOT_MISMATCH,
                    f"signed checkpoint of size {seq + 1} has root "
                    f"{note.checkpoint.root.hex()[:16]}…, the Merkle tree of the chain's first "
                    f"{seq + 1} entries has {tree.root().hex()[:16]}… (the ledger was rewritten)",
                )
        prev = entry.hash
    return None


def check_entry(chain: str, entry: LedgerEntry, seq: int, prev: bytes) -> Problem | None:
    """The entry's own consistency: where it claims to be, its link and its hash."""
    if entry.chain != chain or entry.seq != seq:
        return Problem(
            chain,
            seq,
            entry.offset,
            Breakage.ALTERED_ENTRY,
            f"the entry claims {entry.chain} seq {entry.seq}",
        )
    if entry.prev != prev:
        return Problem(
            chain,
            seq,
            entry.offset,
            Breakage.BAD_LINK,
            f"prev is {entry.prev.hex()[:16]}…, the previous entry's hash is {prev.hex()[:16]}…",
        )
    if entry.expected_hash() != entry.hash:
        return Problem(
            chain,
            seq,
            entry.offset,
            Breakage.ALTERED_ENTRY,
            "the entry's hash does not match its fields",
        )
    return None


def _diagnose(
    chain: str,
    ordered: Sequence[LedgerEntry],
    seq: int,
    record: EventRecord,
    leaf: bytes,
    record_position: Mapping[bytes, int],
    entry_position: Mapping[bytes, int],
    topic_offsets: set[int] | None,
    checkpoints_by_size: Mapping[int, list[SignedCheckpoint]],
    tree_root_here: bytes,
) -> Problem:
    """Why the record at position `seq` is not the one the entry chained.

    The event topic and the ledger are told apart by what each still commits to: an entry
    rewritten in place no longer matches its successor's link (or the checkpoint at its
    size), an entry slipped into the ledger points at an offset that holds another event
    (or does not advance the offsets), and only otherwise did the topic change.
    """
    entry = ordered[seq]
    later_entry = entry_position.get(leaf)
    expected_later = record_position.get(entry.leaf)
    where = f"topic offset {record.offset}"
    name = f"event {entry.id or '?'} ({entry.type or '?'})"
    successor = ordered[seq + 1] if seq + 1 < len(ordered) else None
    signed_roots = {note.checkpoint.root for note in checkpoints_by_size.get(seq + 1, ())}
    if (successor is not None and successor.prev != entry.hash) or (
        signed_roots and tree_root_here not in signed_roots
    ):
        contradicted_by = (
            f"entry {seq + 1} links to another entry {seq}"
            if successor is not None and successor.prev != entry.hash
            else f"the signed checkpoint of size {seq + 1} has another root"
        )
        return Problem(
            chain,
            seq,
            entry.offset,
            Breakage.ALTERED_ENTRY,
            f"the entry was rewritten in place ({contradicted_by}); it now commits to "
            f"{name}, which the topic does not hold at {where}",
        )
    if later_entry is not None and later_entry > seq:
        if expected_later is not None and expected_later > seq:
            return Problem(
                chain,
                seq,
                entry.offset,
                Breakage.REORDERED_EVENTS,
                f"event {entry.id or '?'} chained at seq {seq} is at position {expected_later} "
                f"of the topic; {where} holds the event chained at seq {later_entry}",
            )
        if expected_later is None and _slipped_in(entry, successor, topic_offsets):
            return Problem(
                chain,
                seq,
                entry.offset,
                Breakage.INSERTED_ENTRY,
                f"the entry chains {name}, an event the topic never held at offset "
                f"{entry.offset}; the topic's next event is chained at seq {later_entry}",
            )
        return Problem(
            chain,
            seq,
            entry.offset,
            Breakage.DROPPED_EVENT,
            f"{name} chained at seq {seq} is missing; "
            f"{where} holds the event chained at seq {later_entry}",
        )
    if expected_later is not None and expected_later > seq:
        return Problem(
            chain,
            seq,
            entry.offset,
            Breakage.ALTERED_EVENT,
            f"{where} holds an event the ledger never chained (inserted); "
            f"event {entry.id or '?'} follows at position {expected_later}",
        )
    return Problem(
        chain,
        seq,
        entry.offset,
        Breakage.ALTERED_EVENT,
        f"{name} at {where} does not match its leaf {entry.leaf.hex()[:16]}…",
    )


def _slipped_in(
    entry: LedgerEntry, successor: LedgerEntry | None, topic_offsets: set[int] | None
) -> bool:
    """Whether an entry whose event is nowhere in the topic was added to the ledger.

    Kafka never reuses an offset: if the topic (not a copy) still has a record at the
    entry's offset, that record is another event, so the entry is the forgery. On a copy,
    offsets say nothing about the topic, but along a genuine chain they always increase.
    """
    if topic_offsets is not None and entry.offset in topic_offsets:
        return True
    return successor is not None and successor.offset <= entry.offset


def _beyond_the_ledger(
    chain: str, ordered: Sequence[LedgerEntry], by_size: Mapping[int, list[SignedCheckpoint]]
) -> list[Problem]:
    largest = max(by_size, default=0)
    if largest <= len(ordered):
        return []
    return [
        Problem(
            chain,
            len(ordered),
            None,
            Breakage.TRUNCATED_LEDGER,
            f"a signed checkpoint covers {largest} entries, the ledger holds {len(ordered)}",
        )
    ]


def _checked_checkpoints(
    chain: str, checkpoints: Iterable[SignedCheckpoint], verifier: Verifier | None
) -> tuple[list[SignedCheckpoint], list[Problem]]:
    """The checkpoints of `chain` whose signature holds, and one problem per one that does not."""
    good: list[SignedCheckpoint] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for note in checkpoints:
        if note.checkpoint.chain != chain or note.text in seen:
            continue
        seen.add(note.text)
        if verifier is not None and note.verified_by(verifier):
            good.append(note)
            continue
        names = ", ".join(sig.name for sig in note.signatures)
        reason = (
            "no public key to check it with"
            if verifier is None
            else f"signed by {names}, not a valid signature of key {verifier.name}"
        )
        problems.append(
            Problem(
                chain,
                max(note.checkpoint.size - 1, 0),
                None,
                Breakage.BAD_SIGNATURE,
                f"checkpoint of size {note.checkpoint.size}: {reason}",
            )
        )
    return good, problems


def _first_positions(leaves: Iterable[bytes]) -> dict[bytes, int]:
    positions: dict[bytes, int] = {}
    for position, leaf in enumerate(leaves):
        positions.setdefault(leaf, position)
    return positions
