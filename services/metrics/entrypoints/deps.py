"""FastAPI dependencies shared by the read API's routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.domain.periods import DayRange, PeriodError, month_range


def get_store(request: Request) -> ClickHouseStore:
    store: ClickHouseStore = request.app.state.store
    return store


def month_bounds(
    from_: Annotated[str | None, Query(alias="from", description="First month, YYYY-MM")] = None,
    to: Annotated[str | None, Query(description="Last month (included), YYYY-MM")] = None,
) -> DayRange:
    try:
        return month_range(from_, to)
    except PeriodError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


Store = Annotated[ClickHouseStore, Depends(get_store)]
Months = Annotated[DayRange, Depends(month_bounds)]
AgencyFilter = Annotated[str | None, Query(description="Only this agency code")]
ProcedureFilter = Annotated[str | None, Query(description="Only this procedure code")]
