"""Values as the ClickHouse columns hold them, refused (naming the field) when they cannot.

What the columns can hold (deploy/clickhouse/): `Date` counts days since 1970-01-01 in 16
bits, `DateTime64(3)` spans 1900-01-01 to 2299-12-31. A value outside would fail the
insert (or be stored wrapped), so the record is refused naming the field.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

# Vietnam has kept UTC+07:00 without daylight saving since 1975: days and months of the
# KPIs are local calendar days, as the provinces report them.
REPORTING_TZ = timezone(timedelta(hours=7), "ICT")

DATE_MIN, DATE_MAX = date(1970, 1, 1), date(2149, 6, 6)
INSTANT_MIN = datetime(1900, 1, 1, tzinfo=UTC)
INSTANT_MAX = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


class RecordRefused(ValueError):
    """The record cannot be stored; the message says which field and why."""


def _refuse_constant(name: str) -> float:
    raise RecordRefused(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise RecordRefused(f"{text} is out of range for a number")
    return number


# One decoder for every record: json.loads with hooks would build a new one per call.
_STRICT = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def strict_json(value: bytes) -> Any:
    """The record value as strict JSON: finite numbers only (no NaN, Infinity or 1e999)."""
    try:
        return _STRICT.decode(value.decode("utf-8"))
    except RecordRefused as exc:
        raise RecordRefused(f"{_non_finite_path(value)}: {exc}") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RecordRefused(f"value: not JSON ({exc})") from exc


def _non_finite_path(value: bytes) -> str:
    """The dotted path of the first non-finite number (only on the refusal path)."""

    def walk(node: Any, path: str) -> str | None:
        if isinstance(node, float) and not math.isfinite(node):
            return path or "value"
        items = node.items() if isinstance(node, dict) else enumerate(node or ())
        if isinstance(node, dict | list):
            for key, child in items:
                found = walk(child, f"{path}.{key}" if path else str(key))
                if found is not None:
                    return found
        return None

    try:
        return walk(json.loads(value), "") or "value"
    except (ValueError, RecursionError):
        return "value"


def utc(moment: datetime, name: str = "time") -> datetime:
    """`moment` in UTC, refused (naming the field) outside what `DateTime64(3)` holds."""
    try:
        instant = moment.astimezone(UTC)
    except OverflowError:  # beyond year 1 or 9999 once in UTC
        instant = None
    # Both sides in UTC: the comparison needs no offset arithmetic (this runs per field).
    if instant is None or not INSTANT_MIN <= instant <= INSTANT_MAX:
        raise RecordRefused(
            f"{name}: {moment.isoformat()} is outside what the store holds "
            f"({INSTANT_MIN:%Y-%m-%d} to {INSTANT_MAX:%Y-%m-%d})"
        )
    return instant


def local_day(moment: datetime, name: str = "time") -> date:
    """The reporting calendar day (UTC+07:00) an instant falls on, refused outside `Date`."""
    return local_day_of(utc(moment, name), moment, name)


def local_day_of(instant: datetime, moment: datetime, name: str) -> date:
    """`local_day` of an instant already checked by `utc` (`moment` as it came, for the reason)."""
    day = instant.astimezone(REPORTING_TZ).date()
    if not DATE_MIN <= day <= DATE_MAX:
        raise RecordRefused(
            f"{name}: {moment.isoformat()} falls on {day.isoformat()}, outside the days the "
            f"store holds ({DATE_MIN.isoformat()} to {DATE_MAX.isoformat()})"
        )
    return day


def stored_date(day: date, name: str) -> date:
    """`day`, refused (naming the field) outside what a ClickHouse `Date` holds."""
    if not DATE_MIN <= day <= DATE_MAX:
        raise RecordRefused(
            f"{name}: {day.isoformat()} is outside what the store holds "
            f"({DATE_MIN.isoformat()} to {DATE_MAX.isoformat()})"
        )
    return day


def unsigned(value: int, bits: int, name: str) -> int:
    """`value`, refused (naming the field) outside an unsigned integer of `bits` bits."""
    if not 0 <= value < 1 << bits:
        raise RecordRefused(f"{name}: {value} is outside 0 to {(1 << bits) - 1}")
    return value


def finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise RecordRefused(f"{name}: {value} is not a finite number")
    return value
