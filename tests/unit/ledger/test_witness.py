"""Checkpoint witnessing: a trail must extend the last checkpoint witnessed outside Kafka."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from services.intake.ledger.domain.chain import EventRecord, tree_leaves
from services.intake.ledger.domain.merkle import consistency_proof
from services.intake.ledger.domain.note import SignedCheckpoint
from services.intake.ledger.domain.trail import ChainMaterial, build_trail, verify_trail
from services.intake.ledger.domain.verify import Breakage
from services.intake.ledger.domain.witness import (
    check_witnessed,
    last_witnessed,
    parse_witness,
    witness_sizes,
)
from tests.unit.ledger.builders import (
    TOPIC,
    chain_over,
    checkpoint_at,
    dossier_received_value,
    new_signer,
)
from tests.unit.ledger.test_trail import CHECKPOINTS, ENTRIES, ITEMS, SIGNER, SUBJECT
from tests.unit.ledger.test_verify_cli import audit

pytestmark = pytest.mark.unit

CHAIN = f"{TOPIC}/1"
# The anchor holds the notes of sizes 4 and 8 (the one of size 11 came later).
WITNESSED = last_witnessed(CHECKPOINTS[:2])


def trail_of(
    items: list[EventRecord], checkpoints: list[SignedCheckpoint], witness: dict[str, int]
) -> dict[str, Any]:
    entries = chain_over(items)
    material = ChainMaterial(entries, {r.offset: r.value for r in items}, checkpoints)
    document: dict[str, Any] = json.loads(
        json.dumps(build_trail(SUBJECT, {CHAIN: material}, witness=witness))
    )
    return document


def honest(witness: dict[str, int] | None = None) -> dict[str, Any]:
    return trail_of(ITEMS, CHECKPOINTS, {CHAIN: 8} if witness is None else witness)


def forged_history() -> list[EventRecord]:
    """Every record kept but one, altered; the ledger re-chained over them from the start."""
    forged = list(ITEMS)
    forged[3] = EventRecord(TOPIC, 1, 3, dossier_received_value(999, None))
    return forged


def test_the_last_witnessed_checkpoint_of_each_chain_is_the_largest() -> None:
    assert WITNESSED[CHAIN].checkpoint.size == 8
    assert witness_sizes(WITNESSED) == [f"{CHAIN}@8"]
    assert parse_witness(f"{CHAIN}@8") == (CHAIN, 8)
    with pytest.raises(ValueError, match="expected <topic>/<partition>@<size>"):
        parse_witness(CHAIN)


def test_an_honest_trail_extends_the_witnessed_checkpoint() -> None:
    report = check_witnessed(honest(), WITNESSED, SIGNER.verifier())
    assert report.ok, report.problems
    assert report.witnessed == (f"{CHAIN} size 8",)


def test_a_trail_behind_the_witness_is_a_prefix_of_it() -> None:
    document = trail_of(ITEMS, CHECKPOINTS[:1], {CHAIN: 8})  # its checkpoint has size 4
    assert check_witnessed(document, WITNESSED, SIGNER.verifier()).ok


def test_a_forked_tree_signed_with_the_stolen_key_is_refused() -> None:
    items = forged_history()
    forged = chain_over(items)
    notes = [checkpoint_at(forged, size, SIGNER) for size in (4, 8, 11)]
    document = trail_of(items, notes, {CHAIN: 8})
    assert verify_trail(document, SIGNER.verifier()).ok  # consistent within itself
    report = check_witnessed(document, WITNESSED, SIGNER.verifier())
    (problem,) = report.problems
    assert problem.kind is Breakage.NOT_WITNESSED
    assert "size 11 is not consistent with the witnessed one of size 8" in problem.detail


def test_a_history_rewritten_with_a_new_key_is_refused() -> None:
    items = forged_history()
    forged = chain_over(items)
    attacker = new_signer("test-ledger")  # same name, another key
    notes = [checkpoint_at(forged, size, attacker) for size in (4, 8, 11)]
    document = trail_of(items, notes, {CHAIN: 8})
    assert verify_trail(document, attacker.verifier()).ok
    (problem,) = check_witnessed(document, WITNESSED, attacker.verifier()).problems
    assert problem.kind is Breakage.NOT_WITNESSED
    assert "witnessed checkpoint of size 8 is not signed by key test-ledger" in problem.detail


def test_a_trail_without_the_proof_says_how_to_ask_for_it() -> None:
    (problem,) = check_witnessed(honest({}), WITNESSED, SIGNER.verifier()).problems
    assert f"?witness={CHAIN}@8" in problem.detail
    document = honest()
    document["chains"][0]["consistency"]["proof"].pop()
    (problem,) = check_witnessed(document, WITNESSED, SIGNER.verifier()).problems
    assert "not consistent" in problem.detail
    assert check_witnessed(honest(), {}, SIGNER.verifier()).unwitnessed == (CHAIN,)


def test_the_offline_verifier_refuses_a_trail_inconsistent_with_the_anchor(tmp_path: Path) -> None:
    key = tmp_path / "ledger.vkey"
    key.write_text(SIGNER.verifier().vkey + "\n")
    anchor = tmp_path / "anchor.jsonl"
    anchor.write_text("".join(json.dumps({"note": n.text}) + "\n" for n in CHECKPOINTS[:2]))
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(honest()))
    forged = chain_over(forged_history())
    notes = [checkpoint_at(forged, size, SIGNER) for size in (4, 8, 11)]
    bad.write_text(json.dumps(trail_of(forged_history(), notes, {CHAIN: 8})))
    env = {"QMS_LEDGER_KEY_NAME": SIGNER.name}
    args = ("--public-key", str(key), "--checkpoint-file", str(anchor))
    result = audit("verify", "--trail-file", str(good), *args, **env)
    assert result.exit_code == 0, result.output
    assert f"consistent with the witnessed checkpoint: {CHAIN} size 8" in result.output
    result = audit("verify", "--trail-file", str(bad), *args, **env)
    assert result.exit_code == 1, result.output
    assert "inconsistent with the witnessed checkpoint" in result.output
    assert ENTRIES[0].chain == CHAIN


def test_the_offline_verifier_checks_a_consistency_proof_file(tmp_path: Path) -> None:
    key = tmp_path / "ledger.vkey"
    key.write_text(SIGNER.verifier().vkey + "\n")
    leaves = tree_leaves(ENTRIES[:11])
    proof = [base64.b64encode(h).decode() for h in consistency_proof(4, leaves)]
    document: dict[str, Any] = {
        "chain": CHAIN,
        "first": {"size": 4, "checkpoint": CHECKPOINTS[0].text},
        "second": {"size": 11, "checkpoint": CHECKPOINTS[2].text},
        "proof": proof,
    }
    saved = tmp_path / "consistency.json"
    env = {"QMS_LEDGER_KEY_NAME": SIGNER.name}
    saved.write_text(json.dumps(document))
    result = audit("verify", "--consistency-file", str(saved), "--public-key", str(key), **env)
    assert result.exit_code == 0, result.output
    assert "size 4 → 11 only grew" in result.output
    document["proof"] = proof[::-1]  # swapped hashes
    saved.write_text(json.dumps(document))
    result = audit("verify", "--consistency-file", str(saved), "--public-key", str(key), **env)
    assert result.exit_code == 1, result.output
    assert "proof does not hold" in result.output
