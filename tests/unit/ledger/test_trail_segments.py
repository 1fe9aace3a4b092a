"""A trail's chain segments stay bounded: a subject whose events lie far apart in a chain gets
one segment per stretch, each ending at the checkpoint nearest its events, each verifiable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.intake.ledger.domain.chain import EventRecord
from services.intake.ledger.domain.trail import (
    ChainMaterial,
    build_trail,
    covering_checkpoint,
    plan_segments,
    verify_trail,
)
from services.intake.ledger.domain.verify import Breakage
from tests.unit.ledger.builders import (
    TOPIC,
    chain_over,
    checkpoint_at,
    dossier_received_value,
    new_signer,
)

pytestmark = pytest.mark.unit

SUBJECT = "H56.01-260302-FAR"
SIGNER = new_signer()
CHAIN = f"{TOPIC}/0"
MINE = (3, 5, 40, 41, 95)  # two events early, two mid-chain, one after the last checkpoint
ITEMS = [
    EventRecord(
        TOPIC, 0, offset, dossier_received_value(offset, SUBJECT if offset in MINE else None)
    )
    for offset in range(100)
]
ENTRIES = chain_over(ITEMS)
CHECKPOINTS = [checkpoint_at(ENTRIES, size, SIGNER) for size in range(10, 91, 10)]


def trail(max_entries: int) -> dict[str, Any]:
    material = ChainMaterial(
        ENTRIES, {record.offset: record.value for record in ITEMS}, CHECKPOINTS
    )
    document: dict[str, Any] = json.loads(
        json.dumps(build_trail(SUBJECT, {CHAIN: material}, max_entries))
    )
    return document


def covering(first: int, last: int) -> Any:
    return covering_checkpoint(CHECKPOINTS, first, last, len(ENTRIES))


def test_a_long_span_is_split_at_the_nearest_checkpoints() -> None:
    segments = plan_segments(CHAIN, list(MINE), covering, max_entries=20)
    assert [(s.first, s.end, s.seqs) for s in segments] == [
        (3, 9, (3, 5)),
        (40, 49, (40, 41)),
        (95, 95, (95,)),
    ]
    assert [s.checkpoint.checkpoint.size if s.checkpoint else None for s in segments] == [
        10,
        50,
        None,
    ]


def test_each_segment_verifies_and_only_the_tail_is_unanchored() -> None:
    document = trail(max_entries=20)
    assert [c["chain"] for c in document["chains"]] == [CHAIN] * 3
    assert sum(len(c["entries"]) for c in document["chains"]) == 7 + 10 + 1
    report = verify_trail(document, SIGNER.verifier())
    assert report.ok, report.problems
    assert (report.events, report.anchored, report.unanchored) == (5, 4, (f"{CHAIN} seq 95",))


def test_a_span_within_the_bound_is_one_segment_as_before() -> None:
    (chain,) = trail(max_entries=1000)["chains"]
    assert [e["seq"] for e in chain["entries"]] == list(range(3, 96))
    assert chain["checkpoint"] == CHECKPOINTS[-1].text  # none covers 95: the largest after 3


def test_an_event_a_segment_already_covers_is_never_left_to_the_next() -> None:
    # Bound 1: every window is longer, yet 3 and 5 share the window up to checkpoint 10.
    segments = plan_segments(CHAIN, list(MINE), covering, max_entries=1)
    assert [s.seqs for s in segments] == [(3, 5), (40, 41), (95,)]
    assert verify_trail(trail(max_entries=1), SIGNER.verifier()).ok


def test_an_omitted_event_inside_a_segment_is_still_caught() -> None:
    document = trail(max_entries=20)
    del document["chains"][1]["events"][0]
    report = verify_trail(document, SIGNER.verifier())
    assert [(p.kind, p.seq) for p in report.problems] == [(Breakage.MISSING_EVENT, 40)]
