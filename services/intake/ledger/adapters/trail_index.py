"""The subject index of the ledger, in RocksDB: what a trail document needs, without a scan.

Fed, in ledger-topic order, with the records of `ledger.v1` and `ledger.checkpoints.v1`
(`apply`, one call per fetched batch, from one thread); read through snapshots by a
`TrailIndexReader`, in this process or in another one that opens the store as a RocksDB
secondary instance. Keys (raw bytes, integers big-endian so that keys sort by number):

    E chain 0x00 u64(seq)                        → the entry's JSON (as the worker writes it)
    S subject 0x00 chain 0x00 u64(seq)           → u64(offset of the event)
    C chain 0x00 u64(size) u32(partition) u64(offset) → the checkpoint note (UTF-8)
    H chain                                      → {"size": n, "stopped": bool} (JSON)
    M chain 0x00 u8(level) u64(index)            → root of the chain's perfect Merkle subtree
                                                   of leaves index·2^level .. (index+1)·2^level-1
    P topic 0x00 u32(partition)                  → u64(next offset to read)

A chain is extended exactly as `domain/verify.py`'s `order_entries` reads it: an exact
repeat of a known seq is ignored, and the chain stops growing at the first fork or gap, so
the index serves what a full scan of the topic would have served. Each batch is one
atomic write together with the topic positions it reached, so a restarted process resumes
where its index stands, neither missing nor re-applying a record.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rocksdict import AccessType, Options, Rdict, Snapshot, WriteBatch

from services.intake.ledger.adapters.publisher import entry_value
from services.intake.ledger.domain.chain import LedgerEntry
from services.intake.ledger.domain.merkle import NodeSource, merkle_leaf, merkle_node
from services.intake.ledger.domain.note import SignedCheckpoint, Verifier, parse_note
from services.intake.ledger.domain.trail import Segment, plan_segments

log = logging.getLogger(__name__)

_SEP = b"\x00"


@dataclass(frozen=True)
class TopicRecord:
    """A record of the ledger or checkpoint topic, as the tailer fetched it."""

    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass
class _ChainState:
    size: int = 0
    stopped: bool = False  # a fork or a gap: the chain is served as far as it held


def _u64(number: int) -> bytes:
    return struct.pack(">Q", number)


def _entry_key(chain: str, seq: int) -> bytes:
    return b"E" + chain.encode() + _SEP + _u64(seq)


def _subject_prefix(subject: str) -> bytes:
    return b"S" + subject.encode() + _SEP


def _checkpoint_prefix(chain: str) -> bytes:
    return b"C" + chain.encode() + _SEP


def _node_key(chain: str, level: int, index: int) -> bytes:
    return b"M" + chain.encode() + _SEP + struct.pack(">BQ", level, index)


def _position_key(topic: str, partition: int) -> bytes:
    return b"P" + topic.encode() + _SEP + struct.pack(">I", partition)


class TrailIndexStore:
    """One process's subject index (RocksDB opens a directory for one process only)."""

    def __init__(self, path: Path) -> None:
        self.path, self._db, self._temporary = _open(path)
        self._chains: dict[str, _ChainState] = {}

    def close(self) -> None:
        self._db.close()
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)

    @property
    def temporary(self) -> bool:
        return self._temporary

    # -- writing (the tailer's thread) ----------------------------------------------------

    def positions(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The next offset to read of each (topic, partition) the index has read from."""
        found = {}
        for topic, partition in partitions:
            raw = self._db.get(_position_key(topic, partition))
            if raw is not None:
                found[(topic, partition)] = struct.unpack(">Q", raw)[0]
        return found

    def apply(
        self,
        ledger_topic: str,
        records: Sequence[TopicRecord],
        positions: Mapping[tuple[str, int], int],
    ) -> int:
        """Index a fetched batch and move to `positions`, atomically; returns entries added."""
        batch = WriteBatch(raw_mode=True)
        pending: dict[bytes, bytes] = {}  # entries written in this batch, not yet in the db
        touched: set[str] = set()
        added = 0
        for record in records:
            if record.topic == ledger_topic:
                added += self._apply_entry(record, batch, pending, touched)
            else:
                self._apply_checkpoint(record, batch)
        for chain in touched:
            state = self._chains[chain]
            batch.put(b"H" + chain.encode(), json.dumps(state.__dict__).encode())
        for (topic, partition), offset in positions.items():
            batch.put(_position_key(topic, partition), _u64(offset))
        self._db.write(batch)
        return added

    def _apply_entry(
        self, record: TopicRecord, batch: WriteBatch, pending: dict[bytes, bytes], touched: set[str]
    ) -> int:
        try:
            entry = LedgerEntry.from_json(json.loads(record.value))
        except ValueError as exc:  # (json's errors are ValueErrors too) `verify` reports it
            log.warning("trail index: unreadable ledger entry at offset %s: %s", record.offset, exc)
            return 0
        state = self._state(entry.chain)
        if state.stopped:
            return 0
        touched.add(entry.chain)
        key = _entry_key(entry.chain, entry.seq)
        # Stored as a trail document carries it, so that a read splices it in unparsed.
        normalized = entry_value(entry)
        if entry.seq == state.size:
            batch.put(key, normalized)
            pending[key] = normalized
            self._put_nodes(entry, batch, pending)
            if entry.subject is not None:
                batch.put(
                    _subject_prefix(entry.subject) + entry.chain.encode() + _SEP + _u64(entry.seq),
                    _u64(entry.offset),
                )
            state.size += 1
            return 1
        known = (pending.get(key) or self._db.get(key)) if entry.seq < state.size else None
        if known == normalized:
            return 0  # an exact redelivery of the worker's, as `verify` ignores it
        state.stopped = True
        log.warning(
            "trail index: chain %s stops at size %s (%s entry for seq %s)",
            entry.chain,
            state.size,
            "a conflicting" if entry.seq < state.size else "a gap before the",
            entry.seq,
        )
        return 0

    def _put_nodes(
        self, entry: LedgerEntry, batch: WriteBatch, pending: dict[bytes, bytes]
    ) -> None:
        """The entry's Merkle leaf and every perfect subtree it completes (RFC 9162 hashes)."""
        node, level, index = merkle_leaf(entry.hash), 0, entry.seq
        while True:
            key = _node_key(entry.chain, level, index)
            batch.put(key, node)
            pending[key] = node
            if not index & 1:
                return
            sibling = _node_key(entry.chain, level, index - 1)
            left = pending.get(sibling) or self._db.get(sibling)
            if left is None:  # an index written before it stored nodes: proofs say so
                return
            node, level, index = merkle_node(bytes(left), node), level + 1, index >> 1

    def _apply_checkpoint(self, record: TopicRecord, batch: WriteBatch) -> None:
        try:
            note = parse_note(record.value.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("trail index: unreadable checkpoint at offset %s: %s", record.offset, exc)
            return
        key = (
            _checkpoint_prefix(note.checkpoint.chain)
            + _u64(note.checkpoint.size)
            + struct.pack(">IQ", record.partition, record.offset)
        )
        batch.put(key, record.value)

    def _state(self, chain: str) -> _ChainState:
        state = self._chains.get(chain)
        if state is None:
            raw = self._db.get(b"H" + chain.encode())
            state = _ChainState(**json.loads(raw)) if raw is not None else _ChainState()
            self._chains[chain] = state
        return state

    def clear(self) -> None:
        """Forget everything (the topics were recreated: the index describes another ledger)."""
        self._db.delete_range(b"\x00", b"\xff")  # every key starts with a letter
        self._chains.clear()

    def reader(self) -> TrailIndexReader:
        """Reads over this store in this process (the tests; the endpoint reads in its pool)."""
        return TrailIndexReader(self._db)


class TrailIndexReader:
    """Reads of a store, in the writing process or in another one (a RocksDB secondary)."""

    def __init__(self, db: Rdict, *, secondary: bool = False) -> None:
        self._db = db
        self._secondary = secondary

    @classmethod
    def secondary_of(cls, primary: Path, scratch: Path) -> TrailIndexReader:
        """Another process's view of the store at `primary` (`scratch`: its own log files)."""
        options = Options(raw_mode=True)
        options.set_max_open_files(-1)  # as RocksDB requires of a secondary instance
        return cls(
            Rdict(str(primary), options, access_type=AccessType.secondary(str(scratch))),
            secondary=True,
        )

    def _snapshot(self) -> Snapshot:
        if self._secondary:
            self._db.try_catch_up_with_primary()  # at least what the writer had written
        return self._db.snapshot()

    def plan(self, subject: str, verifier: Verifier | None, max_entries: int) -> list[Segment]:
        """The segments of `subject`'s trail, from one consistent snapshot.

        With a `verifier`, only checkpoints it accepts are offered.
        """
        snapshot = self._snapshot()
        offsets: dict[str, dict[int, int]] = {}  # chain → seq → event offset
        prefix = _subject_prefix(subject)
        for key, value in _scan(snapshot, prefix, prefix):
            chain = key[len(prefix) : -len(_SEP) - 8].decode()  # (a u64 may hold zero bytes)
            seq = struct.unpack(">Q", key[-8:])[0]
            offsets.setdefault(chain, {})[seq] = struct.unpack(">Q", value)[0]
        planned: list[Segment] = []
        for chain, offset_of in sorted(offsets.items()):
            size = _ChainState(**json.loads(snapshot[b"H" + chain.encode()])).size
            covering = _SnapshotCheckpoints(snapshot, chain, size, verifier)
            seqs = sorted(seq for seq in offset_of if seq < size)
            planned.extend(
                replace(segment, offsets=tuple(offset_of[seq] for seq in segment.seqs))
                for segment in plan_segments(chain, seqs, covering, max_entries)
            )
        return planned

    def nodes(self, chain: str) -> NodeSource:
        """The chain's Merkle subtree roots, from one snapshot (for inclusion proofs)."""
        snapshot = self._snapshot()

        def node(level: int, index: int) -> bytes:
            value = _get(snapshot, _node_key(chain, level, index))
            if value is None:
                raise LookupError(f"the index lacks Merkle node {level}/{index} of {chain}")
            return value

        return node

    def chain_size(self, chain: str) -> int:
        """How many entries of `chain` the index holds (0 for a chain it never saw)."""
        raw = _get(self._snapshot(), b"H" + chain.encode())
        return 0 if raw is None else _ChainState(**json.loads(raw)).size

    def checkpoint_of_size(
        self, chain: str, size: int, verifier: Verifier | None
    ) -> SignedCheckpoint | None:
        """A signed checkpoint of exactly `size` (one the `verifier` accepts, given one)."""
        covering = _SnapshotCheckpoints(self._snapshot(), chain, size, verifier)
        return covering.of_size(size)

    def entries(self, segment: Segment) -> tuple[list[bytes], list[LedgerEntry]]:
        """The JSON of a planned segment's entries `first..end` (never rewritten once
        indexed), and the subject's entries among them, parsed."""
        snapshot = self._snapshot()
        raw: list[bytes] = []
        mine: list[LedgerEntry] = []
        prefix = b"E" + segment.chain.encode() + _SEP
        wanted = set(segment.seqs)
        for _, value in _scan(snapshot, prefix, _entry_key(segment.chain, segment.first)):
            if len(raw) > segment.end - segment.first:
                break
            if segment.first + len(raw) in wanted:
                mine.append(LedgerEntry.from_json(json.loads(value)))
            raw.append(value)
        if len(raw) != segment.end - segment.first + 1:
            raise LookupError(
                f"the index lacks entries {segment.first}..{segment.end} of {segment.chain}"
            )
        return raw, mine


def _get(snapshot: Snapshot, key: bytes) -> bytes | None:
    """The value of `key`, None when absent (a snapshot has no `get`, and its `[]` raises a
    bare Exception for a missing key, which no `except KeyError` catches)."""
    for found, value in snapshot.items(from_key=key):
        return bytes(value) if found == key else None
    return None


def _scan(
    snapshot: Snapshot, prefix: bytes, start: bytes, *, backwards: bool = False
) -> Iterator[tuple[bytes, bytes]]:
    """The snapshot's items under `prefix` from `start` on (down from it, `backwards`)."""
    for key, value in snapshot.items(from_key=start, backwards=backwards):
        if not (isinstance(key, bytes) and key.startswith(prefix)):
            return
        yield key, bytes(value)


@dataclass(frozen=True)
class _SnapshotCheckpoints:
    """`covering_checkpoint` over the snapshot's checkpoints of one chain."""

    snapshot: Snapshot
    chain: str
    chain_size: int
    verifier: Verifier | None

    def __call__(self, first: int, last: int) -> SignedCheckpoint | None:
        # The smallest checkpoint of a size in (last, chain_size], else the largest in
        # (first, last]: exactly `domain/trail.py`'s `covering_checkpoint`.
        above = self._first(last + 1, self.chain_size, backwards=False)
        return above if above is not None else self._first(first + 1, last, backwards=True)

    def of_size(self, size: int) -> SignedCheckpoint | None:
        return self._first(size, size, backwards=False)

    def _first(self, low: int, high: int, *, backwards: bool) -> SignedCheckpoint | None:
        if low > high:
            return None
        prefix = _checkpoint_prefix(self.chain)
        start = prefix + _u64(high + 1) if backwards else prefix + _u64(low)
        for key, value in _scan(self.snapshot, prefix, start, backwards=backwards):
            size = struct.unpack(">Q", key[len(prefix) : len(prefix) + 8])[0]
            if size > high or size < low:
                if backwards and size > high:
                    continue  # seeking backwards lands on the first key at or before start
                break
            note = parse_note(value.decode("utf-8"))
            if self.verifier is None or note.verified_by(self.verifier):
                return note
        return None


def _open(path: Path) -> tuple[Path, Rdict, bool]:
    """The store at `path`, or in a fresh temporary directory when another process (or another
    app in this process) holds `path`: that one keeps its index, this one builds its own."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        return path, Rdict(str(path), Options(raw_mode=True)), False
    except Exception as exc:  # rocksdict raises a bare Exception for a held lock
        if "lock" not in str(exc).lower():
            raise
    temporary = Path(tempfile.mkdtemp(prefix=f"{path.name}.", dir=path.parent))
    log.warning(
        "trail index %s is held by another process; indexing into %s from the start "
        "(give each intake process its own QMS_DATA_DIR to keep its index)",
        path,
        temporary,
    )
    return temporary, Rdict(str(temporary), Options(raw_mode=True)), True
