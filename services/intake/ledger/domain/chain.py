"""The hash chain: one chain per event-topic partition, one entry per event record.

    leaf       = SHA-256(0x00 || canonical_bytes(event))
    entry_hash = SHA-256(0x01 || prev || leaf || u64(seq) || u64(offset) || u32(partition)
                         || u16(len(topic)) || topic)

`prev` is the previous entry's hash (32 zero bytes for seq 0), integers are big-endian,
`topic` is the UTF-8 name of the event topic. `seq` counts entries of the chain gap-free
from 0 (Kafka offsets can have gaps); the chain's size is the number of entries and its
head the hash of the last one. Each chain is shadowed by an RFC 9162 Merkle tree whose
leaves are the entry hashes in `seq` order (`domain/merkle.py`); the head keeps the
tree's right edge (`frontier`), so that a checkpoint signs the tree's root.
The 0x00/0x01 prefixes keep leaves and entries apart
(the RFC 9162 domain separation), so a leaf can never pass for an entry.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from services.intake.ledger.domain.canonical import CanonicalForm, canonical_value
from services.intake.ledger.domain.merkle import Frontier, append_leaf, merkle_leaf

HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)
ENTRY_VERSION = 1
# Envelope fields are copied into an entry for lookups only when they are this short (the
# contracts allow far less): a hostile value of any size can never make an entry too large
# to publish. The leaf commits to the whole event either way.
MAX_COPIED_CHARS = 512


def chain_key(topic: str, partition: int) -> str:
    """`qms.dossier.v1/0`: the chain id, also the ledger record key."""
    return f"{topic}/{partition}"


def split_chain_key(key: str) -> tuple[str, int]:
    """Inverse of `chain_key`."""
    topic, _, partition = key.rpartition("/")
    if not topic or not partition.isdigit():
        raise ValueError(f"not a chain key (topic/partition): {key!r}")
    return topic, int(partition)


def leaf_hash(canonical_bytes: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + canonical_bytes).digest()


def entry_hash(
    *, prev: bytes, leaf: bytes, seq: int, offset: int, topic: str, partition: int
) -> bytes:
    topic_bytes = topic.encode("utf-8")
    return hashlib.sha256(
        b"\x01"
        + prev
        + leaf
        + struct.pack(">QQIH", seq, offset, partition, len(topic_bytes))
        + topic_bytes
    ).digest()


@dataclass(frozen=True)
class EventRecord:
    """One record of an event topic, as read back from Kafka."""

    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True)
class LedgerEntry:
    """One link of a chain; the value of a `ledger.v1` record (JSON, hashes in hex)."""

    topic: str
    partition: int
    offset: int
    seq: int
    form: CanonicalForm
    leaf: bytes
    prev: bytes
    hash: bytes
    # Copied from the envelope for lookups (e.g. by subject); committed through the leaf.
    source: str | None = None
    id: str | None = None
    type: str | None = None
    subject: str | None = None

    @property
    def chain(self) -> str:
        return chain_key(self.topic, self.partition)

    def expected_hash(self) -> bytes:
        return entry_hash(
            prev=self.prev,
            leaf=self.leaf,
            seq=self.seq,
            offset=self.offset,
            topic=self.topic,
            partition=self.partition,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "v": ENTRY_VERSION,
            "chain": self.chain,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "seq": self.seq,
            "source": self.source,
            "id": self.id,
            "type": self.type,
            "subject": self.subject,
            "form": self.form.value,
            "leaf": self.leaf.hex(),
            "prev": self.prev.hex(),
            "hash": self.hash.hex(),
        }

    @classmethod
    def from_json(cls, raw: Any) -> LedgerEntry:
        """Parse a ledger record value; ValueError names what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError("a ledger entry must be a JSON object")
        try:
            entry = cls(
                topic=_str(raw, "topic"),
                partition=_int(raw, "partition"),
                offset=_int(raw, "offset"),
                seq=_int(raw, "seq"),
                form=CanonicalForm(_str(raw, "form")),
                leaf=_hash(raw, "leaf"),
                prev=_hash(raw, "prev"),
                hash=_hash(raw, "hash"),
                source=_opt_str(raw, "source"),
                id=_opt_str(raw, "id"),
                type=_opt_str(raw, "type"),
                subject=_opt_str(raw, "subject"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed ledger entry: {exc}") from exc
        return entry


@dataclass(frozen=True)
class ChainHead:
    """Where a chain stands: its size, head hash and the last event offset it chained."""

    topic: str
    partition: int
    size: int = 0
    head: bytes = ZERO_HASH
    last_offset: int = -1
    # The Merkle tree's right edge (`Frontier.hashes`); None for a head stored before the
    # chain had a tree (its checkpoints cannot carry a tree root until it is rebuilt).
    frontier: tuple[bytes, ...] | None = ()

    def tree(self) -> Frontier | None:
        """The chain's Merkle frontier, if this head knows it."""
        if self.frontier is None or len(self.frontier) != self.size.bit_count():
            return None
        return Frontier(self.size, self.frontier)

    def grown(self, entry: LedgerEntry) -> ChainHead:
        """The head once `entry` (the next one) is in the chain."""
        tree = self.tree()
        frontier = tree.append(merkle_leaf(entry.hash)).hashes if tree is not None else None
        return replace(
            self,
            size=self.size + 1,
            head=entry.hash,
            last_offset=entry.offset,
            frontier=frontier,
        )

    def already_chained(self, offset: int) -> bool:
        """True for a redelivered record: offsets only grow within a partition."""
        return offset <= self.last_offset

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "size": self.size,
            "head": self.head.hex(),
            "last_offset": self.last_offset,
            "frontier": None if self.frontier is None else [h.hex() for h in self.frontier],
        }

    @classmethod
    def from_json(cls, raw: Any) -> ChainHead:
        size = _int(raw, "size")
        frontier = raw.get("frontier", [] if size == 0 else None)
        return cls(
            topic=_str(raw, "topic"),
            partition=_int(raw, "partition"),
            size=size,
            head=_hash(raw, "head"),
            last_offset=_int(raw, "last_offset"),
            frontier=None
            if frontier is None
            else tuple(_hash({"frontier": h}, "frontier") for h in frontier),
        )


def extend(head: ChainHead, record: EventRecord) -> tuple[LedgerEntry, ChainHead]:
    """The entry that chains `record` after `head`, and the new head."""
    if (record.topic, record.partition) != (head.topic, head.partition):
        raise ValueError(f"record of {record.topic}/{record.partition} on chain of {head.topic}")
    if head.already_chained(record.offset):
        raise ValueError(f"offset {record.offset} already chained (last {head.last_offset})")
    entry = _entry(record, seq=head.size, prev=head.head)
    return entry, head.grown(entry)


@dataclass(frozen=True)
class Extension:
    """What a batch of one partition's records adds to its chain."""

    entries: tuple[LedgerEntry, ...]  # in seq order
    head: ChainHead  # the head once every entry is in the ledger
    redelivered: tuple[int, ...]  # offsets skipped because they are chained already
    # The head after each entry, or only at the checkpoint sizes `extend_all` was given.
    heads: tuple[ChainHead, ...] = ()

    def checkpoints(self, every: int) -> list[ChainHead]:
        """The heads at each size that is a multiple of `every` reached by this batch."""
        return [head for head in self.heads if head.size % every == 0]


def extend_all(
    head: ChainHead, records: Iterable[EventRecord], *, checkpoint_every: int | None = None
) -> Extension:
    """Chain `records` (one partition, in offset order) after `head`, skipping redeliveries.

    Entry for entry what `extend` gives, in one pass that keeps the Merkle frontier as a
    plain list and builds a `ChainHead` only where one is needed: the last, and (with
    `checkpoint_every`) those at the sizes a checkpoint signs, else after every entry."""
    entries: list[LedgerEntry] = []
    heads: list[ChainHead] = []
    redelivered: list[int] = []
    tree = head.tree()
    frontier = list(tree.hashes) if tree is not None else None
    size, prev, last_offset = head.size, head.head, head.last_offset
    topic, partition = head.topic, head.partition
    for record in records:
        if (record.topic, record.partition) != (topic, partition):
            raise ValueError(f"record of {record.topic}/{record.partition} on chain of {topic}")
        if record.offset <= last_offset:
            redelivered.append(record.offset)
            continue
        entry = _entry(record, seq=size, prev=prev)
        entries.append(entry)
        if frontier is not None:
            append_leaf(frontier, size, merkle_leaf(entry.hash))
        size, prev, last_offset = size + 1, entry.hash, record.offset
        if checkpoint_every is None or size % checkpoint_every == 0:
            heads.append(_head_at(head, size, prev, last_offset, frontier))
    last = _head_at(head, size, prev, last_offset, frontier) if entries else head
    return Extension(tuple(entries), last, tuple(redelivered), tuple(heads))


def _entry(record: EventRecord, *, seq: int, prev: bytes) -> LedgerEntry:
    canonical = canonical_value(record.value)
    leaf = leaf_hash(canonical.data)
    return LedgerEntry(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        seq=seq,
        form=canonical.form,
        leaf=leaf,
        prev=prev,
        hash=entry_hash(
            prev=prev,
            leaf=leaf,
            seq=seq,
            offset=record.offset,
            topic=record.topic,
            partition=record.partition,
        ),
        **_envelope_fields(canonical.document),
    )


def _head_at(
    start: ChainHead, size: int, head: bytes, last_offset: int, frontier: list[bytes] | None
) -> ChainHead:
    return ChainHead(
        start.topic,
        start.partition,
        size,
        head,
        last_offset,
        None if frontier is None else tuple(frontier),
    )


def undelivered(head: ChainHead, offsets: Iterable[int]) -> list[tuple[int, int]]:
    """The offset ranges `[start, stop)` past `head` that a partition's delivered `offsets`
    (ascending) leave out: records the consumer never handed over, or offsets that hold no
    record at all (only reading the topic tells which). Redeliveries are not gaps."""
    gaps: list[tuple[int, int]] = []
    expected = head.last_offset + 1
    for offset in offsets:
        if offset > expected:
            gaps.append((expected, offset))
        expected = max(expected, offset + 1)
    return gaps


def tree_leaves(entries: Iterable[LedgerEntry]) -> list[bytes]:
    """The Merkle leaf hashes of a chain's entries (in seq order)."""
    return [merkle_leaf(entry.hash) for entry in entries]


def record_leaf(value: bytes) -> bytes:
    """The leaf a record value must have."""
    return leaf_hash(canonical_value(value).data)


def _envelope_fields(document: Any) -> dict[str, str | None]:
    fields: dict[str, str | None] = {}
    for name in ("source", "id", "type", "subject"):
        value = document.get(name) if isinstance(document, dict) else None
        copied = isinstance(value, str) and len(value) <= MAX_COPIED_CHARS
        fields[name] = value if copied else None
    return fields


def _str(raw: dict[str, Any], name: str) -> str:
    value = raw[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: expected a non-empty string")
    return value


def _opt_str(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name}: expected a string or null")
    return value


def _int(raw: dict[str, Any], name: str) -> int:
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ValueError(f"{name}: expected an integer")
    return value


def _hash(raw: dict[str, Any], name: str) -> bytes:
    value = raw[name]
    try:
        digest = bytes.fromhex(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected {HASH_SIZE * 2} hex digits") from exc
    if len(digest) != HASH_SIZE:
        raise ValueError(f"{name}: expected {HASH_SIZE * 2} hex digits")
    return digest
