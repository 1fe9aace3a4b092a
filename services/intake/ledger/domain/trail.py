"""One aggregate's trail, verifiable offline with the public key alone.

A trail document holds, per chain that has events of the subject: the events (as stored),
the ledger entries from the subject's first entry up to the covering checkpoint, and that
signed checkpoint. Recomputing every leaf and link of the segment and landing on the
checkpoint's root proves the events are the ones the ledger chained, unaltered, in order.
Each event also carries its RFC 9162 inclusion proof in the checkpoint's Merkle tree, and
the segment one for its last entry (the checkpoint's last leaf), which binds the linked
segment to the signed tree head. That no earlier event of the subject was removed is
proven by `qms audit verify` over the whole chain, not by the trail. A subject whose
events lie far apart in a chain gets several segments of that chain, each ending at the
checkpoint nearest its events, so that a document stays small however long the chain;
between two segments the trail proves nothing (`qms audit verify --subject` does).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.intake.ledger.domain.canonical import (
    CanonicalForm,
    canonical_value,
    canonicalize_document,
)
from services.intake.ledger.domain.chain import LedgerEntry, leaf_hash, tree_leaves
from services.intake.ledger.domain.merkle import (
    NodeSource,
    ProofError,
    consistency_path,
    inclusion_path,
    merkle_leaf,
    nodes_of,
    verify_inclusion,
)
from services.intake.ledger.domain.note import SignedCheckpoint, Verifier, parse_note
from services.intake.ledger.domain.verify import Breakage, Problem, check_entry

TRAIL_VERSION = 1


# A segment longer than this is split at a checkpoint (unless one event's window is longer).
DEFAULT_MAX_SEGMENT_ENTRIES = 2000


@dataclass(frozen=True)
class ChainMaterial:
    """What the server read for one chain: seq-ordered entries, event values, checkpoints."""

    entries: Sequence[LedgerEntry]
    values: Mapping[int, bytes]  # event record value by offset (the subject's events at least)
    checkpoints: Sequence[SignedCheckpoint]


class CoveringCheckpoint(Protocol):
    """`covering_checkpoint` of one chain, over whatever store holds its checkpoints."""

    def __call__(self, first: int, last: int) -> SignedCheckpoint | None: ...


@dataclass(frozen=True)
class Segment:
    """One stretch of a chain in a trail: entries `first..end`, the subject's `seqs` in it."""

    chain: str
    first: int
    end: int
    seqs: tuple[int, ...]
    checkpoint: SignedCheckpoint | None
    offsets: tuple[int, ...] = ()  # the event offsets at `seqs`, when the planner knows them


def plan_segments(
    chain: str, seqs: Sequence[int], covering: CoveringCheckpoint, max_entries: int
) -> list[Segment]:
    """The stretches of `chain` a trail carries for the subject's entries at `seqs` (ascending).

    A stretch runs from its first event to the smallest checkpoint covering its last event
    (the largest covering its first when none covers the last yet). Events are taken into one
    stretch while it stays within `max_entries`; an event the stretch already covers is always
    taken, since the verifier refuses a segment that leaves out an entry of the subject.
    """
    segments: list[Segment] = []
    position = 0
    while position < len(seqs):
        first = seqs[position]
        note = covering(first, first)
        end = _segment_end(first, note)
        taken = [first]
        position += 1
        while position < len(seqs):
            seq = seqs[position]
            wider = covering(first, seq)
            wider_end = _segment_end(seq, wider)
            if seq > end and wider_end - first + 1 > max_entries:
                break
            taken.append(seq)
            note, end = wider, wider_end
            position += 1
        segments.append(Segment(chain, first, end, tuple(taken), note))
    return segments


def _segment_end(last: int, note: SignedCheckpoint | None) -> int:
    return max(last, note.checkpoint.size - 1) if note else last


