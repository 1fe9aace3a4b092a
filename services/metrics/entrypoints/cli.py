"""`qms metrics serve | replay | migrate | effectiveness-check | ...`, and `qms migrate` /
`qms report` (root commands)."""

from __future__ import annotations

import asyncio
import logging
import time
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


ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Render for this replicated ClickHouse cluster (ON CLUSTER, Replicated and "
        "Distributed tables; default: env CLICKHOUSE_CLUSTER, empty for one server)",
    ),
]
PrintOption = Annotated[
    bool, typer.Option("--print", help="Print the DDL instead of applying it (no server needed)")
]


@app.command("migrate")
def migrate_command(
    dsn: DsnOption = None,
    database: DatabaseOption = None,
    cluster: ClusterOption = None,
    print_ddl: PrintOption = False,
) -> None:
    """Apply the pending ClickHouse migrations (deploy/clickhouse/)."""
    migrate(dsn=dsn, database=database, cluster=cluster, print_ddl=print_ddl)


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
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Drop the database even while the metrics consumer group has members or "
            "rows arrived in the last minutes",
        ),
    ] = False,
) -> None:
    """Rebuild every table from the topics (stop `qms metrics serve` first); progress on stderr."""
    from services.metrics.entrypoints.replay import ReplayProgress, ReplayRefused, replay_all

    def show(progress: ReplayProgress) -> None:
        typer.echo(progress.line(time.perf_counter()), err=True)

    settings = _settings(dsn, database)
    try:
        result = asyncio.run(replay_all(settings, rebuild=not keep, force=force, progress=show))
    except ReplayRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"replayed {result.records:,} records ({result.rejected:,} dead-lettered) into "
        f"{settings.clickhouse_database} in {result.seconds:.1f}s "
        f"({result.records / max(result.seconds, 1e-9):,.0f} records/s)"
    )


@app.command("effectiveness-check")
def effectiveness_check(dsn: DsnOption = None, database: DatabaseOption = None) -> None:
    """Measure, once, the CAPAs whose window after their actions ended, and record each
    measurement on the CAPA command topic (settings QMS_EFFECTIVENESS_*)."""
    from aiokafka.errors import KafkaError
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from schemas.topics import CAPA_COMMANDS_TOPIC
    from services.metrics.adapters.clickhouse import PendingMigrations
    from services.metrics.entrypoints.effectiveness_check import run_effectiveness_check

    settings = _settings(dsn, database)
    try:
        sent = asyncio.run(run_effectiveness_check(settings))
    except (ClickHouseError, PendingMigrations, ValueError, OSError) as exc:
        typer.echo(f"error: ClickHouse {_where(settings)}: {_first_line(exc)}", err=True)
        raise typer.Exit(2) from None
    except KafkaError as exc:
        typer.echo(f"error: Kafka {settings.kafka_bootstrap_servers}: {exc}", err=True)
        raise typer.Exit(2) from None
    for command in sent:
        typer.echo(
            f"{command.capa_id}: {command.measure} = {command.value} "
            f"(threshold {command.threshold}, window from {command.window_start.isoformat()})"
        )
    typer.echo(f"{len(sent)} measurement(s) sent to {settings.topic(CAPA_COMMANDS_TOPIC)}")


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


