"""The migrations rendered for a replicated, sharded ClickHouse cluster (`qms migrate --cluster`).

The numbered files stay the single-node schema (chDB, one server). On a cluster each table
of a migration becomes two:

- `<name>_local`: a `Replicated*MergeTree` created `ON CLUSTER`, with its own Keeper path
  (`/clickhouse/tables/{shard}/<database>/<name>_local`) and the `{replica}` macro. Replicated
  tables deduplicate a repeated insert block by its `insert_deduplication_token`, which the
  consumer keeps sending, within `replicated_deduplication_window` blocks (the single-node
  `non_replicated_deduplication_window`, renamed).
- `<name>`: a `Distributed` table over the locals with a sharding key that keeps every
  aggregate on one shard — all rows of a dossier (its facts, its marks, its raw events,
  keyed by subject) on the same shard, so `FINAL` and the replacing engines collapse
  duplicates there, as on one node.

Why ON CLUSTER with replicated tables rather than a `Replicated` database engine: the
Distributed layer needs the local tables by name on every shard anyway, and explicit
per-table paths and sharding keys are what this module (and its test) can check; a
`Replicated` database would replicate the DDL but not shard the data.

Materialized views run where the insert lands: they read `<source>_local` and write
`<target>_local` on each shard. Plain views and `INSERT … SELECT` read the Distributed
tables (all shards). The raw events and the fact tables are partitioned by month
(`toYYYYMM(time)`: a redelivered event has the same time, so its duplicates stay in one
partition) and get a TTL when a retention is asked for. A statement of a kind this module
does not know is refused: a new migration then decides how it runs on the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.metrics.adapters.migrations import Migration

LOCAL_SUFFIX = "_local"

# The column that keeps each aggregate on one shard. Rows without a dossier shard by their
# own aggregate (complaint, audit, objective, procedure, document, CAPA); the raw events by
# subject, which is the dossier code for dossier events.
SHARDING_KEYS = {
    "events": "cityHash64(subject)",
    "dossier_events": "cityHash64(dossier)",
    "complaint_events": "cityHash64(complaint)",
    # A rating without a dossier (a general survey) shards by itself, not all onto one shard.
    "satisfaction_ratings": "cityHash64(if(dossier = '', rating, dossier))",
    "audit_events": "cityHash64(audit)",
    "objective_events": "cityHash64(objective)",
    "procedure_events": "cityHash64(procedure)",
    "document_events": "cityHash64(document)",
    "working_calendar": "cityHash64(day)",
    "capa_events": "cityHash64(capa)",
    "ledger_checkpoints": "cityHash64(topic, partition)",
    "dossier_daily": "cityHash64(agency, procedure)",
    "dossier_marks": "cityHash64(dossier)",
    # Looked up by the insert's view on the shard of the dossier's facts.
    "dossier_mark_index": "cityHash64(dossier)",
    # Sums: any shard may hold a part of a count (its dossiers'), a read adds them up.
    "dossier_mark_counts": "cityHash64(agency, procedure)",
}
# Tables that store nothing (`ENGINE = Null`: a view's way station to other views): one on
# each shard, where the views that pass through them run; never read, so no Distributed.
SHARD_ONLY_TABLES = frozenset({"dossier_mark_changes"})
# The big tables: one partition per month of the event's time, and the retention TTL.
RAW_TABLES = frozenset({"events"})
FACT_TABLES = frozenset(
    {
        "dossier_events",
        "complaint_events",
        "satisfaction_ratings",
        "audit_events",
        "objective_events",
        "procedure_events",
        "document_events",
        "capa_events",
    }
)

_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\s*\(", re.IGNORECASE)
_ENGINE = re.compile(r"ENGINE\s*=\s*(\w*MergeTree)(?:\(([^()]*)\))?", re.IGNORECASE)
_CREATE_VIEW = re.compile(
    r"^(CREATE (?:OR REPLACE )?VIEW(?: IF NOT EXISTS)?) (\w+)( AS\b)", re.IGNORECASE
)
_CREATE_MV = re.compile(
    r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS\b", re.IGNORECASE
)
# A column's new type (a dossier measure added to the `measure` enum): idempotent.
_DROP = re.compile(r"^DROP (TABLE|VIEW) IF EXISTS (\w+)$", re.IGNORECASE)
_ALTER_COLUMN = re.compile(
    r"^ALTER TABLE (\w+) ((?:MODIFY|ADD) COLUMN\b.*)$", re.IGNORECASE | re.DOTALL
)
_SOURCE = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)


@dataclass(frozen=True)
class ClusterLayout:
    """Where and how the schema is laid out: the cluster of `remote_servers`, the database,
    and how many months the raw events and the facts are kept (0: for ever — the topics are
    the system of record and a replay rebuilds whatever a TTL removed)."""

    cluster: str
    database: str
    events_ttl_months: int = 0
    facts_ttl_months: int = 0

    @property
    def on_cluster(self) -> str:
        return f"ON CLUSTER '{self.cluster}'"


def render_migration(migration: Migration, layout: ClusterLayout) -> tuple[str, ...]:
    """Every statement of a migration, as it runs on the cluster."""
    rendered: list[str] = []
    for statement in migration.statements:
        rendered.extend(render_statement(statement, layout))
    return tuple(rendered)


def render_statement(statement: str, layout: ClusterLayout) -> list[str]:
    """One single-node statement as one or more cluster statements."""
    text = statement.strip()
    if match := _CREATE_TABLE.match(text):
        return _table(match[1], text, layout)
    if match := _CREATE_MV.match(text):
        return [_materialized_view(match[1], match[2], text, layout)]
    if match := _CREATE_VIEW.match(text):
        return [f"{match[1]} {match[2]} {layout.on_cluster}{text[match.end(2) :]}"]
    if match := _DROP.match(text):
        kind, name = match[1].upper(), match[2]
        # A materialized view exists on the cluster as `<name>_local` (see _materialized_view).
        tables = SHARDING_KEYS.keys() | SHARD_ONLY_TABLES
        local = (kind == "TABLE" and name in tables) or name.endswith("_mv")
        names = [name, name + LOCAL_SUFFIX] if local else [name]
        return [f"DROP {kind} IF EXISTS {n} {layout.on_cluster} SYNC" for n in names]
    if match := _ALTER_COLUMN.match(text):
        # A column type changes on each shard's table and on the Distributed table over it.
        name, change = match[1], match[2]
        names = [name + LOCAL_SUFFIX, name] if name in SHARDING_KEYS else [name]
        return [f"ALTER TABLE {n} {layout.on_cluster} {change}" for n in names]
    if text.upper().startswith("INSERT INTO"):
        return [text]  # through the Distributed tables: reads all shards, writes by key
    raise ValueError(f"no cluster rendering for this statement: {text.splitlines()[0]}")


def database_ddl(layout: ClusterLayout) -> str:
    return f"CREATE DATABASE IF NOT EXISTS `{layout.database}` {layout.on_cluster}"


def shared_table_ddl(
    name: str, columns: str, order_by: str, layout: ClusterLayout, version: str = ""
) -> str:
    """A small table every node holds in full (the migration bookkeeping, the lock): one
    Keeper path for the whole cluster, so every replica of every shard reads the same rows."""
    return (
        f"CREATE TABLE IF NOT EXISTS {name} {layout.on_cluster} ({columns}) "
        f"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{layout.database}/{name}', "
        f"'{{replica}}'{', ' + version if version else ''}) ORDER BY {order_by}"
    )


def _table(name: str, text: str, layout: ClusterLayout) -> list[str]:
    if name in SHARD_ONLY_TABLES:
        if not re.search(r"ENGINE\s*=\s*Null\s*$", text, re.IGNORECASE):
            raise ValueError(f"table {name}: a shard-only table stores nothing (ENGINE = Null)")
        created = f"CREATE TABLE IF NOT EXISTS {name}{LOCAL_SUFFIX} {layout.on_cluster}\n"
        return [created + text[_CREATE_TABLE.match(text).end() - 1 :]]  # type: ignore[union-attr]
    if name not in SHARDING_KEYS:
        raise ValueError(f"table {name}: no sharding key in cluster_ddl.SHARDING_KEYS")
    local = name + LOCAL_SUFFIX
    engine = _ENGINE.search(text)
    if engine is None:
        raise ValueError(f"table {name}: only MergeTree engines can be replicated")
    path = f"'/clickhouse/tables/{{shard}}/{layout.database}/{local}'"
    arguments = ", ".join(a for a in (path, "'{replica}'", (engine[2] or "").strip()) if a)
    body = (
        text[: engine.start()]
        + f"ENGINE = Replicated{engine[1]}({arguments})"
        + _partitioning(name, text, layout)
        + text[engine.end() :]
    )
    body = body.replace("non_replicated_deduplication_window", "replicated_deduplication_window")
    body = _with_ttl(name, body, layout)
    created = f"CREATE TABLE IF NOT EXISTS {local} {layout.on_cluster}\n"
    local_ddl = created + body[_CREATE_TABLE.match(body).end() - 1 :]  # type: ignore[union-attr]
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {name} {layout.on_cluster} AS {local} "
        f"ENGINE = Distributed('{layout.cluster}', '{layout.database}', '{local}', "
        f"{SHARDING_KEYS[name]})"
    )
    return [local_ddl, distributed]


def _partitioning(name: str, text: str, layout: ClusterLayout) -> str:
    if name not in RAW_TABLES | FACT_TABLES or re.search(r"\bPARTITION BY\b", text, re.I):
        return ""
    return "\nPARTITION BY toYYYYMM(time)"


def _with_ttl(name: str, body: str, layout: ClusterLayout) -> str:
    months = (
        layout.events_ttl_months
        if name in RAW_TABLES
        else layout.facts_ttl_months
        if name in FACT_TABLES
        else 0
    )
    if months <= 0:
        return body
    ttl = f"TTL toDateTime(time) + INTERVAL {months} MONTH DELETE\n"
    settings = re.search(r"^SETTINGS\b", body, re.MULTILINE)
    if settings is None:
        return body + "\n" + ttl.rstrip()
    return body[: settings.start()] + ttl + body[settings.start() :]


def _materialized_view(name: str, target: str, text: str, layout: ClusterLayout) -> str:
    head = f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} {layout.on_cluster} TO {target}"
    rest = text[_CREATE_MV.match(text).end() - 3 :]  # type: ignore[union-attr]  # " AS…"
    # Each shard's view reads the rows inserted there and writes its own shard's table.
    rest = _SOURCE.sub(lambda m: _local_source(m, layout), rest)
    return head + LOCAL_SUFFIX + rest


def _local_source(match: re.Match[str], layout: ClusterLayout) -> str:
    table = match[1]
    local = table in SHARDING_KEYS or table in SHARD_ONLY_TABLES
    return f"FROM {table}{LOCAL_SUFFIX}" if local else match[0]


def render_all(
    migrations: Iterable[Migration], layout: ClusterLayout
) -> list[tuple[Migration, tuple[str, ...]]]:
    """Each migration with its cluster statements (refuses what cannot be rendered)."""
    return [(migration, render_migration(migration, layout)) for migration in migrations]


def printable(rendered: Sequence[tuple[Migration, tuple[str, ...]]], layout: ClusterLayout) -> str:
    """The whole cluster DDL as one SQL script (`qms migrate --print --cluster NAME`)."""
    lines = [
        f"-- QMS Trail metrics schema for cluster {layout.cluster!r}",
        database_ddl(layout) + ";",
    ]
    for migration, statements in rendered:
        lines.append(f"\n-- {migration.version:04d}_{migration.name}")
        lines.extend(f"{statement};" for statement in statements)
    return "\n".join(lines) + "\n"
