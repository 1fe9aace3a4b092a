"""`qms metrics serve | replay | migrate`, and `qms migrate` / `qms report` (root commands)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from services.metrics.config import MetricsSettings

app = typer.Typer(no_args_is_help=True, help="ClickHouse metrics service.")


def _settings(dsn: str | None, database: str | None) -> MetricsSettings:
    settings = MetricsSettings()
    updates: dict[str, str] = {}
    if dsn:
        updates["clickhouse_dsn"] = dsn
    if database:
        updates["clickhouse_database"] = database
    return settings.model_copy(update=updates) if updates else settings


DsnOption = Annotated[
    str | None, typer.Option("--dsn", help="ClickHouse DSN (default: env CLICKHOUSE_DSN)")
]
DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", help="ClickHouse database (default: env CLICKHOUSE_DATABASE)"),
]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (QMS_METRICS_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (QMS_METRICS_PORT, 8083)")] = None,
    consume: Annotated[
        bool, typer.Option(help="Run the Kafka consumer in this process too")
    ] = True,
) -> None:
    """Run the consumer of every event topic and the read API in one process."""
    import uvicorn

    from services.common.logs import configure_worker_logging
    from services.common.shutdown import StopDeadline, StoppingServer
    from services.metrics.entrypoints.api import create_app

    settings = MetricsSettings()
    configure_worker_logging(settings.log_level)
    config = uvicorn.Config(
        create_app(settings, consume=consume),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        workers=1,
    )
    StoppingServer(config, StopDeadline(settings.stop_grace_s, "metrics service")).run()


@app.command("migrate")
def migrate_command(dsn: DsnOption = None, database: DatabaseOption = None) -> None:
    """Apply the pending ClickHouse migrations (deploy/clickhouse/)."""
    migrate(dsn=dsn, database=database)


@app.command()
def replay(
    dsn: DsnOption = None,
    database: DatabaseOption = None,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep",
            help="Keep the tables (insert over them) instead of dropping and rebuilding them",
        ),
    ] = False,
) -> None:
    """Rebuild every table from the topics (stop `qms metrics serve` first with chDB)."""
    from services.metrics.entrypoints.replay import replay_all

    settings = _settings(dsn, database)
    result = asyncio.run(replay_all(settings, rebuild=not keep))
    typer.echo(
        f"replayed {result.records:,} records ({result.rejected:,} dead-lettered) into "
        f"{settings.clickhouse_database} in {result.seconds:.1f}s "
        f"({result.records / max(result.seconds, 1e-9):,.0f} records/s)"
    )


def migrate(dsn: DsnOption = None, database: DatabaseOption = None) -> None:
    """Apply the pending ClickHouse migrations of the metrics service."""
    from services.metrics.adapters.clickhouse import ClickHouseStore

    settings = _settings(dsn, database)
    store = ClickHouseStore(settings.clickhouse_dsn, settings.clickhouse_database)
    try:
        # open() applies what is pending; a second run finds nothing to do.
        store.open()
        for name in store.applied:
            typer.echo(f"applied {name}")
        typer.echo(f"ClickHouse {settings.clickhouse_database}: migrations up to date")
    finally:
        store.close()


def report(
    agency: Annotated[str, typer.Option("--agency", help="Agency code, e.g. H56.01")],
    period: Annotated[str, typer.Option("--period", help="YYYY, YYYY-Qn or YYYY-MM")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML file (default reports/…)")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Read through a running metrics service at this URL "
            "(needed with chDB while `qms metrics serve` runs)",
        ),
    ] = None,
    dsn: DsnOption = None,
    database: DatabaseOption = None,
) -> None:
    """Write the ISO 9001 §9.3 management-review report of one agency as a single HTML file."""
    from services.metrics.entrypoints.report_cli import write_report

    path = write_report(_settings(dsn, database), agency, period, output, url)
    typer.echo(f"report written to {path}")
