"""RFC 9162 proofs against the transparency-dev/merkle test vectors, and mutated proofs."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from services.intake.ledger.domain.merkle import (
    Frontier,
    ProofError,
    consistency_proof,
    inclusion_proof,
    inclusion_proof_size,
    merkle_leaf,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.unit

VECTORS = json.loads(
    (Path(__file__).parent / "testdata" / "tlog_proof_vectors.json").read_text(encoding="utf-8")
)
# The RFC 6962 reference leaves of transparency-dev/merkle's tests (rfc6962 test data).
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
REFERENCE_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def _b64(values: Any) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


def _id(vector: dict[str, Any]) -> str:
    return str(vector["file"]).removeprefix("testdata/")


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=_id)
def test_inclusion_vectors(vector: dict[str, Any]) -> None:
    def check() -> None:
        verify_inclusion(
            vector["leafIdx"],
            vector["treeSize"],
            base64.b64decode(vector["leafHash"] or ""),
            _b64(vector["proof"]),
            base64.b64decode(vector["root"] or ""),
        )

    if vector["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("vector", VECTORS["consistency"], ids=_id)
def test_consistency_vectors(vector: dict[str, Any]) -> None:
    def check() -> None:
        verify_consistency(
            vector["size1"],
            vector["size2"],
            _b64(vector["proof"]),
            base64.b64decode(vector["root1"] or ""),
            base64.b64decode(vector["root2"] or ""),
        )

    if vector["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


LEAVES = [merkle_leaf(data) for data in REFERENCE_LEAVES]


def test_roots_are_the_rfc6962_reference_roots() -> None:
    assert tree_root(LEAVES[:1]).hex() == REFERENCE_ROOTS[1]
    assert tree_root(LEAVES).hex() == REFERENCE_ROOTS[8]


def test_frontier_root_equals_the_tree_root_at_every_size() -> None:
    leaves = [merkle_leaf(bytes([n])) for n in range(70)]
    frontier = Frontier()
    for size, leaf in enumerate(leaves, start=1):
        frontier = frontier.append(leaf)
        assert frontier.size == size
        assert len(frontier.hashes) == size.bit_count()
        assert frontier.root() == tree_root(leaves[:size])


TREE = [merkle_leaf(bytes([n])) for n in range(43)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 21])
def test_generated_proofs_verify_and_every_mutation_is_refused(size: int) -> None:
    leaves = TREE[:size]
    root = tree_root(leaves)
    for index in range(size):
        proof = inclusion_proof(index, leaves)
        verify_inclusion(index, size, leaves[index], proof, root)
        for mutated in _mutations(proof):
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaves[index], mutated, root)
        for wrong_size in {size - 1, size + 1, 2 * size} - {0}:
            # A left leaf's path can be the same in a larger tree: the signed size binds it.
            if index < wrong_size and inclusion_proof_size(index, wrong_size) != len(proof):
                with pytest.raises(ProofError):
                    verify_inclusion(index, wrong_size, leaves[index], proof, root)
        if index + 1 < size:  # a swapped leaf
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaves[index + 1], proof, root)
    for size1 in range(1, size):
        proof = consistency_proof(size1, leaves)
        root1 = tree_root(leaves[:size1])
        verify_consistency(size1, size, proof, root1, root)
        for mutated in _mutations(proof):
            with pytest.raises(ProofError):
                verify_consistency(size1, size, mutated, root1, root)
        with pytest.raises(ProofError):
            verify_consistency(size1, size + 1, proof, root1, tree_root(TREE[: size + 1]))


def _mutations(proof: list[bytes]) -> list[list[bytes]]:
    """Each hash with a bit flipped, a hash dropped, one added, and neighbours swapped."""
    out: list[list[bytes]] = [[*proof, proof[-1] if proof else bytes(32)]]
    for position, digest in enumerate(proof):
        flipped = bytes([digest[0] ^ 0x10]) + digest[1:]
        out.append([*proof[:position], flipped, *proof[position + 1 :]])
        out.append(proof[:position] + proof[position + 1 :])
        if position + 1 < len(proof) and proof[position] != proof[position + 1]:
            swapped = list(proof)
            swapped[position], swapped[position + 1] = swapped[position + 1], swapped[position]
            out.append(swapped)
    return out


def test_refusals_name_what_failed() -> None:
    leaves = TREE[:8]
    proof = inclusion_proof(3, leaves)
    with pytest.raises(ProofError, match="needs 3"):
        verify_inclusion(3, 8, leaves[3], proof[:2], tree_root(leaves))
    with pytest.raises(ProofError, match="beyond the tree size 8"):
        verify_inclusion(8, 8, leaves[3], proof, tree_root(leaves))
    forked = [*leaves[:7], merkle_leaf(b"forged")]
    with pytest.raises(ProofError, match="rewrote history"):
        verify_consistency(
            5, 8, consistency_proof(5, forked), tree_root(leaves[:5]), tree_root(leaves)
        )
    with pytest.raises(ProofError, match="forked tree"):
        verify_consistency(8, 8, [], tree_root(forked), tree_root(leaves))


def test_generated_proofs_are_the_reference_proofs() -> None:
    happy = [v for v in VECTORS["inclusion"] if not v["wantErr"] and v["treeSize"] <= 8]
    for vector in happy:
        leaves = LEAVES[: vector["treeSize"]]
        assert inclusion_proof(vector["leafIdx"], leaves) == _b64(vector["proof"]), vector["file"]
    happy = [v for v in VECTORS["consistency"] if not v["wantErr"] and v["size2"] <= 8]
    for vector in happy:
        if 0 < vector["size1"] < vector["size2"]:
            leaves = LEAVES[: vector["size2"]]
            assert consistency_proof(vector["size1"], leaves) == _b64(vector["proof"]), vector[
                "file"
            ]
    assert len(happy) > 3
