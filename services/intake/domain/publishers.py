"""Publishers and what each may publish: agency codes (glob patterns) and event families."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from schemas import FieldError
from schemas.catalogue import PUBLISHED_FAMILIES
from schemas.envelope import CloudEvent


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a bearer token is stored; the token itself never is."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Publisher:
    """An authenticated integrating system and the scope of its credential."""

    name: str
    agencies: tuple[str, ...]
    families: frozenset[str]
    events_per_second: float | None = None
    burst: int | None = None

    def may_publish_for(self, agency_code: str) -> bool:
        return _matches_any(self.agencies, agency_code)

    def may_publish_family(self, family: str) -> bool:
        return family in self.families


@lru_cache(maxsize=65536)
def _matches_any(patterns: tuple[str, ...], agency_code: str) -> bool:
    # Cached: a province has a few hundred agency codes and publishers send thousands of
    # events for each, so the glob match runs once per (scope, code).
    return any(fnmatchcase(agency_code, pattern) for pattern in patterns)


class PublisherConfigError(ValueError):
    """A publisher definition that cannot be used."""


def check_families(name: str, families: tuple[str, ...] | list[str]) -> frozenset[str]:
    """Refuse families intake does not take (CAPA events come from the CAPA service)."""
    unknown = sorted(set(families) - set(PUBLISHED_FAMILIES))
    if unknown:
        raise PublisherConfigError(
            f"publisher {name!r}: unknown or non-publishable families {unknown} "
            f"(allowed: {list(PUBLISHED_FAMILIES)})"
        )
    return frozenset(families)


def scope_problems(publisher: Publisher, event: CloudEvent) -> list[FieldError]:
    """Why `publisher` may not publish `event` (empty when it may)."""
    problems = []
    family = event.family
    if not publisher.may_publish_family(family):
        problems.append(
            FieldError(
                "type",
                f"publisher {publisher.name!r} may not publish {family!r} events "
                f"(allowed families: {sorted(publisher.families)})",
            )
        )
    if not publisher.may_publish_for(event.agencycode):
        problems.append(
            FieldError(
                "agencycode",
                f"publisher {publisher.name!r} may not publish for agency "
                f"{event.agencycode!r} (allowed: {list(publisher.agencies)})",
            )
        )
    return problems
