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

    from services.common.logs import bind_process, configure_logging
    from services.common.settings import LogFormat
    from services.common.shutdown import StopDeadline, StoppingServer
    from services.metrics.entrypoints.api import create_app

    settings = MetricsSettings()
    configure_logging(settings.log_level, json=settings.log_format is LogFormat.JSON)
    bind_process(service="metrics", consumer=settings.consumer_group)
    config = uvicorn.Config(
        create_app(settings, consume=consume),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's records go through structlog (services/common/logs.py)
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


@app.command("row-policies")
def row_policies(
    agency: Annotated[str, typer.Option("--agency", help="Agency code, e.g. H57.01")],
    user: Annotated[str, typer.Option("--user", help="ClickHouse user, e.g. grafana_h57_01")],
    output_format: Annotated[
        str, typer.Option("--format", help="sql (CREATE ROW POLICY) or xml (users.d file)")
    ] = "sql",
    password_env: Annotated[
        str, typer.Option("--password-env", help="Environment variable of its password (xml)")
    ] = "QMS_GRAFANA_AGENCY_CLICKHOUSE_PASSWORD",
    database: Annotated[str, typer.Option("--database", help="ClickHouse database")] = "qms",
) -> None:
    """Print the row policies of a read-only ClickHouse user who sees one agency's rows."""
    from services.metrics.adapters.row_policies import agency_user_xml, row_policies_sql

    try:
        if output_format == "sql":
            text = row_policies_sql(user, agency, database)
        elif output_format == "xml":
            text = agency_user_xml(user, agency, password_env, database)
        else:
            raise ValueError(f"--format: {output_format!r} is neither sql nor xml")
    except ValueError as exc:  # pydantic's ValidationError is one too
        typer.echo(f"error: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(text, nl=False)


CheckOption = Annotated[
    bool, typer.Option("--check", help="Only check the file is up to date (exit 1 if not)")
]


def _write_or_check(path: Path, text: str, check: bool, command: str) -> None:
    if check:
        if path.read_text(encoding="utf-8") != text:
            typer.echo(f"{path.name} is out of date: run `qms metrics {command}`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{path.name} is up to date")
        return
    path.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {path}")


@app.command("kpi-docs")
def kpi_docs(check: CheckOption = False) -> None:
    """Rewrite docs/kpis.md's tables from the KPI catalogue."""
    from services.common.settings import REPO_ROOT
    from services.metrics.domain.kpi_docs import with_tables

    page = REPO_ROOT / "docs" / "kpis.md"
    _write_or_check(page, with_tables(page.read_text(encoding="utf-8")), check, "kpi-docs")


@app.command("schema")
def schema(check: CheckOption = False) -> None:
    """Write deploy/clickhouse/schema.sql: the live schema after every migration."""
    import tempfile

    from services.metrics.adapters.clickhouse import ClickHouseStore
    from services.metrics.adapters.schema_snapshot import SCHEMA_FILE, live_schema

    with tempfile.TemporaryDirectory(prefix="qms-schema-") as scratch:
        store = ClickHouseStore(f"chdb://{scratch}", "qms").open()
        try:
            text = live_schema(store)
        finally:
            store.close()
    _write_or_check(SCHEMA_FILE, text, check, "schema")


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
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Bearer token of a platform user who may read the agency "
            "(default: QMS_READ_TOKEN, the development national reader)",
        ),
    ] = None,
    dsn: DsnOption = None,
    database: DatabaseOption = None,
) -> None:
    """Write the ISO 9001 §9.3 management-review report of one agency as a single HTML file."""
    from services.metrics.entrypoints.report_cli import ReportError, write_report

    try:
        path = write_report(_settings(dsn, database), agency, period, output, url, token)
    except ReportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"report written to {path}")
