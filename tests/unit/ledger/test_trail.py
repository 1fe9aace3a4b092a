"""A subject's trail: built from the ledger, checked offline with the public key alone."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from services.intake.ledger.domain.chain import EventRecord
from services.intake.ledger.domain.trail import ChainMaterial, build_trail, verify_trail
from services.intake.ledger.domain.verify import Breakage
from tests.unit.ledger.builders import (
    TOPIC,
    chain_over,
    checkpoint_at,
    dossier_received_value,
    new_signer,
)

pytestmark = pytest.mark.unit

SUBJECT = "H56.01-260302-TRAIL"
SIGNER = new_signer()
# Twelve events on one partition; the subject's are at seq 2, 5 and 9.
ITEMS = [
    EventRecord(
        TOPIC, 1, offset, dossier_received_value(offset, SUBJECT if offset in (2, 5, 9) else None)
    )
    for offset in range(12)
]
ENTRIES = chain_over(ITEMS)
CHECKPOINTS = [checkpoint_at(ENTRIES, size, SIGNER) for size in (4, 8, 11)]


def trail(checkpoints: list[Any] | None = None) -> dict[str, Any]:
    material = ChainMaterial(
        entries=ENTRIES,
        values={record.offset: record.value for record in ITEMS},
        checkpoints=CHECKPOINTS if checkpoints is None else checkpoints,
    )
    # Through JSON, as a client receives it.
    document: dict[str, Any] = json.loads(
        json.dumps(build_trail(SUBJECT, {f"{TOPIC}/1": material}))
    )
    return document


def first_problem(document: dict[str, Any]) -> tuple[Breakage, int]:
    report = verify_trail(document, SIGNER.verifier())
    assert report.problems, "tampering went unnoticed"
    return report.problems[0].kind, report.problems[0].seq


def test_the_trail_holds_the_subjects_events_a_segment_and_the_covering_checkpoint() -> None:
    document = trail()
    (chain,) = document["chains"]
    assert [event["seq"] for event in chain["events"]] == [2, 5, 9]
    assert [entry["seq"] for entry in chain["entries"]] == list(range(2, 11))
    assert chain["checkpoint"] == CHECKPOINTS[2].text
    report = verify_trail(document, SIGNER.verifier())
    assert report.ok, report.problems
    assert (report.events, report.anchored, report.unanchored) == (3, 3, ())


def test_events_after_the_last_checkpoint_are_reported_unanchored() -> None:
    document = trail(CHECKPOINTS[:2])
    report = verify_trail(document, SIGNER.verifier())
    assert report.ok
    assert report.unanchored == (f"{TOPIC}/1 seq 9",)
    assert verify_trail(trail([]), SIGNER.verifier()).anchored == 0


def test_an_altered_event_is_caught() -> None:
    document = trail()
    document["chains"][0]["events"][1]["event"]["data"]["online_level"] = 1
    assert first_problem(document) == (Breakage.ALTERED_EVENT, 5)


def test_an_omitted_event_is_caught() -> None:
    document = trail()
    del document["chains"][0]["events"][1]
    assert first_problem(document) == (Breakage.MISSING_EVENT, 5)


def test_a_forged_segment_is_caught() -> None:
    document = trail()
    document["chains"][0]["entries"][3]["leaf"] = "00" * 32
    assert first_problem(document) == (Breakage.ALTERED_ENTRY, 5)


def test_a_dropped_segment_entry_is_caught() -> None:
    document = trail()
    del document["chains"][0]["entries"][4]
    assert first_problem(document)[0] is Breakage.ALTERED_ENTRY


def test_a_forged_checkpoint_is_caught() -> None:
    document = trail()
    text = document["chains"][0]["checkpoint"]
    document["chains"][0]["checkpoint"] = text.replace("\n11\n", "\n10\n")
    assert first_problem(document) == (Breakage.BAD_SIGNATURE, 9)
    other_key = copy.deepcopy(trail())
    assert verify_trail(other_key, new_signer("test-ledger").verifier()).problems[0].kind is (
        Breakage.BAD_SIGNATURE
    )


def test_a_rewritten_segment_does_not_reach_the_signed_root() -> None:
    document = trail()
    forged_items = list(ITEMS)
    forged_items[5] = EventRecord(TOPIC, 1, 5, dossier_received_value(99, SUBJECT))
    forged = chain_over(forged_items)
    document["chains"][0]["entries"] = [entry.to_json() for entry in forged[2:11]]
    document["chains"][0]["events"][1]["event"] = json.loads(forged_items[5].value)
    assert first_problem(document) == (Breakage.ROOT_MISMATCH, 10)


def test_garbage_is_malformed_not_a_crash() -> None:
    garbage: Any
    for garbage in (None, [], {"subject": "x", "chains": [{"entries": "no"}]}, {"subject": 1}):
        report = verify_trail(garbage, SIGNER.verifier())
        assert report.problems and report.problems[0].kind is Breakage.MALFORMED
