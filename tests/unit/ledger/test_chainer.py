"""The ledger's chaining service with fakes for the publisher, the head store and the topic
reader: what is published, in which order against the heads, and what a failure leaves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from services.intake.ledger.chainer import Chainer, Gaps
from services.intake.ledger.domain.chain import (
    ChainHead,
    EventRecord,
    LedgerEntry,
    chain_key,
    extend_all,
)
from services.intake.ledger.domain.note import parse_note
from tests.unit.ledger.builders import TOPIC, chain_over, new_signer, records

pytestmark = pytest.mark.unit

CHAIN = chain_key(TOPIC, 0)
OTHER = chain_key(TOPIC, 1)


class Broken(Exception):
    pass


class Journal:
    """What the fakes were asked to do, in order."""

    def __init__(self) -> None:
        self.steps: list[str] = []


class FakePublisher:
    def __init__(self, journal: Journal, fail_entries: bool = False) -> None:
        self.journal = journal
        self.fail_entries = fail_entries
        self.entries: list[LedgerEntry] = []
        self.notes: list[tuple[str, str]] = []

    async def publish_entries(self, entries: Sequence[LedgerEntry]) -> None:
        if self.fail_entries:
            self.entries.extend(entries[: len(entries) // 2])  # half landed, then the failure
            raise Broken("broker refused")
        self.entries.extend(entries)
        self.journal.steps.append(f"entries {len(entries)}")

    async def publish_checkpoint(self, chain: str, note: str) -> None:
        self.notes.append((chain, note))
        self.journal.steps.append(f"checkpoint {chain} {parse_note(note).checkpoint.size}")


class FakeHeads:
    def __init__(self, journal: Journal, stored: Iterable[ChainHead] = ()) -> None:
        self.journal = journal
        self.stored = {chain_key(h.topic, h.partition): h for h in stored}
        self.fail_saves = False

    async def load(self, chains: Iterable[str]) -> dict[str, ChainHead]:
        return {key: self.stored[key] for key in chains if key in self.stored}

    async def save(self, heads: Sequence[ChainHead]) -> None:
        if self.fail_saves:
            raise Broken("heads topic refused")
        for head in heads:
            self.stored[chain_key(head.topic, head.partition)] = head
        self.journal.steps.append(f"heads {len(heads)}")


class FakeTopic:
    """The event topics, for the records the consumer did not hand over."""

    def __init__(self, *partitions: Sequence[EventRecord]) -> None:
        self.records = [record for partition in partitions for record in partition]
        self.asked: list[Gaps] = []

    async def read(self, gaps: Gaps) -> dict[tuple[str, int], list[EventRecord]]:
        self.asked.append(gaps)
        return {
            key: [
                r
                for r in self.records
                if (r.topic, r.partition) == key and any(a <= r.offset < b for a, b in ranges)
            ]
            for key, ranges in gaps.items()
        }


def chainer_with(
    publisher: FakePublisher, heads: FakeHeads, topic: FakeTopic | None = None, every: int = 4
) -> Chainer:
    return Chainer(
        publisher,
        heads,
        (topic or FakeTopic()).read,
        new_signer(),
        checkpoint_every=every,
        origin_prefix="qms-trail",
    )


async def test_entries_are_acked_then_checkpoints_signed_then_heads_saved() -> None:
    journal = Journal()
    publisher, heads = FakePublisher(journal), FakeHeads(journal)
    chainer = chainer_with(publisher, heads)
    await chainer.take_over([CHAIN, OTHER])
    batch = [*records(5, partition=0), *records(2, partition=1)]

    assert await chainer.chain(batch) == 7

    assert journal.steps == ["entries 7", f"checkpoint {CHAIN} 4", "heads 2"]
    assert publisher.entries[:5] == chain_over(batch[:5])
    assert heads.stored[CHAIN].size == 5 and heads.stored[CHAIN].last_offset == 4
    assert heads.stored[OTHER].size == 2
    assert chainer.heads == heads.stored


async def test_a_failed_publish_moves_no_head_and_the_retry_gives_the_same_entries() -> None:
    journal = Journal()
    failing = FakePublisher(journal, fail_entries=True)
    heads = FakeHeads(journal)
    chainer = chainer_with(failing, heads)
    await chainer.take_over([CHAIN])
    batch = records(6)

    with pytest.raises(Broken):
        await chainer.chain(batch)
    assert heads.stored == {} and chainer.heads[CHAIN].size == 0
    landed = list(failing.entries)

    # The next owner (or the restarted worker) starts from the unmoved head.
    retry = FakePublisher(journal)
    successor = chainer_with(retry, heads)
    await successor.take_over([CHAIN])
    await successor.chain(batch)
    assert retry.entries[: len(landed)] == landed  # exact duplicates of what had landed
    assert heads.stored[CHAIN].size == 6


async def test_a_failed_head_save_leaves_the_head_in_memory_where_it_was() -> None:
    journal = Journal()
    publisher, heads = FakePublisher(journal), FakeHeads(journal)
    chainer = chainer_with(publisher, heads)
    await chainer.take_over([CHAIN])
    heads.fail_saves = True
    with pytest.raises(Broken):
        await chainer.chain(records(3))
    assert chainer.heads[CHAIN].size == 0  # so this worker too would chain them again


async def test_redeliveries_are_skipped_and_a_batch_of_only_those_publishes_nothing() -> None:
    journal = Journal()
    done = extend_all(ChainHead(TOPIC, 0), records(3)).head
    publisher, heads = FakePublisher(journal), FakeHeads(journal, [done])
    chainer = chainer_with(publisher, heads)
    assert (await chainer.take_over([CHAIN]))[CHAIN] == done

    assert await chainer.chain(records(3)) == 0
    assert journal.steps == []

    assert await chainer.chain(records(5)) == 2
    assert [entry.seq for entry in publisher.entries] == [3, 4]


async def test_records_of_a_chain_given_up_are_left_to_its_new_owner() -> None:
    journal = Journal()
    publisher, heads = FakePublisher(journal), FakeHeads(journal)
    chainer = chainer_with(publisher, heads)
    await chainer.take_over([CHAIN, OTHER])
    chainer.give_up([OTHER])

    assert await chainer.chain([*records(2, partition=0), *records(2, partition=1)]) == 2
    assert {entry.chain for entry in publisher.entries} == {CHAIN}
    assert set(heads.stored) == {CHAIN}


async def test_records_the_consumer_skipped_are_read_from_the_topic_and_chained_first() -> None:
    journal = Journal()
    all_records = records(6)
    topic = FakeTopic(all_records)
    publisher, heads = FakePublisher(journal), FakeHeads(journal)
    chainer = chainer_with(publisher, heads, topic)
    await chainer.take_over([CHAIN])

    await chainer.chain([all_records[0], *all_records[3:]])  # offsets 1 and 2 never came

    assert topic.asked == [{(TOPIC, 0): [(1, 3)]}]
    assert publisher.entries == chain_over(all_records)


async def test_the_timer_signs_only_chains_that_grew_since_their_last_checkpoint() -> None:
    journal = Journal()
    publisher, heads = FakePublisher(journal), FakeHeads(journal)
    chainer = chainer_with(publisher, heads, every=100)
    await chainer.take_over([CHAIN, OTHER])
    await chainer.chain(records(3))

    await chainer.checkpoint_grown()
    await chainer.checkpoint_grown()  # nothing grew meanwhile

    assert [(chain, parse_note(note).checkpoint.size) for chain, note in publisher.notes] == [
        (CHAIN, 3)
    ]
