"""Checkpoints as C2SP signed notes in the `tlog-checkpoint` form.

    <origin>\\n<size>\\n<base64 root>\\n          (the signed body)
    \\n
    — <key name> <base64(key id || Ed25519 signature)>\\n

`origin` names the chain (`<origin prefix>/<topic>/<partition>`), `size` is its number of
entries and `root` the chain head, the hash of entry `size - 1`. (An RFC 9162 Merkle root
with inclusion and consistency proofs is the planned upgrade; the note form stays.)
The key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), 0x01
being the Ed25519 signature type of the signed-note spec. Keys are written as verifier
keys `<name>+<hex key id>+<base64(0x01 || public key)>`, as Go's `note` package does.

Signing itself is an adapter (`adapters/keys.py`); this module only formats and parses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Protocol

from services.intake.ledger.domain.chain import HASH_SIZE, chain_key

ED25519_TYPE = 0x01
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, then a space
DEFAULT_ORIGIN_PREFIX = "qms-trail"


class Signer(Protocol):
    """Signs note bodies; implemented with a real Ed25519 key in the adapters."""

    @property
    def name(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class Verifier(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519_TYPE]) + public_key).digest()[:4]


def check_key_name(name: str) -> str:
    if not name or any(ch.isspace() or ch == "+" for ch in name):
        raise ValueError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


def format_vkey(name: str, public_key: bytes) -> str:
    """The verifier key line, e.g. `qms-trail-dev+1a2b3c4d+AeT…`."""
    encoded = base64.b64encode(bytes([ED25519_TYPE]) + public_key).decode()
    return f"{check_key_name(name)}+{key_id(name, public_key).hex()}+{encoded}"


def parse_vkey(text: str) -> tuple[str, bytes]:
    """(name, raw Ed25519 public key) from a verifier key line; ValueError if it is not one."""
    parts = text.strip().split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise ValueError("a verifier key has the form <name>+<hex key id>+<base64 key>")
    name, hex_id, encoded = parts
    check_key_name(name)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("verifier key: the key is not base64") from exc
    if len(raw) != 1 + ED25519_PUBLIC_KEY_SIZE or raw[0] != ED25519_TYPE:
        raise ValueError("verifier key: not an Ed25519 key (type 0x01, 32 bytes)")
    public_key = raw[1:]
    if key_id(name, public_key).hex() != hex_id.lower():
        raise ValueError("verifier key: the key id does not match the name and key")
    return name, public_key


def origin_for(prefix: str, topic: str, partition: int) -> str:
    return f"{prefix}/{chain_key(topic, partition)}"


def chain_of_origin(origin: str) -> str:
    """The chain key an origin names: `qms-trail/qms.dossier.v1/0` → `qms.dossier.v1/0`."""
    parts = origin.rsplit("/", 2)
    if len(parts) != 3 or not parts[2].isdigit() or not parts[1]:
        raise ValueError(f"checkpoint origin {origin!r} does not name <prefix>/<topic>/<partition>")
    return f"{parts[1]}/{parts[2]}"


@dataclass(frozen=True)
class Checkpoint:
    """The signed body of a checkpoint."""

    origin: str
    size: int
    root: bytes

    @property
    def chain(self) -> str:
        return chain_of_origin(self.origin)

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signatures: tuple[NoteSignature, ...]
    text: str

    def verified_by(self, verifier: Verifier) -> bool:
        """True if one signature line is by `verifier`'s key and checks out."""
        body = self.checkpoint.body().encode()
        return any(
            sig.name == verifier.name
            and sig.key_id == verifier.key_id
            and verifier.verify(body, sig.signature)
            for sig in self.signatures
        )


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The complete note text: body, blank line, one signature line."""
    body = checkpoint.body()
    blob = key_id(signer.name, signer.public_key) + signer.sign(body.encode())
    return f"{body}\n{SIGNATURE_PREFIX}{signer.name} {base64.b64encode(blob).decode()}\n"


def parse_note(text: str) -> SignedCheckpoint:
    """Parse a signed checkpoint note (signatures NOT checked); ValueError says why not."""
    body, sep, signature_block = text.partition("\n\n")
    if not sep:
        raise ValueError("note: no blank line between the body and the signatures")
    lines = body.split("\n")
    if len(lines) < 3:
        raise ValueError("checkpoint: the body needs origin, size and root lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        raise ValueError("checkpoint: empty origin")
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise ValueError(f"checkpoint: size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise ValueError("checkpoint: the root is not base64") from exc
    if len(root) != HASH_SIZE:
        raise ValueError(f"checkpoint: the root is not {HASH_SIZE} bytes")
    if len(lines) > 3:
        # tlog-checkpoint allows extension lines; ours carry none, and we sign only what we know.
        raise ValueError("checkpoint: unexpected extension lines")
    checkpoint = Checkpoint(origin=origin, size=int(size_text), root=root)
    chain_of_origin(origin)
    if not signature_block.endswith("\n"):
        raise ValueError("note: the signature block must end with a newline")
    signatures = []
    for line in signature_block[:-1].split("\n"):
        signatures.append(_parse_signature_line(line))
    if not signatures:
        raise ValueError("note: no signature")
    return SignedCheckpoint(checkpoint, tuple(signatures), text)


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise ValueError(f"note: signature line must start with '{SIGNATURE_PREFIX}'")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("note: the signature is not base64") from exc
    if len(blob) < 5:
        raise ValueError("note: the signature is too short")
    return NoteSignature(name=name, key_id=blob[:4], signature=blob[4:])
