"""Checkpoint witnessing: a trail's signed tree heads must extend the last witnessed ones.

The ledger appends every checkpoint it signs to a file outside Kafka (the anchor, which an
operator can have another system keep). A history rewritten after a checkpoint was
witnessed, even with every Kafka topic replaced and re-signed with another key, cannot
produce a consistency proof from the witnessed tree head to its own, nor a tree head signed
by the witnessed key: the verifier refuses it naming which.

A trail asked for with `?witness=<chain>@<size>` carries, per segment, `consistency`:
`{"size": <witnessed size>, "proof": [base64 hashes]}`, the RFC 9162 proof between the
smaller and the larger of the two tree heads.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.intake.ledger.domain.merkle import ProofError, verify_consistency
from services.intake.ledger.domain.note import SignedCheckpoint, Verifier, parse_note
from services.intake.ledger.domain.verify import Breakage, Problem


def last_witnessed(notes: Iterable[SignedCheckpoint]) -> dict[str, SignedCheckpoint]:
    """The largest witnessed checkpoint of each chain (signatures are checked on use)."""
    latest: dict[str, SignedCheckpoint] = {}
    for note in notes:
        known = latest.get(note.checkpoint.chain)
        if known is None or note.checkpoint.size > known.checkpoint.size:
            latest[note.checkpoint.chain] = note
    return latest


def witness_sizes(witnessed: Mapping[str, SignedCheckpoint]) -> list[str]:
    """The `witness` query values that ask the service for the proofs these need."""
    return [f"{chain}@{note.checkpoint.size}" for chain, note in sorted(witnessed.items())]


def parse_witness(value: str) -> tuple[str, int]:
    """`qms.dossier.v1/0@1200` → (chain, size); ValueError says what is wrong."""
    chain, sep, size = value.rpartition("@")
    if not sep or not chain or not size.isdigit() or int(size) < 1:
        raise ValueError(f"witness {value!r}: expected <topic>/<partition>@<size>, size ≥ 1")
    return chain, int(size)


@dataclass(frozen=True)
class WitnessReport:
    witnessed: tuple[str, ...] = ()  # "chain size n" checked against the witness
    unwitnessed: tuple[str, ...] = ()  # chains of the trail the witness has no checkpoint of
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def check_witnessed(
    document: Any, witnessed: Mapping[str, SignedCheckpoint], verifier: Verifier
) -> WitnessReport:
    """Each checkpoint of a trail document against the last witnessed one of its chain."""
    checked: list[str] = []
    unwitnessed: list[str] = []
    problems: list[Problem] = []
    chains = document.get("chains") if isinstance(document, dict) else None
    for segment in chains if isinstance(chains, list) else []:
        chain = str(segment.get("chain", "?")) if isinstance(segment, dict) else "?"
        witness = witnessed.get(chain)
        if witness is None:
            unwitnessed.append(chain)
            continue
        problem = _against(chain, segment, witness, verifier)
        if problem is not None:
            problems.append(problem)
        else:
            checked.append(f"{chain} size {witness.checkpoint.size}")
    return WitnessReport(tuple(checked), tuple(dict.fromkeys(unwitnessed)), tuple(problems))


def _against(
    chain: str, segment: dict[str, Any], witness: SignedCheckpoint, verifier: Verifier
) -> Problem | None:
    size = witness.checkpoint.size

    def refused(detail: str) -> Problem:
        return Problem(chain, size - 1, None, Breakage.NOT_WITNESSED, detail)

    if not witness.verified_by(verifier):
        return refused(
            f"the witnessed checkpoint of size {size} is not signed by key {verifier.name}: "
            "the log's key is not the one whose checkpoints were witnessed"
        )
    if not segment.get("checkpoint"):
        return refused("the trail has no signed checkpoint to compare with the witnessed one")
    try:
        note = parse_note(segment["checkpoint"])
        consistency = segment.get("consistency")
        if not isinstance(consistency, dict) or consistency.get("size") != size:
            return refused(
                f"no consistency proof with the witnessed checkpoint of size {size} "
                f"(ask the trail with ?witness={chain}@{size})"
            )
        proof = [base64.b64decode(h, validate=True) for h in consistency["proof"]]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        return refused(f"unreadable checkpoint or consistency proof: {exc}")
    ours = note.checkpoint
    first, second = (witness.checkpoint, ours) if size <= ours.size else (ours, witness.checkpoint)
    try:
        verify_consistency(first.size, second.size, proof, first.root, second.root)
    except ProofError as exc:
        return refused(
            f"the trail's tree head of size {ours.size} is not consistent with the witnessed "
            f"one of size {size}: {exc}"
        )
    return None


def check_consistency_document(document: Any, verifier: Verifier) -> Problem | None:
    """A saved `GET /v1/audit/consistency/{chain}` answer: both checkpoints signed by the key,
    of the sizes the proof is for, and the proof from the first tree head to the second."""
    chain = str(document.get("chain", "?")) if isinstance(document, dict) else "?"

    def refused(kind: Breakage, detail: str) -> Problem:
        return Problem(chain, 0, None, kind, detail)

    try:
        notes = []
        for which in ("first", "second"):
            part = document[which]
            if not part.get("checkpoint"):
                return refused(Breakage.MALFORMED, f"{which}: no signed checkpoint of that size")
            note = parse_note(part["checkpoint"])
            if note.checkpoint.size != part["size"] or note.checkpoint.chain != chain:
                return refused(Breakage.MALFORMED, f"{which}: the checkpoint is of another tree")
            if not note.verified_by(verifier):
                return refused(
                    Breakage.BAD_SIGNATURE,
                    f"{which}: checkpoint of size {part['size']} is not signed by {verifier.name}",
                )
            notes.append(note.checkpoint)
        proof = [base64.b64decode(h, validate=True) for h in document["proof"]]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        return refused(Breakage.MALFORMED, f"not a consistency proof document: {exc}")
    first, second = notes
    try:
        verify_consistency(first.size, second.size, proof, first.root, second.root)
    except ProofError as exc:
        return refused(Breakage.BAD_PROOF, str(exc))
    return None
