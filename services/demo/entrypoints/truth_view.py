"""Rich tables of a ground truth, for `qms demo --print-truth`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from services.demo.domain.catalogue import Agency
from services.demo.domain.truth import GroundTruth


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def print_truth(console: Console, truth: GroundTruth, agencies: list[Agency]) -> None:
    """Totals, findings, expected CAPAs, then one row per agency."""
    totals = Table(title="Province totals (ground truth)", show_header=True)
    totals.add_column("figure")
    totals.add_column("value", justify="right")
    for name, value in truth.totals.items():
        totals.add_row(name, str(value))
    t = truth.totals
    totals.add_row("on-time rate", _pct(t["dossiers_on_time"], t["dossiers_resolved"]))
    totals.add_row("online share", _pct(t["dossiers_received_online"], t["dossiers_received"]))
    totals.add_row("satisfaction", _pct(t.get("ratings_satisfied", 0), t.get("ratings", 0)))
    console.print(totals)

    capas = Table(title="Findings and expected CAPAs")
    capas.add_column("what")
    capas.add_column("count", justify="right")
    for name, value in truth.findings.items():
        capas.add_row(f"findings {name}", str(value))
    for name, value in truth.expected_capas.items():
        capas.add_row(f"CAPAs {name}", str(value))
    console.print(capas)

    names = {a.code: a.name for a in agencies}
    table = Table(title="Dossiers per agency (ground truth)")
    for column in ("agency", "name", "received", "resolved", "on_time", "late", "on-time %"):
        table.add_column(column, justify="left" if column in ("agency", "name") else "right")
    for code, counts in truth.agencies.items():
        table.add_row(
            code,
            names.get(code, ""),
            str(counts.received),
            str(counts.resolved),
            str(counts.on_time),
            str(counts.late),
            _pct(counts.on_time, counts.resolved),
        )
    console.print(table)
