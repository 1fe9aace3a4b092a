"""Check the summed dossier counts against the marks, and count a month again from them.

`dossier_mark_counts` (migration 0019) counts a mark once, when an insert first stores it;
`dossier_marks_final` deduplicates the marks at read time. They agree unless an insert was
cut between its parts (a crash of the server inside one insert: the index part stored, the
counts part not) or two writers inserted one dossier's facts at once (docs/metrics.md,
"Dossier counts while inserts arrive"). The check names the months where they differ; a
recount replaces such a month's sums by a count of its marks. Both read and write while no
worker inserts (with the embedded engine the worker is stopped anyway: one process per
data path).
"""

from __future__ import annotations

from datetime import date

from services.metrics.adapters.clickhouse import ClickHouseStore

_BY_DAY = "agency, procedure, measure, day"
MONTHS_APART = f"""
    SELECT toStartOfMonth(day) AS month, count() AS groups_apart
    FROM
    (
        SELECT {_BY_DAY}, toInt64(count()) AS marks FROM dossier_marks_final GROUP BY {_BY_DAY}
    ) AS m
    FULL OUTER JOIN
    (
        SELECT {_BY_DAY}, sum(marks) AS marks FROM dossier_mark_counts GROUP BY {_BY_DAY}
    ) AS c USING (agency, procedure, measure, day)
    WHERE m.marks != c.marks
    GROUP BY month
    ORDER BY month
"""


def months_apart(store: ClickHouseStore) -> list[tuple[date, int]]:
    """The months whose sums differ from a count of their marks, with how many (agency,
    procedure, measure, day) groups differ in each."""
    return [(month, int(groups)) for month, groups in store.query(MONTHS_APART)]


def recount_month(store: ClickHouseStore, month: date) -> None:
    """Replace one month's sums by a count of its marks (no worker inserting meanwhile)."""
    partition = month.year * 100 + month.month
    if store.cluster is not None:
        on = store.cluster.on_cluster
        store.command(f"ALTER TABLE dossier_mark_counts_local {on} DROP PARTITION {partition}")
    else:
        store.command(f"ALTER TABLE dossier_mark_counts DROP PARTITION {partition}")
    store.command(
        f"INSERT INTO dossier_mark_counts ({_BY_DAY}, marks) "
        f"SELECT {_BY_DAY}, toInt64(count()) FROM dossier_marks_final "
        f"WHERE toYYYYMM(day) = {partition} GROUP BY {_BY_DAY}"
    )
