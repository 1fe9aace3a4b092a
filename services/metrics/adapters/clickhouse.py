"""The ClickHouse store: one clickhouse-connect client for chDB or a ClickHouse server.

chDB runs inside this process and its client is not safe for concurrent use, so every
call goes through one lock; async callers use the `a*` methods, which run the call in a
worker thread and keep the event loop free.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import OperationalError

from services.common.working_days import WorkingCalendar, vietnam_calendar
from services.metrics.adapters.cluster_ddl import (
    ClusterLayout,
    database_ddl,
    render_migration,
    shared_table_ddl,
)
from services.metrics.adapters.migration_lock import (
    LOCK_COLUMNS,
    LOCK_TABLE,
    default_holder,
    migration_lock,
)
from services.metrics.adapters.migrations import MIGRATIONS_DIR, load_migrations
from services.metrics.config import MetricsSettings
from services.metrics.domain.calendar_rows import CalendarRow, calendar_rows
from services.metrics.domain.rows import INSERT_ORDER, TABLE_COLUMNS, Row

log = logging.getLogger(__name__)
WORKING_CALENDAR = "working_calendar"

# Both are needed for effectively-once inserts: the token makes a repeated block a no-op
# in the table (with non_replicated_deduplication_window set on it), the second setting
# extends that to the materialized views fed by the table.
_DEDUP_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}
# On a cluster, an insert returns once the shards have it (not queued on this node), so an
# acknowledged batch is stored and a retried one reaches the same shards' deduplication.
_CLUSTER_INSERT_SETTINGS = {"distributed_foreground_insert": 1}
_MIGRATIONS_COLUMNS = (
    "version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)"
)


class PendingMigrations(RuntimeError):
    """The schema is behind the code and this process was told not to migrate it."""


# Server errors that mean "not now" rather than "never" (overload, timeouts, replicas or
# Keeper away): an insert refused with one of these is retried as it is, never split.
_TRANSIENT_CODES = frozenset(
    {159, 164, 202, 203, 209, 210, 236, 241, 242, 252, 285, 319, 394, 425, 999}
)
_ERROR_CODE = re.compile(r"Code: (\d+)")


def cluster_layout(settings: MetricsSettings) -> ClusterLayout | None:
    """The cluster the settings name (CLICKHOUSE_CLUSTER), None for one server or chDB."""
    if not settings.clickhouse_cluster:
        return None
    return ClusterLayout(
        settings.clickhouse_cluster,
        settings.clickhouse_database,
        events_ttl_months=settings.events_ttl_months,
        facts_ttl_months=settings.facts_ttl_months,
    )


def store_for(settings: MetricsSettings) -> ClickHouseStore:
    """The store the settings describe (not opened)."""
    return ClickHouseStore(
        settings.clickhouse_dsn, settings.clickhouse_database, cluster_layout(settings)
    )


class ClickHouseStore:
    """Tables of one database, created by the migrations, read and written here."""

    def __init__(self, dsn: str, database: str, cluster: ClusterLayout | None = None) -> None:
        self.dsn = dsn
        self.database = database
        self.cluster = cluster
        self._lock = threading.Lock()
        self._client: Any = None
        self.applied: list[str] = []

    # --- lifecycle ------------------------------------------------------------------------
    def open(self, *, migrate: bool = True) -> ClickHouseStore:
        """Connect, create the database if needed and apply pending migrations; with
        `migrate=False` (a migration Job owns the schema) refuse to run on a stale schema."""
        with self._lock:
            if self._client is None:
                bootstrap = clickhouse_connect.get_client(dsn=self.dsn)
                bootstrap.command(
                    database_ddl(self.cluster)
                    if self.cluster
                    else f"CREATE DATABASE IF NOT EXISTS `{self.database}`"
                )
                self._client = clickhouse_connect.get_client(dsn=self.dsn, database=self.database)
        if migrate:
            self.applied = self.migrate()
        elif pending := self.pending():
            raise PendingMigrations(
                f"ClickHouse {self.database}: {len(pending)} migration(s) not applied "
                f"({', '.join(pending)}); run `qms migrate` (the migration Job) first"
            )
        return self

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                # chDB's session belongs to the process; closing only drops our handle.
                if not self.dsn.startswith("chdb:"):
                    self._client.close()
                self._client = None

    def _bookkeeping_table(self, name: str, columns: str, order_by: str, version: str = "") -> None:
        if self.cluster is not None:
            self.command(shared_table_ddl(name, columns, order_by, self.cluster, version))
        else:
            engine = f"ReplacingMergeTree({version})" if version else "ReplacingMergeTree"
            self.command(
                f"CREATE TABLE IF NOT EXISTS {name} ({columns}) "
                f"ENGINE = {engine} ORDER BY {order_by}"
            )

    def pending(self) -> list[str]:
        """Names of the migrations not applied yet (all of them on an empty database)."""
        tables = {
            r[0]
            for r in self.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
        }
        applied = (
            {int(r[0]) for r in self.query("SELECT version FROM schema_migrations FINAL")}
            if "schema_migrations" in tables
            else set()
        )
        return [
            f"{m.version:04d}_{m.name}"
            for m in load_migrations(MIGRATIONS_DIR)
            if m.version not in applied
        ]

    def migrate(self, holder: str | None = None) -> list[str]:
        """Apply the migrations not applied yet, holding the migration lock; their names."""
        self._bookkeeping_table("schema_migrations", _MIGRATIONS_COLUMNS, "version")
        self._bookkeeping_table(LOCK_TABLE, LOCK_COLUMNS, "name", version="taken_at")
        with migration_lock(self, holder or default_holder()):
            applied = self._apply_pending()
            # A schema older than the calendar's migration (a partial migration set) has
            # no table to fill yet.
            if self.query(f"EXISTS TABLE {WORKING_CALENDAR}")[0][0]:
                self.load_working_calendar()
            return applied

    def load_working_calendar(self, calendar: WorkingCalendar | None = None) -> int:
        """Write the working-day calendar (deploy/calendar/) into `working_calendar`: a
        year's file added or corrected is in the views after the next migration run. The
        rows of a day replace each other, so a load repeated is a no-op."""
        rows = calendar_rows(calendar or vietnam_calendar())
        if rows:
            self.insert_rows(WORKING_CALENDAR, CalendarRow._fields, rows)
        return len(rows)

    def _apply_pending(self) -> list[str]:
        applied = {int(r[0]) for r in self.query("SELECT version FROM schema_migrations FINAL")}
        done: list[str] = []
        for migration in load_migrations(MIGRATIONS_DIR):
            if migration.version in applied:
                continue
            statements = (
                render_migration(migration, self.cluster) if self.cluster else migration.statements
            )
            for statement in statements:
                self.command(statement)
            self.insert_rows(
                "schema_migrations", ("version", "name"), [(migration.version, migration.name)]
            )
            done.append(f"{migration.version:04d}_{migration.name}")
            log.info("applied migration %04d_%s", migration.version, migration.name)
        return done

    def reset(self) -> None:
        """Drop the whole database (replay rebuilds it from the topics)."""
        on_cluster = f" {self.cluster.on_cluster} SYNC" if self.cluster else ""
        self.command(f"DROP DATABASE IF EXISTS `{self.database}`{on_cluster}")
        self.close()

    # --- primitives -----------------------------------------------------------------------
    def _require(self) -> Any:
        if self._client is None:
            raise RuntimeError("ClickHouseStore is not open: call open() first")
        return self._client

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        with self._lock:
            return self._require().command(sql, parameters=parameters)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._require().query(sql, parameters=parameters).result_rows)

    def query_dicts(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            result = self._require().query(sql, parameters=parameters)
            return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Row],
        token: str | None = None,
    ) -> None:
        settings: dict[str, Any] = dict(_DEDUP_SETTINGS)
        if self.cluster is not None:
            settings.update(_CLUSTER_INSERT_SETTINGS)
        if token is not None:
            settings["insert_deduplication_token"] = token
        with self._lock:
            self._require().insert(
                table, [list(r) for r in rows], column_names=list(columns), settings=settings
            )

    # --- the consumer's write path --------------------------------------------------------
    def insert_batch(self, rows: Mapping[str, Sequence[Row]], token: str) -> int:
        """One block per table with the batch's deduplication token; raw events last."""
        written = 0
        for table in INSERT_ORDER:
            table_rows = rows.get(table) or []
            if table_rows:
                self.insert_rows(table, TABLE_COLUMNS[table], table_rows, token=token)
                written += len(table_rows)
        return written

    async def ainsert_batch(self, rows: Mapping[str, Sequence[Row]], token: str) -> int:
        return await asyncio.to_thread(self.insert_batch, rows, token)

    async def is_refusal(self, error: Exception) -> bool:
        """True when the store answers (a cheap probe works) but refused the data itself."""
        if isinstance(error, OperationalError):  # connection level: the store is away
            return False
        code = _ERROR_CODE.search(str(error))
        if code is not None and int(code.group(1)) in _TRANSIENT_CODES:
            return False
        try:
            await asyncio.to_thread(self.query, "SELECT 1")
        except Exception:
            return False
        return True

    async def aquery_dicts(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.query_dicts, sql, parameters)
