"""The platform's people: bearer-token users, each with a role and the agencies they see.

One users file serves every service: CAPA maps the role to its own enum, the metrics read
API and the audit-trail endpoint read within the user's agency scope (a scope of `*` is a
national reader). Tokens are held only as their SHA-256 (services.common.credentials).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.credentials import AgencyScope, hash_token
from services.common.settings import DEV_USERS_FILE, Environment

__all__ = ["DEV_USERS_FILE", "PlatformUser", "UserDirectory", "load_user_directory"]

# Tokens published in the development users file (DEV_USERS_FILE); never valid in production.
DEV_USER_TOKENS = (
    "dev-capa-owner-token",
    "dev-capa-owner-all-token",
    "dev-capa-owner-h57-token",
    "dev-iso-secretary-token",
    "dev-auditor-token",
    "dev-leader-token",
    "dev-viewer-token",
    "dev-national-reader-token",
    "dev-reader-h57-token",
)

# The national reader of the development file: what `qms run` and `qms report` send.
DEV_NATIONAL_READER_TOKEN = "dev-national-reader-token"

# Users of the development file who sign CAPA decisions. Their private keys are derived from
# the user id (`dev_signing_seed`), so anyone can sign as them: development only, and their
# public keys are refused in production like the development tokens.
DEV_SIGNING_USERS = ("secretary-01", "auditor-0009", "leader-01")


def dev_signing_seed(user_id: str) -> bytes:
    """The Ed25519 private key seed (32 bytes) of a development user; public knowledge."""
    return hashlib.sha256(b"qms-trail development signing key\n" + user_id.encode()).digest()


def dev_public_key(user_id: str) -> str:
    """The base64 raw public key of a development user, as the users file writes it."""
    key = Ed25519PrivateKey.from_private_bytes(dev_signing_seed(user_id)).public_key()
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


# Agency-code characters (schemas.base.AgencyCode) plus the `*` and `?` wildcards: no
# `[...]` classes, so a scope translates exactly into a SQL LIKE pattern.
SCOPE_PATTERN = r"^[A-Z0-9*?][A-Z0-9._*?-]{0,31}$"


class UserEntry(BaseModel):
    """One user as written in the users file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{3,63}$")
    role: str = Field(pattern=r"^[a-z][a-z_]{1,31}$")
    agencies: list[Annotated[str, Field(pattern=SCOPE_PATTERN)]] = Field(min_length=1)
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    signing_key: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$",
        description="The user's Ed25519 public key (raw 32 bytes, base64) for signing decisions.",
    )


@dataclass(frozen=True, slots=True)
class PlatformUser:
    """Who is calling: a pseudonymous user id, a role name and the agencies they see."""

    user_id: str
    role: str
    scope: AgencyScope


class UserDirectory:
    """Looks a bearer token up by its SHA-256; tokens themselves are never held."""

    def __init__(self, entries: list[UserEntry]) -> None:
        self._by_hash: dict[str, PlatformUser] = {}
        for entry in entries:
            if entry.token_sha256 in self._by_hash:
                raise ValueError(f"users {entry.user_id!r} and another share a token")
            self._by_hash[entry.token_sha256] = PlatformUser(
                entry.user_id, entry.role, AgencyScope(tuple(entry.agencies))
            )

    def authenticate(self, token: str) -> PlatformUser | None:
        return self._by_hash.get(hash_token(token))

    def users(self) -> list[PlatformUser]:
        return list(self._by_hash.values())

    def __len__(self) -> int:
        return len(self._by_hash)


def load_user_entries(path: Path, environment: Environment) -> list[UserEntry]:
    """Read and check the users file; refuse development tokens in production."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read users file {path}: {exc}") from exc
    raw = document.get("users") if isinstance(document, dict) else None
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: expected a non-empty top-level 'users' list")
    entries: list[UserEntry] = []
    for position, item in enumerate(raw):
        try:
            entries.append(UserEntry.model_validate(item))
        except ValidationError as exc:
            raise ValueError(f"{path}: users[{position}]: {exc}") from exc
    if environment is Environment.PRODUCTION:
        dev_hashes = {hash_token(t) for t in DEV_USER_TOKENS}
        leaked = [e.user_id for e in entries if e.token_sha256 in dev_hashes]
        if leaked:
            raise ValueError(f"development tokens refused in production for: {leaked}")
        dev_keys = {dev_public_key(u) for u in DEV_SIGNING_USERS}
        leaked = [e.user_id for e in entries if e.signing_key in dev_keys]
        if leaked:
            raise ValueError(f"development signing keys refused in production for: {leaked}")
    return entries


def signing_keys(entries: list[UserEntry]) -> dict[str, bytes]:
    """Each user's registered Ed25519 public key (raw bytes), for those who have one."""
    return {e.user_id: base64.b64decode(e.signing_key) for e in entries if e.signing_key}


def load_user_directory(path: Path, environment: Environment) -> UserDirectory:
    """The users file as a token directory (see `load_user_entries`)."""
    return UserDirectory(load_user_entries(path, environment))
