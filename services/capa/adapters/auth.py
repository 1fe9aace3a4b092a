"""CAPA users: the platform's user directory (services.common.users) with CAPA's roles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.capa.domain.transitions import Role
from services.common.credentials import hash_token, scope_covers
from services.common.settings import Environment
from services.common.users import DEV_USER_TOKENS, load_user_entries

DEV_TOKENS = DEV_USER_TOKENS

__all__ = ["DEV_TOKENS", "Principal", "UserDirectory", "hash_token", "load_users"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a pseudonymous user id, a role and agency patterns (`*`, `H56.*`)."""

    user_id: str
    role: Role
    agencies: tuple[str, ...]

    def can_see(self, agency: str) -> bool:
        return scope_covers(self.agencies, agency)


class UserDirectory:
    """Looks a bearer token up by its SHA-256; tokens themselves are never held."""

    def __init__(self, principals: dict[str, Principal]) -> None:
        self._by_hash = principals

    def authenticate(self, token: str) -> Principal | None:
        return self._by_hash.get(hash_token(token))

    def __len__(self) -> int:
        return len(self._by_hash)


def load_users(path: Path, environment: Environment) -> UserDirectory:
    """Read the users file; refuse development tokens in production and unknown roles."""
    principals: dict[str, Principal] = {}
    for entry in load_user_entries(path, environment):
        try:
            role = Role(entry.role)
        except ValueError as exc:
            raise ValueError(
                f"{path}: user {entry.user_id!r}: unknown role {entry.role!r}"
            ) from exc
        if entry.token_sha256 in principals:
            raise ValueError(f"users {entry.user_id!r} and another share a token")
        principals[entry.token_sha256] = Principal(entry.user_id, role, tuple(entry.agencies))
    return UserDirectory(principals)
