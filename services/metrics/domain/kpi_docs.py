"""docs/kpis.md's generated tables, written from the KPI catalogue.

The page keeps each table between `<!-- catalogue:NAME -->` and `<!-- /catalogue:NAME -->`;
`qms metrics kpi-docs` rewrites them and a test fails when they differ.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.metrics.domain.kpi_catalogue import (
    DERIVED_COUNTS,
    DOCUMENT_KPIS,
    DOSSIER_MEASURES,
    DOSSIER_RATES,
    SCORE_COMPONENTS,
    STEP_KPIS,
    TIME_LOST_KPIS,
    dossier_count_names,
)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def dossier_table() -> str:
    """Every dossier count, then the rates over them."""
    definitions = {m.name: m.definition for m in DOSSIER_MEASURES}
    definitions |= {d.name: d.definition for d in DERIVED_COUNTS}
    rows = [(f"`{name}`", definitions[name]) for name in dossier_count_names()]
    rows += [
        (rate.docs_name, f"`100 × {rate.numerator} / {rate.denominator}`") for rate in DOSSIER_RATES
    ]
    return _table(("KPI", "Definition"), rows)


def score_table() -> str:
    """The public-service score's components and weights."""
    rows = [(c.label, str(c.weight), c.definition) for c in SCORE_COMPONENTS]
    return _table(("component", "weight", "value"), rows)


def process_sheet_table() -> str:
    """The step KPIs and the where-time-is-lost KPIs of the process control sheet."""
    rows = [(f"`{name}`", "per step: " + text) for name, text in STEP_KPIS.items()]
    rows += [(f"`{name}`", "time lost: " + text) for name, text in TIME_LOST_KPIS.items()]
    return _table(("KPI", "Definition"), rows)


def documents_table() -> str:
    """Documents issued and their format conformity."""
    return _table(("KPI", "Definition"), [(f"`{name}`", text) for name, text in DOCUMENT_KPIS])


TABLES = {
    "dossiers": dossier_table,
    "score": score_table,
    "process_sheet": process_sheet_table,
    "documents": documents_table,
}
_SECTION = re.compile(r"(<!-- catalogue:(\w+) -->\n)(?:.*?\n)?(<!-- /catalogue:\2 -->)", re.DOTALL)


def with_tables(page: str) -> str:
    """The page with every generated section replaced by the catalogue's table."""

    def fill(match: re.Match[str]) -> str:
        return match[1] + TABLES[match[2]]() + "\n" + match[3]

    return _SECTION.sub(fill, page)


def sections(page: str) -> set[str]:
    """Names of the generated sections the page holds."""
    return {m[2] for m in _SECTION.finditer(page)}
