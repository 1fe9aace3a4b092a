"""Ordered, idempotent ClickHouse migrations from `deploy/clickhouse/NNNN_name.sql`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from services.common.shipped import shipped_file

MIGRATIONS_DIR = shipped_file("clickhouse")
SCHEMA_SNAPSHOT = "schema.sql"  # the generated live schema beside them, not a migration
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file in version order; refuses gaps, duplicates and odd names."""
    migrations: list[Migration] = []
    for path in sorted(p for p in directory.glob("*.sql") if p.name != SCHEMA_SNAPSHOT):
        match = _FILE.match(path.name)
        if match is None:
            raise ValueError(f"{path.name}: migration files are named NNNN_snake_case.sql")
        statements = split_statements(path.read_text(encoding="utf-8"))
        if not statements:
            raise ValueError(f"{path.name}: no statement")
        migrations.append(Migration(int(match[1]), match[2], tuple(statements)))
    if not migrations:
        # An image built without its migrations must not report "up to date".
        raise ValueError(f"no migration files (NNNN_name.sql) in {directory}")
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must run 1, 2, 3… without gaps: {versions}")
    return migrations


def split_statements(sql: str) -> list[str]:
    """Statements of a file: `--` comment lines dropped, split on `;` at the end of a line."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    text = "\n".join(lines)
    parts = re.split(r";\s*$", text, flags=re.MULTILINE)
    return [part.strip() for part in parts if part.strip()]
