"""FastAPI dependencies shared by the read API's routers: the store, the caller, parameters.

Every route that returns agency data takes `Visible` (or `Reader`): the caller's bearer
token from the platform's user directory (services.common.users), and the agencies the
answer may contain. An explicit `agency=` outside the caller's scope is 404, the same
answer as an agency with no data, so nothing tells an outsider which agencies exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from schemas.base import AgencyCode, ProcedureCode
from services.common.credentials import AgencyScope
from services.common.problems import MISSING_TOKEN, ProblemError, openapi_problem, unauthenticated
from services.common.settings import CommonSettings
from services.common.users import PlatformUser, UserDirectory
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.domain.kpi_catalogue import EventsKnown
from services.metrics.domain.periods import (
    FIRST_YEAR,
    LAST_YEAR,
    MONTH_PATTERN,
    PERIOD_PATTERN,
    DayRange,
    PeriodError,
    month_range,
    parse_instant,
    period_range,
)

REALM = "qms-metrics"
bearer = HTTPBearer(
    auto_error=False,
    description="A platform user's token (QMS_USERS_FILE); a scope of `*` reads every agency.",
)


def get_store(request: Request) -> ClickHouseStore:
    store: ClickHouseStore = request.app.state.store
    return store


def get_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> PlatformUser:
    """The authenticated platform user, or 401 with WWW-Authenticate."""
    users: UserDirectory = request.app.state.users
    if credentials is None or not credentials.credentials:
        raise unauthenticated(REALM, MISSING_TOKEN)
    user = users.authenticate(credentials.credentials)
    if user is None:
        raise unauthenticated(
            REALM, "the bearer token is not valid for any user", invalid_token=True
        )
    return user


Reader = Annotated[PlatformUser, Depends(get_reader)]

# The refusals of every route that reads agency data, as the OpenAPI document states them.
READ_RESPONSES: dict[int | str, dict[str, object]] = {
    401: openapi_problem("Missing or unknown bearer token."),
    404: openapi_problem("An agency outside the caller's scope (or a national-only route)."),
    422: openapi_problem("A parameter that cannot be read; `errors` names it and says why."),
}
YEARS = f"years {FIRST_YEAR}–{LAST_YEAR}"


def not_found(detail: str) -> ProblemError:
    return ProblemError(404, "not-found", detail)


def parameter_problem(exc: PeriodError) -> ProblemError:
    """A 422 naming the query parameter, in the shape of FastAPI's own validation errors."""
    return ProblemError(
        422,
        "invalid-request",
        str(exc),
        [{"field": f"query.{exc.field}", "reason": exc.reason}],
        title="Invalid request",
    )


@dataclass(frozen=True)
class Visibility:
    """What a request may see: the caller's scope, narrowed by an explicit `agency=`."""

    scope: AgencyScope
    agency: str | None


def visibility(
    reader: Reader,
    agency: Annotated[AgencyCode | None, Query(description="Only this agency code")] = None,
) -> Visibility:
    if agency is not None and not reader.scope.covers(agency):
        raise not_found(f"no data for agency {agency!r}")
    return Visibility(reader.scope, agency)


# Patterns are documented, not enforced by FastAPI: the checks below give the reasons.
_MONTH = {"pattern": MONTH_PATTERN}
_PERIOD = {"pattern": PERIOD_PATTERN}


def month_bounds(
    from_: Annotated[
        str | None,
        Query(
            alias="from", description=f"First month, YYYY-MM ({YEARS})", json_schema_extra=_MONTH
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(description=f"Last month (included), YYYY-MM ({YEARS})", json_schema_extra=_MONTH),
    ] = None,
) -> DayRange:
    try:
        return month_range(from_, to)
    except PeriodError as exc:
        raise parameter_problem(exc) from exc


def period_filter(
    period: Annotated[
        str | None,
        Query(description=f"YYYY, YYYY-Qn or YYYY-MM ({YEARS})", json_schema_extra=_PERIOD),
    ] = None,
) -> str | None:
    """An optional period, checked like every other period (format and years)."""
    if period is not None:
        try:
            period_range(period)
        except PeriodError as exc:
            raise parameter_problem(exc) from exc
    return period


def checked_period(period: str) -> DayRange:
    """The days of a required `period` parameter, or its 422."""
    try:
        return period_range(period)
    except PeriodError as exc:
        raise parameter_problem(exc) from exc


def instant(
    at: Annotated[
        str | None,
        Query(
            description=f"Instant (RFC 3339, with a time zone, in the {YEARS} in UTC too); "
            "default now",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
) -> datetime | None:
    try:
        return None if at is None else parse_instant(at, "at")
    except PeriodError as exc:
        raise parameter_problem(exc) from exc


def business_now(request: Request) -> datetime:
    """The service's business clock (QMS_NOW, services.common.clock): the default instant."""
    settings: CommonSettings = request.app.state.settings
    return settings.clock.now()


Store = Annotated[ClickHouseStore, Depends(get_store)]
Now = Annotated[datetime, Depends(business_now)]
Visible = Annotated[Visibility, Depends(visibility)]
Months = Annotated[DayRange, Depends(month_bounds)]
Period = Annotated[str | None, Depends(period_filter)]
Instant = Annotated[datetime | None, Depends(instant)]
# docs/kpis.md, "As of T": `as_of` counts only the events dated at or before the instant
# (or the end of the range); `now` counts every stored event, also those dated after it.
Knowledge = Annotated[
    EventsKnown,
    Query(
        description="`as_of` (default): only events whose `time` is at or before the instant "
        "(`at`, or the end of the range) count, so the figure never moves; `now`: as known "
        "now, every stored event counts, also those dated after it (docs/kpis.md)"
    ),
]
RequiredPeriod = Annotated[
    str, Query(description=f"YYYY, YYYY-Qn or YYYY-MM ({YEARS})", json_schema_extra=_PERIOD)
]
ProcedureFilter = Annotated[ProcedureCode | None, Query(description="Only this procedure code")]
