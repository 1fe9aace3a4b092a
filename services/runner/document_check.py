"""The run's document-control line: figures read back through the metrics read API,
against the demo's ground truth (documents issued and conforming, ISO processes overdue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from rich.console import Console

from services.demo.domain.truth import GroundTruth

FIGURES = ("issued", "checked", "conforming", "nonconforming")


def document_control(metrics: httpx.Client, truth: GroundTruth, at: datetime) -> dict[str, Any]:
    """Province totals of the documents and the ISO processes overdue at `at`, read and
    expected, and whether they agree."""
    rows = metrics.get("/v1/kpi/documents/by-agency").raise_for_status().json()["rows"]
    read = {f: sum(int(r[f]) for r in rows) for f in FIGURES}
    by_agency = truth.documents.document_counts(("agency",)).values()
    expected = {f: sum(c[f] for c in by_agency) for f in FIGURES}
    overdue = metrics.get(
        "/v1/kpi/process-documents/overdue", params={"at": at.isoformat()}
    ).raise_for_status()
    overdue_rows = overdue.json()["rows"]
    expected_overdue = truth.documents.processes_overdue(at)
    return {
        **read,
        "expected": expected,
        "processes_overdue": len(overdue_rows),
        "expected_processes_overdue": len(expected_overdue),
        "matches": read == expected and overdue_rows == expected_overdue,
    }


def render_document_control(documents: dict[str, Any], console: Console) -> None:
    checked = documents["checked"]
    share = f"{100 * documents['conforming'] / checked:.1f} %" if checked else "–"
    verdict = "[green]✓[/]" if documents["matches"] else "[red]✗ differs from the truth[/]"
    console.print(
        f"Document control: {documents['issued']:,} documents issued, {checked:,} checked, "
        f"{documents['nonconforming']:,} not conforming ({share} conforming); "
        f"{documents['processes_overdue']} ISO process(es) not revised in time after their "
        f"procedure was amended (expected {documents['expected_processes_overdue']}): {verdict}"
    )
