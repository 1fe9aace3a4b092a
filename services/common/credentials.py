"""Bearer tokens and agency scopes, the same way for every service.

A token is stored only as its SHA-256 (hex); a scope is a tuple of agency-code glob
patterns (`*` for every agency, `H56.*` for a province's agencies, `H57.01` for one).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a bearer token is stored; the token itself never is."""
    return hashlib.sha256(token.encode()).hexdigest()


@lru_cache(maxsize=65536)
def scope_covers(patterns: tuple[str, ...], agency_code: str) -> bool:
    """Whether any pattern of a scope matches the agency code.

    Cached: a province has a few hundred agency codes and callers send thousands of
    requests for each, so the glob match runs once per (scope, code).
    """
    return any(fnmatchcase(agency_code, pattern) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class AgencyScope:
    """The agencies a credential may act for."""

    patterns: tuple[str, ...]

    def covers(self, agency_code: str) -> bool:
        return scope_covers(self.patterns, agency_code)

    @property
    def national(self) -> bool:
        """Every agency (a national reader, the demo province)."""
        return "*" in self.patterns