def segment_document(
    segment: Segment,
    mine: Sequence[LedgerEntry],
    values: Mapping[tuple[str, int], bytes],
    nodes: NodeSource | None = None,
    witnessed: int | None = None,
) -> dict[str, Any]:
    """One item of a trail's `chains`, all but its `entries`: the subject's events (`mine`,
    the entries at `segment.seqs`, with their `values` by (chain, offset)), the checkpoint
    and, given the chain's Merkle `nodes`, the inclusion proofs in the checkpoint's tree
    and the consistency proof with the `witnessed` tree size (`domain/witness.py`)."""
    size = segment.checkpoint.checkpoint.size if segment.checkpoint else 0
    events = []
    for entry in mine:
        event = _event_document(entry, values.get((segment.chain, entry.offset)))
        if nodes is not None and entry.seq < size:
            event["inclusion"] = _b64_list(inclusion_path(entry.seq, size, nodes))
        events.append(event)
    document: dict[str, Any] = {
        "chain": segment.chain,
        "topic": mine[0].topic,
        "partition": mine[0].partition,
        "events": events,
        "checkpoint": segment.checkpoint.text if segment.checkpoint else None,
    }
    if nodes is not None and size:
        document["last_inclusion"] = _b64_list(inclusion_path(size - 1, size, nodes))
        if witnessed:
            first, second = sorted((witnessed, size))
            try:
                proof = consistency_path(first, second, nodes) if first < second else []
            except LookupError:  # a witnessed size beyond what the index holds: no proof
                return document
            document["consistency"] = {"size": witnessed, "proof": _b64_list(proof)}
    return document