def migrate(
    dsn: DsnOption = None,
    database: DatabaseOption = None,
    cluster: ClusterOption = None,
    print_ddl: PrintOption = False,
) -> None:
    """Apply the pending ClickHouse migrations of the metrics service (once, under a lock)."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from services.metrics.adapters.clickhouse import cluster_layout, store_for
    from services.metrics.adapters.cluster_ddl import printable, render_all
    from services.metrics.adapters.migration_lock import MigrationLocked
    from services.metrics.adapters.migrations import load_migrations

    # The driver logs each failed attempt; the one line below says it all.
    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    settings = _settings(dsn, database)
    if cluster:
        settings = settings.model_copy(update={"clickhouse_cluster": cluster})
    layout = cluster_layout(settings)
    try:
        if print_ddl:
            if layout is None:
                for migration in load_migrations():
                    typer.echo(f"-- {migration.version:04d}_{migration.name}")
                    typer.echo("".join(f"{statement};\n" for statement in migration.statements))
            else:
                typer.echo(printable(render_all(load_migrations(), layout), layout), nl=False)
            return
        store = store_for(settings)
        try:
            # open() applies what is pending; a second run finds nothing to do.
            store.open()
            for name in store.applied:
                typer.echo(f"applied {name}")
        finally:
            store.close()
    except (ClickHouseError, MigrationLocked, ValueError, OSError) as exc:
        # A dead server, a refused login, a held lock: one line, not a traceback.
        typer.echo(f"error: ClickHouse {_where(settings)}: {_first_line(exc)}", err=True)
        raise typer.Exit(2) from None
    where = f" on cluster {layout.cluster}" if layout else ""
    typer.echo(f"ClickHouse {settings.clickhouse_database}{where}: migrations up to date")


def _where(settings: MetricsSettings) -> str:
    """The DSN without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(settings.clickhouse_dsn)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" if host else settings.clickhouse_dsn


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    # clickhouse-connect wraps the cause in its own sentence; the cause is what to act on.
    marker = "Failed to establish a new connection:"
    if marker in text:
        text = text[text.index(marker) :].split('")')[0]
    elif "Code:" in text:
        text = text[text.index("Code:") :]
    return text[:300] or type(exc).__name__


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
    known: Annotated[
        str,
        typer.Option(
            "--known",
            help="Dossiers in progress at the period's end: `as_of` (only events dated by "
            "then; the figure never moves) or `now` (due times as known now)",
        ),
    ] = "as_of",
    dsn: DsnOption = None,
    database: DatabaseOption = None,
) -> None:
    """Write the ISO 9001 §9.3 management-review report of one agency as a single HTML file."""
    from services.metrics.entrypoints.report_cli import ReportError, write_report

    try:
        path = write_report(_settings(dsn, database), agency, period, output, url, token, known)
    except ReportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"report written to {path}")


@app.command("recount")
def recount(
    repair: Annotated[
        bool, typer.Option("--repair", help="Count the months that differ again from the marks")
    ] = False,
    dsn: DsnOption = None,
    database: DatabaseOption = None,
) -> None:
    """Compare the summed dossier counts with the marks (`dossier_marks_final`); with
    --repair count each month that differs again. Exit 1 if a month differs (and was not
    repaired). With chDB, while `qms metrics serve` is stopped; on a server, while no
    worker inserts."""
    from services.metrics.adapters.clickhouse import store_for
    from services.metrics.adapters.mark_counts import months_apart, recount_month

    settings = _settings(dsn, database)
    store = store_for(settings)
    store.open(migrate=settings.migrate_on_start)
    try:
        apart = months_apart(store)
        for month, groups in apart:
            typer.echo(f"{month:%Y-%m}: {groups} (agency, procedure, measure, day) sums differ")
            if repair:
                recount_month(store, month)
                typer.echo(f"{month:%Y-%m}: counted again from the marks")
        if repair and apart:
            apart = months_apart(store)
    finally:
        store.close()
    if apart:
        raise typer.Exit(1)
    typer.echo("the dossier counts equal the marks")


@app.command("check-nonconformities")
def check_nonconformities(dsn: DsnOption = None, database: DatabaseOption = None) -> None:
    """Once: open or link a CAPA for every measured nonconformity (procedures not in force,
    extended due dates). Reads the store itself: with chDB, while `qms metrics serve` is
    stopped (the running worker does the same periodically)."""
    from services.metrics.adapters.capa_commands import KafkaCapaCommands
    from services.metrics.adapters.clickhouse import store_for
    from services.metrics.service_layer.nonconformity_check import NonconformityChecker

    settings = _settings(dsn, database)
    store = store_for(settings)
    store.open(migrate=settings.migrate_on_start)

    async def run() -> None:
        async with KafkaCapaCommands(settings) as commands:
            result = await NonconformityChecker(store, commands.send).check()
        for kind, occurrences in result.occurrences.items():
            typer.echo(
                f"{kind}: {occurrences} occurrences in {result.capas[kind]} CAPAs, "
                f"{result.sent[kind]} commands sent"
            )
        if result.skipped:
            typer.echo(f"{result.skipped} rows skipped (see the log)", err=True)

    try:
        asyncio.run(run())
    finally:
        store.close()
