"""Electronic signatures on CAPA decisions (after 21 CFR Part 11 §11.50 and §11.70).

A person verifying effectiveness, closing or cancelling a CAPA signs, with their own
Ed25519 key, bytes that bind: the CAPA id, the hash of the exact state they decided on,
the decision (command and its fields), what the signature means, who signs and when.

    SIGNING_CONTEXT || RFC 8785 JSON {capa_id, command, decision, meaning, signed_at,
                                      signer_id, state_hash}

The state hash is SHA-256 over the RFC 8785 JSON of every field of the state (its version
among them): a signature made on a stale view names a state that is no longer current,
so it cannot be replayed onto a newer one. The cryptography is behind `SigningKeys` (the
adapter holds the registered public keys); this module only builds and compares bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Protocol

import rfc8785
from pydantic import BaseModel

from schemas.capa import (
    CapaCancelled,
    CapaClosed,
    CapaEffectivenessVerified,
    ElectronicSignature,
    SignatureMeaning,
)
from schemas.envelope import CloudEvent
from services.capa.domain.state import CapaState, local_date
from services.capa.domain.transitions import CommandName

SIGNING_CONTEXT = b"qms-trail/capa-decision/v1\n"
SIGNATURE_SIZE = 64

# The decisions a person signs, and the fields of each that the signature covers. The same
# names are used by the command, the HTTP body and the event, so each can be checked alike.
DECISION_FIELDS: Mapping[CommandName, tuple[str, ...]] = {
    CommandName.VERIFY_EFFECTIVENESS: ("result", "verified_on", "evidence", "reason"),
    CommandName.CLOSE: ("reason",),
    CommandName.CANCEL: ("justification", "reason"),
}
# The event that records each signed decision (and carries its signature).
SIGNED_EVENTS: Mapping[type[CloudEvent], CommandName] = {
    CapaEffectivenessVerified: CommandName.VERIFY_EFFECTIVENESS,
    CapaClosed: CommandName.CLOSE,
    CapaCancelled: CommandName.CANCEL,
}


class SigningKeys(Protocol):
    """The public keys registered to users (the users file), and Ed25519 verification."""

    def registered(self, user_id: str) -> bool: ...

    def verify(self, user_id: str, message: bytes, signature: bytes) -> bool: ...


@dataclass(frozen=True)
class SignatureFault:
    """Why a signature is refused, and which of its fields (`signature.value`, …) is wrong."""

    field: str
    reason: str


def _json(value: Any) -> Any:
    """The JSON value the canonical form holds: times in UTC with microseconds."""
    if isinstance(value, BaseModel):  # a contract held in the state (a source reference)
        return _json(value.model_dump())
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def state_hash(state: CapaState) -> str:
    """SHA-256 (hex) over the RFC 8785 JSON of every field of the state, version included."""
    return hashlib.sha256(rfc8785.dumps(_json(asdict(state)))).hexdigest()


def needs_signature(command: CommandName) -> bool:
    return command in DECISION_FIELDS


def decision_fields(
    command: CommandName, fields: Mapping[str, Any], signed_at: datetime
) -> dict[str, Any]:
    """The signed part of a decision, from a command's, an HTTP body's or an event's fields.

    A verification without `verified_on` is dated the day it is signed (in Vietnam), so
    the event records the very day that was signed.
    """
    decision = {name: _json(fields.get(name)) for name in DECISION_FIELDS[command]}
    if command is CommandName.VERIFY_EFFECTIVENESS:
        decision["verified_on"] = decision["verified_on"] or local_date(signed_at).isoformat()
        decision["evidence"] = decision["evidence"] or []
    return decision


def meaning_of(command: CommandName, decision: Mapping[str, Any]) -> SignatureMeaning:
    """What signing this decision attests."""
    if command is CommandName.VERIFY_EFFECTIVENESS:
        if decision.get("result") == "effective":
            return SignatureMeaning.VERIFIED_EFFECTIVE
        return SignatureMeaning.VERIFIED_INEFFECTIVE
    if command is CommandName.CLOSE:
        return SignatureMeaning.APPROVED_CLOSURE
    return SignatureMeaning.APPROVED_CANCELLATION


def signed_bytes(
    *,
    capa_id: str,
    state_hash: str,
    command: CommandName,
    decision: Mapping[str, Any],
    meaning: SignatureMeaning,
    signer_id: str,
    signed_at: datetime,
) -> bytes:
    """The exact bytes a decider signs."""
    document = {
        "capa_id": capa_id,
        "state_hash": state_hash,
        "command": command.value,
        "decision": _json(decision),
        "meaning": meaning.value,
        "signer_id": signer_id,
        "signed_at": _json(signed_at),
    }
    return SIGNING_CONTEXT + rfc8785.dumps(document)


def binding_fault(
    signature: ElectronicSignature | None,
    command: CommandName,
    fields: Mapping[str, Any],
    actor_id: str,
) -> SignatureFault | None:
    """What is wrong with who signed and what they say they signed (no key needed)."""
    if signature is None:
        return SignatureFault("signature", f"{command} needs the decider's electronic signature")
    if signature.signer_id != actor_id:
        return SignatureFault(
            "signature.signer_id",
            f"signed by {signature.signer_id} but decided by {actor_id}: "
            "the decider signs with their own key",
        )
    expected = meaning_of(command, decision_fields(command, fields, signature.signed_at))
    if signature.meaning is not expected:
        return SignatureFault(
            "signature.meaning",
            f"this {command} is signed as {signature.meaning}; its meaning is {expected}",
        )
    return None


def key_fault(
    keys: SigningKeys,
    signature: ElectronicSignature,
    *,
    capa_id: str,
    command: CommandName,
    fields: Mapping[str, Any],
) -> SignatureFault | None:
    """Whether the signature verifies with the key registered to its signer."""
    if not keys.registered(signature.signer_id):
        return SignatureFault(
            "signature.signer_id", f"no signing key is registered to {signature.signer_id}"
        )
    try:
        raw = base64.b64decode(signature.value, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != SIGNATURE_SIZE:
        return SignatureFault("signature.value", "not the base64 of a 64-byte Ed25519 signature")
    decision = decision_fields(command, fields, signature.signed_at)
    message = signed_bytes(
        capa_id=capa_id,
        state_hash=signature.state_hash,
        command=command,
        decision=decision,
        meaning=signature.meaning,
        signer_id=signature.signer_id,
        signed_at=signature.signed_at,
    )
    if not keys.verify(signature.signer_id, message, raw):
        return SignatureFault(
            "signature.value",
            f"does not verify with the key registered to {signature.signer_id} over this "
            "decision (CAPA, state hash, decision fields, meaning, signer and time)",
        )
    return None


def command_fields(command: Any) -> dict[str, Any]:
    """The signed fields of a command (a VerifyEffectiveness, CloseCapa or CancelCapa)."""
    return {name: getattr(command, name, None) for name in DECISION_FIELDS[command.name]}
