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

from services.metrics.adapters.migrations import MIGRATIONS_DIR, load_migrations
from services.metrics.domain.rows import INSERT_ORDER, TABLE_COLUMNS, Row

log = logging.getLogger(__name__)

# Both are needed for effectively-once inserts: the token makes a repeated block a no-op
# in the table (with non_replicated_deduplication_window set on it), the second setting
# extends that to the materialized views fed by the table.
_DEDUP_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}

# Server errors that mean "not now" rather than "never" (overload, timeouts, replicas or
# Keeper away): an insert refused with one of these is retried as it is, never split.
_TRANSIENT_CODES = frozenset(
    {159, 164, 202, 203, 209, 210, 236, 241, 242, 252, 285, 319, 394, 425, 999}
)
_ERROR_CODE = re.compile(r"Code: (\d+)")


class ClickHouseStore:
    """Tables of one database, created by the migrations, read and written here."""

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn = dsn
        self.database = database
        self._lock = threading.Lock()
        self._client: Any = None
        self.applied: list[str] = []

    # --- lifecycle ------------------------------------------------------------------------
    def open(self) -> ClickHouseStore:
        """Connect, create the database if needed and apply pending migrations."""
        with self._lock:
            if self._client is None:
                bootstrap = clickhouse_connect.get_client(dsn=self.dsn)
                bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
                self._client = clickhouse_connect.get_client(dsn=self.dsn, database=self.database)
        self.applied = self.migrate()
        return self

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                # chDB's session belongs to the process; closing only drops our handle.
                if not self.dsn.startswith("chdb:"):
                    self._client.close()
                self._client = None

    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet; returns their names."""
        self.command(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
            "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            "ENGINE = ReplacingMergeTree ORDER BY version"
        )
        applied = {int(r[0]) for r in self.query("SELECT version FROM schema_migrations FINAL")}
        done: list[str] = []
        for migration in load_migrations(MIGRATIONS_DIR):
            if migration.version in applied:
                continue
            for statement in migration.statements:
                self.command(statement)
            self.insert_rows(
                "schema_migrations", ("version", "name"), [(migration.version, migration.name)]
            )
            done.append(f"{migration.version:04d}_{migration.name}")
            log.info("applied migration %04d_%s", migration.version, migration.name)
        return done

    def reset(self) -> None:
        """Drop the whole database (replay rebuilds it from the topics)."""
        self.command(f"DROP DATABASE IF EXISTS `{self.database}`")
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
