"""Print the run's summary: per-agency figures read back from ClickHouse, against the truth."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from services.runner.document_check import render_document_control
from services.runner.register_figures import render_register
from services.runner.sheet_summary import sheet_line
from services.runner.timeliness_summary import timeliness_line

FIGURES = ("received", "resolved", "on_time", "late")
SHOWN_AGENCIES = 25


def render_summary(summary: dict[str, Any], console: Console) -> None:
    rows = summary["agencies"]
    table = Table(
        title=f"Dossiers per agency, read back from ClickHouse (seed {summary['seed']})",
        caption=f"first {min(SHOWN_AGENCIES, len(rows))} of {len(rows)} agencies",
    )
    table.add_column("agency")
    for figure in FIGURES:
        table.add_column(figure.replace("_", " "), justify="right")
    table.add_column("on time %", justify="right")
    table.add_column("= truth", justify="center")
    for row in rows[:SHOWN_AGENCIES]:
        table.add_row(*_cells(row), "✓" if _matches(row) else "[red]✗[/]")
    totals: dict[str, Any] = {f: sum(row.get(f, 0) for row in rows) for f in FIGURES}
    table.add_section()
    table.add_row(*_cells({"agency": "[bold]all agencies[/]", **totals}), _verdict(summary))
    console.print(table)
    capa = summary.get("capa")
    if capa:
        console.print(
            f"CAPA: {capa['opened']:,} opened ({capa['expected_opened']:,} expected from the "
            f"demo's findings, complaints, late dossiers, objectives and register), "
            f"{capa['closed']:,} closed, "
            f"{capa['overdue']:,} overdue"
        )
    board = summary.get("capa_in_clickhouse")
    if board:
        console.print(
            f"CAPA board in ClickHouse: {board['capas']:,} CAPAs, {board['closed']:,} closed, "
            f"{board['backlog']:,} in the backlog, {board.get('overdue', 0):,} overdue"
        )
    if documents := summary.get("documents"):
        render_document_control(documents, console)
    if summary.get("register"):
        render_register(summary["register"], console)
    audit = summary.get("audit_trail")
    if audit:
        verdict = "[green]verified[/]" if audit["ok"] else f"[red]NOT verified[/]: {audit}"
        console.print(
            f"Audit trail: {audit['entries']:,} entries in {audit['chains']} hash chains, "
            f"anchored by {audit['checkpoints']} signed checkpoints "
            f"({audit.get('checkpoints_outside_kafka', 0)} also kept outside Kafka): {verdict}"
        )
    if sheet := summary.get("process_sheet"):
        console.print(sheet_line(sheet))
    if timeliness := summary.get("update_timeliness"):
        console.print(timeliness_line(timeliness))
    console.print(
        f"{summary['events_published']:,} events published; "
        f"{sum(_matches(r) for r in rows)}/{len(rows)} agencies equal the demo's ground truth; "
        f"{summary.get('elapsed_seconds', '?')} s"
    )


def _cells(row: dict[str, Any]) -> list[str]:
    figures = [f"{row.get(f, 0):,}" for f in FIGURES]
    resolved = row.get("resolved", 0)
    rate = f"{100 * row.get('on_time', 0) / resolved:.1f}" if resolved else "–"
    return [str(row.get("agency", "")), *figures, rate]


def _matches(row: dict[str, Any]) -> bool:
    expected = row.get("expected") or {}
    return all(row.get(f) == expected.get(f) for f in FIGURES)


def _verdict(summary: dict[str, Any]) -> str:
    return "[green]✓[/]" if summary["matches_ground_truth"] else "[red]✗[/]"