def _b64_list(hashes: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def trail_from_segments(
    subject: str,
    segments: Sequence[tuple[Segment, Sequence[LedgerEntry]]],
    values: Mapping[tuple[str, int], bytes],
    nodes: Mapping[str, NodeSource] | None = None,
    witness: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The trail document: per segment (with its entries `first..end`) the subject's events
    (`values` by (chain, offset)), the entries and the checkpoint. A chain split into several
    segments appears once per segment, each verifiable on its own."""
    documents = []
    for segment, entries in sorted(segments, key=lambda item: (item[0].chain, item[0].first)):
        by_seq = {entry.seq: entry for entry in entries}
        mine = [by_seq[seq] for seq in segment.seqs]
        document = segment_document(
            segment,
            mine,
            values,
            (nodes or {}).get(segment.chain),
            (witness or {}).get(segment.chain),
        )
        documents.append({**document, "entries": [e.to_json() for e in entries]})
    return {"version": TRAIL_VERSION, "subject": subject, "chains": documents}


def build_trail(
    subject: str,
    chains: Mapping[str, ChainMaterial],
    max_entries: int = DEFAULT_MAX_SEGMENT_ENTRIES,
    witness: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The trail document of `subject` from whole chains (see module docstring)."""
    segments: list[tuple[Segment, Sequence[LedgerEntry]]] = []
    values: dict[tuple[str, int], bytes] = {}
    nodes: dict[str, NodeSource] = {}
    for chain, material in chains.items():
        nodes[chain] = nodes_of(tree_leaves(material.entries))
        seqs = [e.seq for e in material.entries if e.subject == subject]
        size = len(material.entries)

        def covering(
            first: int, last: int, material: ChainMaterial = material, size: int = size
        ) -> SignedCheckpoint | None:
            return covering_checkpoint(material.checkpoints, first, last, size)

        for segment in plan_segments(chain, seqs, covering, max_entries):
            segments.append((segment, material.entries[segment.first : segment.end + 1]))
        values.update({(chain, offset): value for offset, value in material.values.items()})
    return trail_from_segments(subject, segments, values, nodes, witness)


def covering_checkpoint(
    checkpoints: Sequence[SignedCheckpoint], first: int, last: int, chain_size: int
) -> SignedCheckpoint | None:
    """The smallest checkpoint covering seqs up to `last`, else the largest covering `first`."""
    usable = sorted(
        (n for n in checkpoints if first < n.checkpoint.size <= chain_size),
        key=lambda n: n.checkpoint.size,
    )
    for note in usable:
        if note.checkpoint.size > last:
            return note
    return usable[-1] if usable else None


def _event_document(entry: LedgerEntry, value: bytes | None) -> dict[str, Any]:
    document: dict[str, Any] = {"seq": entry.seq, "offset": entry.offset}
    if value is None:
        document["missing"] = True  # the server could not read it: the verifier will say so
    elif entry.form is CanonicalForm.JCS:
        document["event"] = canonical_value(value).document
    else:
        document["value_b64"] = base64.b64encode(value).decode()
    return document


@dataclass(frozen=True)
class TrailReport:
    subject: str
    events: int = 0
    anchored: int = 0
    unanchored: tuple[str, ...] = ()  # "chain seq n" not yet under a checkpoint
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_trail(document: Any, verifier: Verifier) -> TrailReport:
    """Check a trail document with the public key alone."""
    if not isinstance(document, dict) or not isinstance(document.get("subject"), str):
        return TrailReport("?", problems=(_malformed("?", 0, "not a trail document"),))
    subject = document["subject"]
    chains = document.get("chains")
    if not isinstance(chains, list):
        return TrailReport(subject, problems=(_malformed("?", 0, "`chains` is not a list"),))
    events = anchored = 0
    unanchored: list[str] = []
    problems: list[Problem] = []
    for chain_document in chains:
        result = _verify_chain_segment(subject, chain_document, verifier)
        events += result.events
        anchored += result.anchored
        unanchored.extend(result.unanchored)
        problems.extend(result.problems)
    return TrailReport(subject, events, anchored, tuple(unanchored), tuple(problems))


def _verify_chain_segment(subject: str, document: Any, verifier: Verifier) -> TrailReport:
    chain = str(document.get("chain", "?")) if isinstance(document, dict) else "?"
    try:
        entries = [LedgerEntry.from_json(raw) for raw in document["entries"]]
        event_documents = list(document["events"])
        note = parse_note(document["checkpoint"]) if document.get("checkpoint") else None
        last_inclusion = _hashes(document.get("last_inclusion"), "last_inclusion")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        return TrailReport(subject, problems=(_malformed(chain, 0, str(exc)),))
    if not entries:
        return TrailReport(subject, problems=(_malformed(chain, 0, "no ledger entries"),))

    first_seq = entries[0].seq
    prev = entries[0].prev  # the segment starts mid-chain: its first link is taken as given
    for position, entry in enumerate(entries):
        problem = check_entry(chain, entry, first_seq + position, prev)
        if problem is not None:
            return TrailReport(subject, problems=(problem,))
        prev = entry.hash
    by_seq = {entry.seq: entry for entry in entries}

    size = 0
    if note is not None:
        size = note.checkpoint.size
        problem = _check_checkpoint(chain, note, by_seq, last_inclusion, verifier)
        if problem is not None:
            return TrailReport(subject, problems=(problem,))

    seen: set[int] = set()
    for event_document in event_documents:
        problem, seq = _check_event(chain, subject, event_document, by_seq)
        if problem is None and note is not None and seq < size:
            problem = _check_event_inclusion(chain, event_document, by_seq[seq], note)
        if problem is not None:
            return TrailReport(subject, problems=(problem,))
        seen.add(seq)
    for entry in entries:
        if entry.subject == subject and entry.seq not in seen:
            return TrailReport(
                subject,
                problems=(
                    Problem(
                        chain,
                        entry.seq,
                        entry.offset,
                        Breakage.MISSING_EVENT,
                        f"the ledger chained event {entry.id} of {subject} but the trail omits it",
                    ),
                ),
            )
    unanchored = tuple(f"{chain} seq {seq}" for seq in sorted(seen) if seq >= size)
    return TrailReport(subject, len(seen), len(seen) - len(unanchored), unanchored)


def _hashes(raw: Any, name: str) -> list[bytes] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(h, str) for h in raw):
        raise ValueError(f"{name}: expected a list of base64 hashes")
    return [base64.b64decode(h, validate=True) for h in raw]


def _check_event_inclusion(
    chain: str, document: Mapping[str, Any], entry: LedgerEntry, note: SignedCheckpoint
) -> Problem | None:
    """The event's entry is leaf `seq` of the checkpoint's signed tree."""
    try:
        proof = _hashes(document.get("inclusion"), "inclusion")
    except (ValueError, binascii.Error) as exc:
        return _malformed(chain, entry.seq, str(exc))
    if proof is None:
        return _malformed(chain, entry.seq, f"event at seq {entry.seq} has no inclusion proof")
    return _inclusion_problem(chain, entry, proof, note, f"event {entry.id}", Breakage.BAD_PROOF)


def _inclusion_problem(
    chain: str,
    entry: LedgerEntry,
    proof: Sequence[bytes],
    note: SignedCheckpoint,
    what: str,
    kind: Breakage,
) -> Problem | None:
    size = note.checkpoint.size
    try:
        verify_inclusion(entry.seq, size, merkle_leaf(entry.hash), proof, note.checkpoint.root)
    except ProofError as exc:
        return Problem(
            chain,
            entry.seq,
            entry.offset,
            kind,
            f"{what}: not in the signed tree of size {size}: {exc}",
        )
    return None


def _check_checkpoint(
    chain: str,
    note: SignedCheckpoint,
    by_seq: Mapping[int, LedgerEntry],
    last_inclusion: Sequence[bytes] | None,
    verifier: Verifier,
) -> Problem | None:
    size = note.checkpoint.size
    if note.checkpoint.chain != chain:
        return _malformed(chain, size - 1, f"the checkpoint is of chain {note.checkpoint.chain}")
    if not note.verified_by(verifier):
        return Problem(
            chain,
            size - 1,
            None,
            Breakage.BAD_SIGNATURE,
            f"checkpoint of size {size} is not validly signed by key {verifier.name}",
        )
    head = by_seq.get(size - 1)
    if head is None:
        return _malformed(chain, size - 1, f"the segment does not reach seq {size - 1}")
    if last_inclusion is None:
        return _malformed(chain, size - 1, "the segment has no inclusion proof of its last entry")
    # The segment's links end in this leaf: a rewritten segment does not reach the signed root.
    what = f"entry seq {size - 1}"
    return _inclusion_problem(chain, head, last_inclusion, note, what, Breakage.ROOT_MISMATCH)


def _check_event(
    chain: str, subject: str, document: Any, by_seq: Mapping[int, LedgerEntry]
) -> tuple[Problem | None, int]:
    seq = document.get("seq") if isinstance(document, dict) else None
    if not isinstance(seq, int) or seq not in by_seq:
        return _malformed(chain, 0, f"event item {document!r:.80} names no entry"), -1
    entry = by_seq[seq]
    try:
        if "event" in document:
            canonical = canonicalize_document(document["event"])
            event_subject = document["event"].get("subject")
        elif "value_b64" in document:
            canonical = canonical_value(base64.b64decode(document["value_b64"], validate=True)).data
            event_subject = entry.subject
        else:
            return _missing(chain, entry), seq
    except (ValueError, TypeError, AttributeError, binascii.Error) as exc:
        return _malformed(chain, seq, f"event is not canonicalisable: {exc}"), seq
    if leaf_hash(canonical) != entry.leaf:
        return Problem(
            chain,
            seq,
            entry.offset,
            Breakage.ALTERED_EVENT,
            f"event {entry.id} does not match the leaf the ledger chained",
        ), seq
    if entry.subject != subject or event_subject != subject:
        return _malformed(chain, seq, f"event {entry.id} is of subject {entry.subject}"), seq
    return None, seq


def _missing(chain: str, entry: LedgerEntry) -> Problem:
    return Problem(
        chain,
        entry.seq,
        entry.offset,
        Breakage.DROPPED_EVENT,
        f"event {entry.id} chained at seq {entry.seq} could not be read from the topic",
    )


def _malformed(chain: str, seq: int, detail: str) -> Problem:
    return Problem(chain, seq, None, Breakage.MALFORMED, detail)
