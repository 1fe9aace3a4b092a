"""Bearer tokens of CAPA users: each bound to one person, one role and the agencies they see."""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.capa.domain.transitions import Role
from services.common.settings import Environment

# Tokens published in deploy/capa/users.dev.yaml; never valid in production.
DEV_TOKENS = (
    "dev-capa-owner-token",
    "dev-capa-owner-all-token",
    "dev-capa-owner-h57-token",
    "dev-iso-secretary-token",
    "dev-auditor-token",
    "dev-leader-token",
    "dev-viewer-token",
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{3,63}$")
    role: Role
    agencies: list[str] = Field(min_length=1)
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a pseudonymous user id, a role and agency patterns (`*`, `H56.*`)."""

    user_id: str
    role: Role
    agencies: tuple[str, ...]

    def can_see(self, agency: str) -> bool:
        return any(fnmatch.fnmatchcase(agency, pattern) for pattern in self.agencies)


class UserDirectory:
    """Looks a bearer token up by its SHA-256; tokens themselves are never held."""

    def __init__(self, entries: list[UserEntry]) -> None:
        self._by_hash: dict[str, Principal] = {}
        for entry in entries:
            if entry.token_sha256 in self._by_hash:
                raise ValueError(f"users {entry.user_id!r} and another share a token")
            self._by_hash[entry.token_sha256] = Principal(
                entry.user_id, entry.role, tuple(entry.agencies)
            )

    def authenticate(self, token: str) -> Principal | None:
        return self._by_hash.get(hash_token(token))

    def __len__(self) -> int:
        return len(self._by_hash)


def load_users(path: Path, environment: Environment) -> UserDirectory:
    """Read the users file; refuse development tokens in production."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
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
        dev_hashes = {hash_token(t) for t in DEV_TOKENS}
        leaked = [e.user_id for e in entries if e.token_sha256 in dev_hashes]
        if leaked:
            raise ValueError(f"development tokens refused in production for: {leaked}")
    return UserDirectory(entries)
