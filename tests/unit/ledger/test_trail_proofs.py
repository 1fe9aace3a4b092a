"""A trail's RFC 9162 inclusion proofs: each event's entry is a leaf of the signed tree."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.intake.ledger.domain.chain import tree_leaves
from services.intake.ledger.domain.merkle import merkle_leaf, tree_root, verify_inclusion
from services.intake.ledger.domain.trail import verify_trail
from services.intake.ledger.domain.verify import Breakage
from tests.unit.ledger.test_trail import CHECKPOINTS, ENTRIES, SIGNER, trail

pytestmark = pytest.mark.unit


def _problem(document: dict[str, Any]) -> tuple[Breakage, int, str]:
    report = verify_trail(document, SIGNER.verifier())
    assert report.problems, "a broken proof went unnoticed"
    problem = report.problems[0]
    return problem.kind, problem.seq, problem.detail


def _flip(encoded: str) -> str:
    raw = bytearray(base64.b64decode(encoded))
    raw[7] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_every_event_carries_a_proof_that_checks_against_the_signed_root() -> None:
    (chain,) = trail()["chains"]
    note = CHECKPOINTS[2].checkpoint
    assert note.root == tree_root(tree_leaves(ENTRIES[: note.size]))
    for event in chain["events"]:
        proof = [base64.b64decode(h) for h in event["inclusion"]]
        leaf = merkle_leaf(ENTRIES[event["seq"]].hash)
        verify_inclusion(event["seq"], note.size, leaf, proof, note.root)
    assert len(chain["last_inclusion"]) > 0


def test_a_mutated_event_proof_is_refused_naming_the_event() -> None:
    document = trail()
    event = document["chains"][0]["events"][1]
    event["inclusion"][0] = _flip(event["inclusion"][0])
    kind, seq, detail = _problem(document)
    assert (kind, seq) == (Breakage.BAD_PROOF, 5)
    assert f"event {ENTRIES[5].id}" in detail and "size 11" in detail


def test_a_shortened_or_lengthened_proof_is_refused_with_the_size_it_needs() -> None:
    document = trail()
    document["chains"][0]["events"][0]["inclusion"].pop()
    kind, seq, detail = _problem(document)
    assert (kind, seq) == (Breakage.BAD_PROOF, 2)
    assert "needs 4" in detail
    document = trail()
    proof = document["chains"][0]["events"][0]["inclusion"]
    proof.append(proof[0])
    assert _problem(document)[0] is Breakage.BAD_PROOF


def test_swapped_proofs_of_two_events_are_refused() -> None:
    document = trail()
    events = document["chains"][0]["events"]
    events[0]["inclusion"], events[2]["inclusion"] = events[2]["inclusion"], events[0]["inclusion"]
    assert _problem(document)[:2] == (Breakage.BAD_PROOF, 2)


def test_a_missing_proof_or_a_mutated_last_leaf_proof_is_refused() -> None:
    document = trail()
    del document["chains"][0]["events"][2]["inclusion"]
    kind, seq, detail = _problem(document)
    assert (kind, seq) == (Breakage.MALFORMED, 9) and "no inclusion proof" in detail
    document = trail()
    last = document["chains"][0]["last_inclusion"]
    last[-1] = _flip(last[-1])
    assert _problem(document)[:2] == (Breakage.ROOT_MISMATCH, 10)
    document = trail()
    del document["chains"][0]["last_inclusion"]
    assert _problem(document)[:2] == (Breakage.MALFORMED, 10)
