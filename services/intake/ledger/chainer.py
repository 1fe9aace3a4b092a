"""Chaining a batch of accepted events: the ledger's application service, behind ports.

The worker's consumer loop hands over what it fetched; the chainer holds the heads of the
chains (event-topic partitions) it owns and, per batch:

1. per partition, records at or below the head's last offset are redeliveries: skipped;
   the others get their entries, computed in offset order from the head (pure);
2. all the batch's entries are published and every ack awaited, then the checkpoints due
   (every N entries) are signed and published;
3. only then the heads move: saved to the head store, then in memory.

A crash anywhere before 3 leaves the heads where they were: the records come again and get
the very same entries (same seq, same hash), which the verifier ignores as exact
duplicates; the chain never forks. A failure raises: the caller stops rather than skip.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol

from services.intake.ledger.domain.chain import (
    ChainHead,
    EventRecord,
    Extension,
    LedgerEntry,
    chain_key,
    extend_all,
    split_chain_key,
    undelivered,
)
from services.intake.ledger.domain.note import Checkpoint, Signer, origin_for, sign_checkpoint
from services.intake.ledger.health import ChainHealth

log = logging.getLogger(__name__)

Gaps = Mapping[tuple[str, int], Sequence[tuple[int, int]]]


class EntryPublisher(Protocol):
    async def publish_entries(self, entries: Sequence[LedgerEntry]) -> None: ...

    async def publish_checkpoint(self, chain: str, note: str) -> None: ...


class HeadStore(Protocol):
    async def load(self, chains: Iterable[str]) -> dict[str, ChainHead]: ...

    async def save(self, heads: Sequence[ChainHead]) -> None: ...


# Reads the records at offset ranges `[start, stop)` of partitions from the topics.
RangeReader = Callable[[Gaps], Awaitable[dict[tuple[str, int], list[EventRecord]]]]


class Chainer:
    """Chains the batches of the partitions this worker owns; see the module docstring."""

    def __init__(
        self,
        publisher: EntryPublisher,
        head_store: HeadStore,
        read_ranges: RangeReader,
        signer: Signer,
        *,
        checkpoint_every: int,
        origin_prefix: str,
        anchor: Callable[[str], None] | None = None,
        health: ChainHealth | None = None,
    ) -> None:
        self.publisher = publisher
        self.head_store = head_store
        self.read_ranges = read_ranges
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.origin_prefix = origin_prefix
        self.anchor = anchor
        self.health = health or ChainHealth()
        self.heads: dict[str, ChainHead] = {}  # chain → head, for the chains owned now
        self.checkpointed: dict[str, int] = {}  # chain → last size signed here (memory only)

    async def take_over(self, chains: Iterable[str]) -> dict[str, ChainHead]:
        """Own `chains` from their stored heads (a chain never chained starts empty); the
        heads say where each partition is to be read from (`last_offset + 1`)."""
        wanted = sorted(set(chains))
        stored = await self.head_store.load(wanted)
        taken = {key: stored.get(key) or ChainHead(*split_chain_key(key)) for key in wanted}
        self.heads.update(taken)
        self.health.keep_only(list(self.heads))
        return taken

    def give_up(self, chains: Iterable[str]) -> None:
        """Another worker owns `chains` now: forget their heads."""
        for key in chains:
            self.heads.pop(key, None)
            self.checkpointed.pop(key, None)
        self.health.keep_only(list(self.heads))

    async def chain(self, records: Iterable[EventRecord]) -> int:
        """Chain a batch (any partitions, in fetch order); returns the entries published.

        Records of a chain this worker does not own (revoked meanwhile) are left out: their
        new owner reads them from its head.
        """
        by_chain: dict[str, list[EventRecord]] = {}
        for record in records:
            by_chain.setdefault(chain_key(record.topic, record.partition), []).append(record)
        for key in [key for key in by_chain if key not in self.heads]:
            left = by_chain.pop(key)
            log.info("%s is another worker's now: %d record(s) left to it", key, len(left))
        # In offset order: after a seek back, a batch can hold a partition's records twice.
        for chain_records in by_chain.values():
            chain_records.sort(key=lambda record: record.offset)
        await self._add_undelivered(by_chain)
        extensions = {
            key: extend_all(self.heads[key], chain_records, checkpoint_every=self.checkpoint_every)
            for key, chain_records in by_chain.items()
        }
        _log_redeliveries(extensions)
        entries = [entry for ext in extensions.values() for entry in ext.entries]
        if not entries:
            return 0
        await self.publisher.publish_entries(entries)
        for extension in extensions.values():
            for head in extension.checkpoints(self.checkpoint_every):
                await self.publish_checkpoint(head)
        moved = {key: ext.head for key, ext in extensions.items() if ext.entries}
        await self.head_store.save(list(moved.values()))
        for key, head in moved.items():
            self.heads[key] = head
            self.health.chained(key, head.size, self.checkpointed.get(key, 0))
        return len(entries)

    async def checkpoint_grown(self) -> None:
        """Sign the owned chains that grew since their last checkpoint here."""
        for key, head in list(self.heads.items()):
            if head.size > self.checkpointed.get(key, 0):
                await self.publish_checkpoint(head)

    async def publish_checkpoint(self, head: ChainHead) -> None:
        """Sign the tree head of a chain, publish the note and hand it to the anchor."""
        key = chain_key(head.topic, head.partition)
        tree = head.tree()
        if tree is None:
            # A head stored before chains had Merkle trees: signing its hash would be a root
            # no proof leads to, so the chain stays unanchored (the verifier says so).
            log.error("checkpoint %s size %d: the head has no Merkle frontier", key, head.size)
            return
        origin = origin_for(self.origin_prefix, head.topic, head.partition)
        note = sign_checkpoint(Checkpoint(origin, head.size, tree.root()), self.signer)
        await self.publisher.publish_checkpoint(key, note)
        if self.anchor is not None:
            self.anchor(note)
        self.checkpointed[key] = max(self.checkpointed.get(key, 0), head.size)
        self.health.anchored(key, head.size, self.heads.get(key, head).size)
        log.info("checkpoint %s size %d", key, head.size)

    async def _add_undelivered(self, by_chain: dict[str, list[EventRecord]]) -> None:
        """Add the records past a head that the batch skips (read from the topic)."""
        gaps = {
            split_chain_key(key): ranges
            for key, chain_records in by_chain.items()
            if (ranges := undelivered(self.heads[key], (r.offset for r in chain_records)))
        }
        if not gaps:
            return
        found = await self.read_ranges(gaps)
        for (topic, partition), missing in found.items():
            key = chain_key(topic, partition)
            log.warning(
                "%s: offsets %s were not delivered by the consumer; %d record(s) read from "
                "the topic and chained first",
                key,
                ", ".join(f"{start}..{stop - 1}" for start, stop in gaps[(topic, partition)]),
                len(missing),
            )
            by_chain[key] = sorted([*by_chain[key], *missing], key=lambda record: record.offset)


def _log_redeliveries(extensions: Mapping[str, Extension]) -> None:
    for key, extension in extensions.items():
        if extension.redelivered:
            log.info(
                "skip redelivered %s offsets %d..%d (%d records)",
                key,
                extension.redelivered[0],
                extension.redelivered[-1],
                len(extension.redelivered),
            )
