"""Verify chains and build subject trails from Kafka: read through the adapters, judge purely."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.topics import LEDGER_CHECKPOINTS_TOPIC, LEDGER_TOPIC
from services.common.kafka_security import aiokafka_security
from services.intake.ledger.adapters.kafka import (
    Unreadable,
    fetch_values,
    read_checkpoints,
    read_ledger,
    read_topics,
)
from services.intake.ledger.domain.chain import LedgerEntry, chain_key, split_chain_key
from services.intake.ledger.domain.note import SignedCheckpoint, Verifier
from services.intake.ledger.domain.trail import ChainMaterial, build_trail
from services.intake.ledger.domain.verify import (
    ChainReport,
    Coverage,
    order_entries,
    verify_chain,
)
from services.intake.ledger.settings import LedgerSettings


@dataclass(frozen=True)
class VerifyResult:
    chains: list[ChainReport]
    unreadable: list[Unreadable] = field(default_factory=list)
    subject: str | None = None

    @property
    def ok(self) -> bool:
        return not self.unreadable and all(report.ok for report in self.chains)

    @property
    def first_problem(self) -> str | None:
        if self.unreadable:
            return f"unreadable record {self.unreadable[0]}"
        broken = [report.problem for report in self.chains if report.problem is not None]
        return str(broken[0]) if broken else None


async def verify_topics(
    settings: LedgerSettings,
    verifier: Verifier,
    *,
    topics: Sequence[str] | None = None,
    events_topic: str | None = None,
    subject: str | None = None,
    extra_checkpoints: Sequence[SignedCheckpoint] = (),
) -> VerifyResult:
    """Verify the chains of `topics` (short names; default: every chained topic).

    `events_topic` (a full name) reads the events from a copy of the one topic instead of the
    topic itself; offsets are then not compared, positions are.
    """
    chosen = [settings.topic(short) for short in (topics or settings.chained_topics)]
    if events_topic is not None and len(chosen) != 1:
        raise ValueError("--events-topic needs exactly one --topic")
    bootstrap = settings.kafka_bootstrap_servers
    security = aiokafka_security(settings)
    # Checkpoints, then the ledger, then the events: a running worker signs a checkpoint only
    # once its entries are in the ledger, and writes an entry only after its event, so each
    # read finds everything the earlier ones refer to (read the other way round, a checkpoint
    # signed meanwhile would look like a ledger shorter than its checkpoint).
    checkpoint_topic = settings.topic(LEDGER_CHECKPOINTS_TOPIC)
    notes, bad_notes = await read_checkpoints(bootstrap, checkpoint_topic, security=security)
    entries, unreadable = await read_ledger(
        bootstrap, settings.topic(LEDGER_TOPIC), security=security
    )
    source_of = {name: events_topic or name for name in chosen}
    records = await read_topics(bootstrap, sorted(set(source_of.values())), security=security)

    by_chain: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        by_chain[entry.chain].append(entry)
    # A running worker signs while we read: checkpoints of entries we did read may have
    # arrived after the first read. Read again, keep those within what we read of the
    # ledger, so that a busy chain is not mistaken for one whose checkpoints were removed.
    later, _ = await read_checkpoints(bootstrap, checkpoint_topic, security=security)
    read_sizes = {
        chain: 1 + max(e.seq for e in chain_entries) for chain, chain_entries in by_chain.items()
    }
    notes = [
        *notes,
        *(n for n in later if n.checkpoint.size <= read_sizes.get(n.checkpoint.chain, 0)),
        *extra_checkpoints,
    ]
    coverage = Coverage(every=settings.checkpoint_every, batch=settings.batch_size)
    chains = set(by_chain) | {note.checkpoint.chain for note in notes}
    for topic, partition in records:
        for name, source in source_of.items():
            if source == topic:
                chains.add(chain_key(name, partition))

    reports = []
    for chain in sorted(chains):
        topic, partition = split_chain_key(chain)
        if topic not in source_of:
            continue
        reports.append(
            verify_chain(
                chain,
                by_chain.get(chain, []),
                records.get((source_of[topic], partition), []),
                notes,
                verifier,
                check_offsets=events_topic is None,
                subject=subject,
                coverage=coverage,
            )
        )
    return VerifyResult(reports, [*unreadable, *bad_notes], subject)


async def scanned_trail_document(
    settings: LedgerSettings, subject: str, verifier: Verifier | None = None
) -> dict[str, Any]:
    """The offline-verifiable trail of one subject (see `domain/trail.py`), by reading the
    whole ledger: the reference the subject index (`trails.py`, what the endpoint serves) is
    tested against. Seconds for a ledger of 100,000 entries; never on a request path.

    With a `verifier`, only checkpoints it accepts are offered as the covering one.
    """
    bootstrap = settings.kafka_bootstrap_servers
    security = aiokafka_security(settings)
    # Checkpoints first: every entry a checkpoint covers is then in the ledger read after it.
    notes, _ = await read_checkpoints(
        bootstrap, settings.topic(LEDGER_CHECKPOINTS_TOPIC), security=security
    )
    entries, _ = await read_ledger(bootstrap, settings.topic(LEDGER_TOPIC), security=security)
    if verifier is not None:
        notes = [note for note in notes if note.verified_by(verifier)]
    by_chain: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        by_chain[entry.chain].append(entry)
    ordered: dict[str, list[LedgerEntry]] = {}
    wanted: dict[tuple[str, int], list[int]] = defaultdict(list)
    for chain, chain_entries in by_chain.items():
        # A broken chain is served as far as it holds; the verifier of the trail will say where.
        good, _, _ = order_entries(chain, chain_entries)
        ordered[chain] = good
        for entry in good:
            if entry.subject == subject:
                wanted[(entry.topic, entry.partition)].append(entry.offset)
    values = await fetch_values(bootstrap, wanted, security=security)
    materials = {
        chain: ChainMaterial(
            entries=ordered[chain],
            values={
                offset: value
                for (topic, partition, offset), value in values.items()
                if chain_key(topic, partition) == chain
            },
            checkpoints=[note for note in notes if note.checkpoint.chain == chain],
        )
        for chain in ordered
        if (split_chain_key(chain)) in wanted
    }
    return build_trail(subject, materials, settings.trail_max_segment_entries)
