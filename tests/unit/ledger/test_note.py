"""Checkpoint notes: the C2SP signed-note and tlog-checkpoint forms, byte for byte."""

from __future__ import annotations

import base64

import pytest

from services.intake.ledger.adapters.keys import Ed25519Verifier, verifier_from_text
from services.intake.ledger.domain.note import (
    Checkpoint,
    format_vkey,
    key_id,
    parse_note,
    parse_vkey,
    sign_checkpoint,
)
from tests.unit.ledger.builders import new_signer

pytestmark = pytest.mark.unit

# The example of Go's golang.org/x/mod/sumdb/note package: a known answer for the key id,
# the verifier-key encoding and the signature-line format.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)


def test_go_note_example_verifies() -> None:
    name, public_key = parse_vkey(GO_VKEY)
    verifier = Ed25519Verifier(name, public_key)
    blob = base64.b64decode(GO_SIGNATURE)
    assert blob[:4] == key_id(name, public_key) == bytes.fromhex("c74f20a3")
    assert verifier.verify(GO_TEXT.encode(), blob[4:])
    assert not verifier.verify(GO_TEXT.encode() + b"!", blob[4:])
    assert format_vkey(name, public_key) == GO_VKEY


def test_checkpoint_note_layout() -> None:
    signer = new_signer("qms-test")
    root = bytes(range(32))
    text = sign_checkpoint(Checkpoint("qms-trail/qms.dossier.v1/0", 12, root), signer)
    body, signature_line = text.split("\n\n")
    assert body == f"qms-trail/qms.dossier.v1/0\n12\n{base64.b64encode(root).decode()}"
    assert signature_line.startswith("— qms-test ") and signature_line.endswith("\n")
    note = parse_note(text)
    assert note.checkpoint == Checkpoint("qms-trail/qms.dossier.v1/0", 12, root)
    assert note.checkpoint.chain == "qms.dossier.v1/0"
    assert note.verified_by(signer.verifier())


def test_signature_checks_fail_on_any_change() -> None:
    signer = new_signer()
    text = sign_checkpoint(Checkpoint("qms-trail/t/0", 3, bytes(32)), signer)
    verifier = signer.verifier()
    other_root = text.replace(
        base64.b64encode(bytes(32)).decode(), base64.b64encode(b"\x01" * 32).decode()
    )
    other_size = text.replace("\n3\n", "\n4\n")
    signature = text.rsplit(" ", 1)[1]
    flipped = bytearray(base64.b64decode(signature))
    flipped[10] ^= 0x01
    bad_signature = text.replace(signature, base64.b64encode(bytes(flipped)).decode() + "\n")
    for mutated in (other_root, other_size, bad_signature):
        assert mutated != text
        assert not parse_note(mutated).verified_by(verifier)
    assert not parse_note(text).verified_by(new_signer().verifier())  # same name, other key
    assert not parse_note(text).verified_by(new_signer("someone-else").verifier())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("qms-trail/t/0\n3\nAAAA\n\n— k AAAAAAAA\n", "32 bytes"),
        ("qms-trail/t/0\n03\n" + "A" * 43 + "=\n\n— k AAAAAAAA\n", "decimal"),
        ("qms-trail/t/0\n3\n" + "A" * 43 + "=\n", "blank line"),
        ("qms-trail/t/0\n3\n" + "A" * 43 + "=\n\n- k AAAAAAAA\n", "must start"),
        ("no-partition\n3\n" + "A" * 43 + "=\n\n— k AAAAAAAA\n", "origin"),
    ],
)
def test_malformed_notes_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_note(text)


def test_public_keys_load_as_vkey_or_pem() -> None:
    signer = new_signer("qms-k")
    vkey = format_vkey(signer.name, signer.public_key)
    assert verifier_from_text(f"# a comment\n{vkey}\n", "test").key_id == signer.verifier().key_id
    with pytest.raises(ValueError, match="key id"):
        parse_vkey(vkey.replace("qms-k+", "qms-x+"))
