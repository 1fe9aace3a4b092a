"""RFC 9162 Merkle trees over a chain: tree heads, inclusion and consistency proofs.

    leaf hash = SHA-256(0x00 || leaf data)         node hash = SHA-256(0x01 || left || right)

The tree of a chain has one leaf per entry, the entry's hash as leaf data, in `seq` order,
so a tree head of size n commits to entries 0..n-1 and, through their links and leaves, to
every event they chained. Proofs are built from the roots of perfect subtrees
(`NodeSource`: the trail index stores them as it reads the ledger, so that a proof costs
O(log² n) reads, never a scan); verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 and
names what failed. `Frontier` keeps the right edge of a growing tree (one hash per set bit
of its size), so the ledger worker signs tree heads without keeping the tree.

Hand-written on purpose: no maintained PyPI package implements RFC 9162 proofs (the
algorithms are the few functions below), and this module checks out against the
transparency-dev/merkle test vectors (tests/unit/ledger/test_merkle.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not hold; the message says which check failed."""


def merkle_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def merkle_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def append_leaf(frontier: list[bytes], size: int, leaf: bytes) -> None:
    """Add `leaf` to the frontier `hashes` of a tree of `size` leaves, in place (a batch
    grows one list instead of a `Frontier` per leaf)."""
    while size & 1:  # each trailing one bit of the size is a subtree that now completes
        leaf = merkle_node(frontier.pop(), leaf)
        size >>= 1
    frontier.append(leaf)


class NodeSource(Protocol):
    """The root of the perfect subtree of `2**level` leaves starting at leaf `index << level`."""

    def __call__(self, level: int, index: int) -> bytes: ...


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return merkle_node(tree_root(leaves[:k]), tree_root(leaves[k:]))


def range_root(start: int, end: int, node: NodeSource) -> bytes:
    """MTH(D[start:end]) for the ranges proofs use (`start` aligned to the range's split),
    from the few perfect subtrees that make it up."""
    parts: list[bytes] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        parts.append(node(level, start >> level))
        start += 1 << level
    result = parts[-1]
    for left in reversed(parts[:-1]):
        result = merkle_node(left, result)
    return result


def inclusion_path(index: int, size: int, node: NodeSource) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(range_root(start + k, end, node))
            end = start + k
        else:
            path.append(range_root(start, start + k, node))
            start += k
    return path[::-1]


def consistency_path(size1: int, size2: int, node: NodeSource) -> list[bytes]:
    """PROOF(m, D[n]): that the tree of `size1` leaves is a prefix of the one of `size2`."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    path: list[bytes] = []
    start, end, complete = 0, size2, True
    while size1 - start != end - start:
        k = _split(end - start)
        if size1 - start <= k:
            path.append(range_root(start + k, end, node))
            end = start + k
        else:
            path.append(range_root(start, start + k, node))
            start, complete = start + k, False
    if not complete:
        path.append(range_root(start, end, node))
    return path[::-1]


def nodes_of(leaves: Sequence[bytes]) -> NodeSource:
    """A `NodeSource` over leaf hashes held in memory (the verifier's whole chain, tests)."""

    def node(level: int, index: int) -> bytes:
        if (index + 1) << level > len(leaves):
            raise LookupError(f"no subtree {level}/{index} in a tree of size {len(leaves)}")
        return tree_root(leaves[index << level : (index + 1) << level])

    return node


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    return inclusion_path(index, len(leaves), nodes_of(leaves))


def consistency_proof(size1: int, leaves: Sequence[bytes]) -> list[bytes]:
    return consistency_path(size1, len(leaves), nodes_of(leaves))


def inclusion_proof_size(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` leads to from `leaf` at `index` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is beyond the tree size {size}")
    _check_hashes("leaf", [leaf])
    _check_hashes("inclusion proof", proof)
    want = inclusion_proof_size(index, size)
    if len(proof) != want:
        raise ProofError(
            f"inclusion proof has {len(proof)} hashes, leaf {index} of size {size} needs {want}"
        )
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if fn & 1 or fn == sn:
            result = merkle_node(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = merkle_node(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return result


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise `ProofError` unless `proof` puts `leaf` at `index` of the tree with `root`."""
    calculated = root_from_inclusion(index, size, leaf, proof)
    if calculated != root:
        raise ProofError(
            f"inclusion proof of leaf {index} leads to root {calculated.hex()[:16]}…, "
            f"the tree head of size {size} has {root.hex()[:16]}…"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise `ProofError` unless the tree (size1, root1) is a prefix of (size2, root2)."""
    _check_hashes("consistency proof", proof)
    if size2 < size1:
        raise ProofError(f"the second tree (size {size2}) is smaller than the first ({size1})")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError(f"both trees have size {size1}, but the proof is not empty")
        if root1 != root2:
            raise ProofError(f"two different roots for the same size {size1}: a forked tree")
        return
    if not proof:
        raise ProofError(f"empty consistency proof from size {size1} to size {size2}")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # the first tree is a complete subtree: its root starts it
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    for sibling in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof from {size1} to {size2} has too many hashes")
        if fn & 1 or fn == sn:
            first, second = merkle_node(sibling, first), merkle_node(sibling, second)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = merkle_node(second, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"consistency proof from {size1} to {size2} has too few hashes")
    if first != root1:
        raise ProofError(
            f"consistency proof does not lead to the root of size {size1} "
            f"({first.hex()[:16]}… vs {root1.hex()[:16]}…): the first tree is not a prefix"
        )
    if second != root2:
        raise ProofError(
            f"consistency proof does not lead to the root of size {size2} "
            f"({second.hex()[:16]}… vs {root2.hex()[:16]}…): the second tree rewrote history"
        )


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for position, digest in enumerate(hashes):
        if len(digest) != HASH_SIZE:
            raise ProofError(f"{what}: hash {position} has {len(digest)} bytes, not {HASH_SIZE}")


@dataclass(frozen=True)
class Frontier:
    """The roots of the perfect subtrees of a tree, left to right (its compact range)."""

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def append(self, leaf: bytes) -> Frontier:
        """The frontier once `leaf` (a leaf hash) is added."""
        hashes = list(self.hashes)
        append_leaf(hashes, self.size, leaf)
        return Frontier(self.size + 1, tuple(hashes))

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        result = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            result = merkle_node(left, result)
        return result
