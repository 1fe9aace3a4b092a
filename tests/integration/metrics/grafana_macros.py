"""Expand Grafana template variables and the ClickHouse plugin's (v4) macros, as Grafana
and grafana-clickhouse-datasource do before a panel's SQL reaches ClickHouse."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

ALL = None  # a variable set to "All"


def _balanced_call(sql: str, name: str, expand: Callable[[list[str]], str]) -> str:
    """Replace every `name(args…)` (balanced parentheses, quotes respected)."""
    out: list[str] = []
    i = 0
    pattern = re.compile(re.escape(name) + r"\(")
    while (m := pattern.search(sql, i)) is not None:
        out.append(sql[i : m.start()])
        depth, j, quote = 1, m.end(), ""
        args: list[str] = []
        start = j
        while depth:
            ch = sql[j]
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "," and depth == 1:
                args.append(sql[start:j].strip())
                start = j + 1
            j += 1
        args.append(sql[start : j - 1].strip())
        out.append(expand(args))
        i = j
    out.append(sql[i:])
    return "".join(out)


def expand(
    sql: str,
    *,
    start: datetime,
    end: datetime,
    variables: Mapping[str, Sequence[str] | None],
    interval_s: int = 86_400,
) -> str:
    def conditional_all(args: list[str]) -> str:
        # $__conditionalAll(condition, $var): the condition only when not "All".
        condition, var = ",".join(args[:-1]), args[-1].lstrip("$").strip("{}")
        return "1=1" if variables.get(var) is ALL else condition

    sql = _balanced_call(sql, "$__conditionalAll", conditional_all)

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        fmt = match.group(2)
        values = variables.get(name)
        if values is None:
            raise AssertionError(f"${name} (All) used outside $__conditionalAll")
        if fmt == "singlequote" or fmt is None:
            return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
        raise AssertionError(f"unsupported variable format {fmt}")

    sql = re.sub(r"\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)", value, sql)
    from_s, to_s = int(start.timestamp()), int(end.timestamp())
    from_d, to_d = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    sql = _balanced_call(
        sql,
        "$__timeFilter_ms",
        lambda a: (
            f"{a[0]} >= fromUnixTimestamp64Milli({from_s * 1000}) AND "
            f"{a[0]} <= fromUnixTimestamp64Milli({to_s * 1000})"
        ),
    )
    sql = _balanced_call(
        sql,
        "$__timeFilter",
        lambda a: f"{a[0]} >= toDateTime({from_s}) AND {a[0]} <= toDateTime({to_s})",
    )
    sql = _balanced_call(
        sql,
        "$__dateFilter",
        lambda a: f"{a[0]} >= toDate('{from_d}') AND {a[0]} <= toDate('{to_d}')",
    )
    sql = _balanced_call(
        sql,
        "$__timeInterval",
        lambda a: f"toStartOfInterval(toDateTime({a[0]}), INTERVAL {interval_s} second)",
    )
    sql = sql.replace("$__fromTime", f"toDateTime({from_s})")
    sql = sql.replace("$__toTime", f"toDateTime({to_s})")
    sql = sql.replace("$__interval_s", str(interval_s))
    if "$" in sql:
        raise AssertionError(f"unexpanded macro or variable in: {sql}")
    return sql
