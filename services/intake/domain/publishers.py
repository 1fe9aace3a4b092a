"""Publishers and what each may publish: agencies, source URIs (glob patterns) and families."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import FieldError
from schemas.agencies import agency_codes, agency_values
from schemas.catalogue import PUBLISHED_FAMILIES
from schemas.envelope import CloudEvent
from services.common.credentials import hash_token, scope_covers

__all__ = [
    "Publisher",
    "PublisherConfigError",
    "check_families",
    "hash_token",
    "scope_problems",
]


@dataclass(frozen=True, slots=True)
class Publisher:
    """An authenticated integrating system and the scope of its credential.

    `sources` are the CloudEvents source URIs it owns (exact URIs or glob patterns): the
    (source, id) pair is an event's identity, so a publisher that could use another's
    source could take that publisher's ids first and have its real events refused.
    """

    name: str
    agencies: tuple[str, ...]
    families: frozenset[str]
    sources: tuple[str, ...] = ()
    events_per_second: float | None = None
    burst: int | None = None

    def may_publish_for(self, agency_code: str) -> bool:
        return scope_covers(self.agencies, agency_code)

    def may_publish_family(self, family: str) -> bool:
        return family in self.families

    def owns_source(self, source: str) -> bool:
        return scope_covers(self.sources, source)

    def covers(self, event: CloudEvent) -> bool:
        """Whether the event's source and every agency it names are in scope (the hot path;
        `scope_problems` gives the reasons)."""
        if not scope_covers(self.sources, event.source):
            return False
        agencies = self.agencies
        for code in agency_values(event):  # a loop: cheaper than all() over a generator
            if code is not None and not scope_covers(agencies, code):
                return False
        return True


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
    if not publisher.owns_source(event.source):
        problems.append(
            FieldError(
                "source",
                f"publisher {publisher.name!r} does not own source {event.source!r} "
                f"(its sources: {list(publisher.sources)})",
            )
        )
    for field, code in agency_codes(event):
        if not publisher.may_publish_for(code):
            problems.append(
                FieldError(
                    field,
                    f"publisher {publisher.name!r} may not publish for agency {code!r} "
                    f"(allowed: {list(publisher.agencies)})",
                )
            )
    return problems
