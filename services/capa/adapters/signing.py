"""Ed25519 for CAPA decisions (the `cryptography` package): registered keys and signing.

`Ed25519Keys` implements the domain's `SigningKeys` port from the users file's
`signing_key` entries. `sign_decision`, `sign_request` and `signed_command` are what a
person's client, the demo's scripted closures and the tests sign with.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas.capa import ElectronicSignature
from services.capa.domain.commands import SignedCommand
from services.capa.domain.signatures import (
    command_fields,
    decision_fields,
    meaning_of,
    signed_bytes,
    state_hash,
)
from services.capa.domain.state import CapaState
from services.capa.domain.transitions import CommandName
from services.common.settings import Environment
from services.common.users import dev_signing_seed, load_user_entries, signing_keys

# The API routes of the signed decisions, and the command each gives.
ROUTE_COMMANDS: Mapping[str, CommandName] = {
    "verification": CommandName.VERIFY_EFFECTIVENESS,
    "closure": CommandName.CLOSE,
    "cancellation": CommandName.CANCEL,
}

C = TypeVar("C", bound=SignedCommand)


class Ed25519Keys:
    """The Ed25519 public keys registered to users, by user id."""

    def __init__(self, public_keys: Mapping[str, bytes]) -> None:
        self._keys = {u: Ed25519PublicKey.from_public_bytes(k) for u, k in public_keys.items()}

    def registered(self, user_id: str) -> bool:
        return user_id in self._keys

    def verify(self, user_id: str, message: bytes, signature: bytes) -> bool:
        key = self._keys.get(user_id)
        if key is None:
            return False
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def load_signing_keys(path: Path, environment: Environment) -> Ed25519Keys:
    """The signing keys of the users file (development keys are refused in production)."""
    return Ed25519Keys(signing_keys(load_user_entries(path, environment)))


def dev_private_key(user_id: str) -> Ed25519PrivateKey:
    """The private key of a development signer (deploy/users.dev.yaml); never for production."""
    return Ed25519PrivateKey.from_private_bytes(dev_signing_seed(user_id))


def sign_decision(
    private_key: Ed25519PrivateKey,
    *,
    capa_id: str,
    state_hash: str,
    command: CommandName,
    fields: Mapping[str, Any],
    signer_id: str,
    signed_at: datetime,
) -> ElectronicSignature:
    """Sign a decision on the state whose hash is `state_hash`, with its meaning."""
    decision = decision_fields(command, fields, signed_at)
    meaning = meaning_of(command, decision)
    message = signed_bytes(
        capa_id=capa_id,
        state_hash=state_hash,
        command=command,
        decision=decision,
        meaning=meaning,
        signer_id=signer_id,
        signed_at=signed_at,
    )
    return ElectronicSignature(
        signer_id=signer_id,
        meaning=meaning,
        signed_at=signed_at,
        state_hash=state_hash,
        value=base64.b64encode(private_key.sign(message)).decode(),
    )


def sign_request(
    private_key: Ed25519PrivateKey,
    *,
    capa: Mapping[str, Any],
    route: str,
    body: Mapping[str, Any],
    signer_id: str,
    signed_at: datetime,
) -> dict[str, Any]:
    """The `signature` member of a POST body to `route` (`verification`, `closure`,
    `cancellation`), signed over `capa` as `GET /v1/capas/{id}` showed it."""
    signature = sign_decision(
        private_key,
        capa_id=str(capa["capa_id"]),
        state_hash=str(capa["state_hash"]),
        command=ROUTE_COMMANDS[route],
        fields=body,
        signer_id=signer_id,
        signed_at=signed_at,
    )
    return signature.model_dump(mode="json")


def signed_command(
    command: C, state: CapaState, private_key: Ed25519PrivateKey, signed_at: datetime | None = None
) -> C:
    """`command` signed by its actor over `state` (at `signed_at`, by default the command's)."""
    signature = sign_decision(
        private_key,
        capa_id=state.capa_id,
        state_hash=state_hash(state),
        command=command.name,
        fields=command_fields(command),
        signer_id=command.actor_id,
        signed_at=signed_at or command.at,
    )
    return replace(command, signature=signature)


@dataclass(frozen=True)
class DecisionSigner:
    """A person who signs decisions: their user id and private key."""

    user_id: str
    private_key: Ed25519PrivateKey

    @classmethod
    def dev(cls, user_id: str) -> DecisionSigner:
        """A development signer of deploy/users.dev.yaml (its key is public knowledge)."""
        return cls(user_id, dev_private_key(user_id))

    @classmethod
    def from_pem(cls, user_id: str, path: Path) -> DecisionSigner:
        """A signer whose PKCS#8 PEM private key is in `path`."""
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return cls(user_id, key)

    def sign_body(
        self, capa: Mapping[str, Any], route: str, body: Mapping[str, Any], signed_at: datetime
    ) -> dict[str, Any]:
        """`body` for POST `route` with this signer's `signature` over `capa` (a state view)."""
        signature = sign_request(
            self.private_key,
            capa=capa,
            route=route,
            body=body,
            signer_id=self.user_id,
            signed_at=signed_at,
        )
        return {**body, "signature": signature}
