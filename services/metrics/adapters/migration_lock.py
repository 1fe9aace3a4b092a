"""One migrator at a time: a lock row in ClickHouse with a holder and an expiry.

ClickHouse has no compare-and-set, so the lock is a replacing table keyed by the lock's
name whose newest row (by `taken_at`) is the current holder: a taker writes its row, then
reads the table back and holds the lock only if its own row won. Two takers racing see
the same winner. A holder that dies leaves a row that expires (`expires_at`), so a crashed
migration Job does not block the next one for ever. `ON CLUSTER` DDL is serialised by the
cluster's own DDL queue besides; the lock keeps two Jobs from interleaving whole migrations.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

LOCK_TABLE = "schema_migration_lock"
LOCK_COLUMNS = (
    "name String, holder String, expires_at DateTime64(3, 'UTC'), taken_at DateTime64(3, 'UTC')"
)
_LOCK_NAME = "migrate"


class MigrationLocked(RuntimeError):
    """Another migrator holds the lock."""


class _Store(Protocol):
    def command(self, sql: str, parameters: Any = None) -> Any: ...
    def query(self, sql: str, parameters: Any = None) -> list[tuple[Any, ...]]: ...


def default_holder() -> str:
    """Who is migrating, as an operator reads it: host, process, and a unique suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _current(store: _Store) -> tuple[str, bool] | None:
    rows = store.query(
        f"SELECT holder, expires_at > now64(3) FROM {LOCK_TABLE} FINAL "
        "WHERE name = {name:String}",
        {"name": _LOCK_NAME},
    )
    return (str(rows[0][0]), bool(rows[0][1])) if rows else None


def _write(store: _Store, holder: str, seconds: float) -> None:
    # taken_at in the row: every write is a new block (a replicated table would otherwise
    # drop a release identical to an earlier one as a duplicate insert).
    store.command(
        f"INSERT INTO {LOCK_TABLE} (name, holder, expires_at, taken_at) "
        "SELECT {name:String}, {holder:String}, "
        "now64(3) + toIntervalMillisecond({ms:Int64}), now64(3)",
        {"name": _LOCK_NAME, "holder": holder, "ms": int(seconds * 1000)},
    )


@contextmanager
def migration_lock(store: _Store, holder: str, ttl_s: float = 900.0) -> Iterator[None]:
    """Hold the migration lock (the table exists) for the block, or raise MigrationLocked."""
    current = _current(store)
    if current is not None and current[1] and current[0] != holder:
        raise MigrationLocked(f"migrations are being applied by {current[0]} (lock {LOCK_TABLE})")
    _write(store, holder, ttl_s)
    winner = _current(store)
    if winner is None or winner[0] != holder:
        raise MigrationLocked(
            f"migrations are being applied by {winner[0] if winner else 'another migrator'}"
        )
    try:
        yield
    finally:
        _write(store, holder, -1.0)  # released: expired at once
