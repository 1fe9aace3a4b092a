"""`qms demo`: generate the demo province, publish it through intake, show its ground truth."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from schemas.binding import event_to_json
from services.demo.adapters.publisher import (
    PublishError,
    PublishReport,
    RetryPolicy,
    publish,
)
from services.demo.config import DemoSettings
from services.demo.domain.province import Province, generate_province
from services.demo.domain.truth import ground_truth
from services.demo.entrypoints.truth_view import print_truth


def demo(
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same province.")] = 7,
    agencies: Annotated[int, typer.Option(min=1, help="Number of agencies.")] = 150,
    dossiers: Annotated[int, typer.Option(min=0, help="Number of dossiers.")] = 8000,
    months: Annotated[
        int, typer.Option(min=1, help="Whole months of history before the current month.")
    ] = 6,
    now: Annotated[
        datetime | None,
        typer.Option(
            help="Pretend it is this moment (ISO 8601 with offset); default: now by the "
            "business clock (QMS_NOW, else the system clock)."
        ),
    ] = None,
    intake_url: Annotated[
        str | None,
        typer.Option(
            help="Intake base URL (env QMS_DEMO_INTAKE_URL, default http://127.0.0.1:8081)."
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Publisher bearer token (env QMS_DEMO_TOKEN).")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1, max=1000, help="Events per batch request (env QMS_DEMO_BATCH_SIZE, default 500)."
        ),
    ] = None,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Attempts per batch before giving up.")
    ] = 8,
    publish_events: Annotated[
        bool, typer.Option("--publish/--no-publish", help="Post the events to intake.")
    ] = True,
    print_truth_table: Annotated[
        bool, typer.Option("--print-truth", help="Print the ground truth as tables.")
    ] = False,
    truth_json: Annotated[
        Path | None, typer.Option(help="Write the ground truth as JSON to this file.")
    ] = None,
    events_json: Annotated[
        Path | None, typer.Option(help="Write the events as JSON Lines to this file.")
    ] = None,
) -> None:
    """Publish a seeded, realistic province through intake, as an integrating system would."""
    console = Console()
    settings = DemoSettings()
    if now is not None and now.tzinfo is None:
        raise typer.BadParameter(
            "give a time zone offset, e.g. 2026-06-15T10:00:00+07:00", param_hint="--now"
        )
    with console.status("generating the province"):
        province = generate_province(seed, agencies, dossiers, months, now or settings.clock.now())
    console.print(
        f"[bold]Province H56[/]: {len(province.agencies)} agencies, {dossiers} dossiers, "
        f"{len(province.events)} events from {province.window_start:%Y-%m-%d} "
        f"to {province.window_end:%Y-%m-%d} (seed {seed})"
    )
    if events_json is not None:
        _write_events(province, events_json)
        console.print(f"events written to {events_json}")
    truth = ground_truth(province.events)
    if truth_json is not None:
        truth_json.parent.mkdir(parents=True, exist_ok=True)
        truth_json.write_text(json.dumps(truth.as_json(), indent=2, ensure_ascii=False))
        console.print(f"ground truth written to {truth_json}")
    if publish_events:
        report = _publish(
            console,
            province,
            intake_url or settings.intake_url,
            token or settings.token,
            batch_size or settings.batch_size,
            RetryPolicy(max_attempts=max_attempts),
        )
        console.print(
            f"published {report.events} events in {report.batches} batches: "
            f"{report.accepted} accepted, {report.duplicates} duplicates, "
            f"{report.retries} retries, {report.seconds:.1f} s"
        )
    if print_truth_table:
        print_truth(console, truth, province.agencies)


def _publish(
    console: Console,
    province: Province,
    intake_url: str,
    token: str,
    batch_size: int,
    retry: RetryPolicy,
) -> PublishReport:
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"publishing to {intake_url}", total=len(province.events))
        try:
            return asyncio.run(
                publish(
                    province.events,
                    intake_url,
                    token,
                    batch_size=batch_size,
                    retry=retry,
                    on_progress=lambda n: progress.advance(task, n),
                )
            )
        except PublishError as exc:
            progress.stop()
            console.print(f"[bold red]publishing failed:[/] {exc}")
            for problem in exc.problems[:20]:
                console.print_json(json.dumps(problem, ensure_ascii=False, default=str))
            if len(exc.problems) > 20:
                console.print(f"... and {len(exc.problems) - 20} more")
            raise typer.Exit(1) from exc


def _write_events(province: Province, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for event in province.events:
            out.write(json.dumps(event_to_json(event), ensure_ascii=False) + "\n")
