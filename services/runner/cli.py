"""`qms run`: the whole pipeline on this machine, with the demo province flowing through it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from services.common.clock import ShiftedClock
from services.common.settings import CommonSettings
from services.runner.pipeline import DemoRun, Ports, run_pipeline
from services.runner.stack import StackError
from services.runner.summary import render_summary

console = Console()


def run(
    seed: Annotated[int, typer.Option(help="Seed of the demo province.")] = 7,
    agencies: Annotated[int, typer.Option(help="Agencies in the demo province.")] = 150,
    dossiers: Annotated[int, typer.Option(help="Dossiers in the demo province.")] = 8000,
    months: Annotated[int, typer.Option(help="Months of history.")] = 6,
    keep_running: Annotated[
        bool, typer.Option(help="Stay up after the summary until Ctrl-C.")
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh/--keep-state",
            help="Start from empty state (local broker reset, services' state wiped); "
            "--keep-state adds this run's events to the previous ones.",
        ),
    ] = True,
    now: Annotated[
        str | None,
        typer.Option(
            help="Pretend it is this RFC 3339 moment (with its offset): the history ends "
            "there and every service started gets it as its clock (QMS_NOW), which then "
            "advances with real time. Default: QMS_NOW if set, else the system clock."
        ),
    ] = None,
    port_base: Annotated[
        int, typer.Option(help="Intake, CAPA and metrics listen on base+1, +2, +3.")
    ] = 8080,
    summary_json: Annotated[
        Path | None, typer.Option(help="Also write the summary as JSON here.")
    ] = None,
) -> None:
    """Start Kafka, the three services and the demo; print what ClickHouse counted."""
    settings = CommonSettings()
    clock = settings.clock if now is None else ShiftedClock(_moment(now))
    demo = DemoRun(
        seed=seed,
        agencies=agencies,
        dossiers=dossiers,
        months=months,
        now=clock.now(),
        clock=clock,
    )
    started = time.monotonic()
    ports = Ports(intake=port_base + 1, capa=port_base + 2, metrics=port_base + 3)
    path = summary_json or settings.data_dir / "run" / "summary.json"

    def report(summary: dict[str, Any]) -> None:
        summary["elapsed_seconds"] = round(time.monotonic() - started, 1)
        render_summary(summary, console)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
        console.print(f"Full summary: {path}")

    try:
        summary = run_pipeline(
            settings,
            demo,
            ports,
            keep_running=keep_running,
            fresh=fresh,
            console=console,
            on_summary=report,
        )
    except StackError as error:
        # A part that did not come up: the message says which and where its log is.
        console.print(f"qms run: {error}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    capa = summary["capa"]
    if not (
        summary["matches_ground_truth"]
        and summary["audit_trail"]["ok"]
        and summary.get("documents", {}).get("matches", True)
        and summary.get("register", {}).get("matches", True)
        and summary.get("process_sheet", {}).get("matches_ground_truth", True)
        and summary["update_timeliness"]["matches_ground_truth"]
        and capa["opened"] == capa["expected_opened"]
    ):
        raise typer.Exit(1)


def _moment(iso: str) -> datetime:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise typer.BadParameter(f"{iso!r} is not an ISO 8601 moment", param_hint="--now") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
