"""The effectiveness check's reads: due CAPAs and measured values, from ClickHouse."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.capa import NonconformitySource
from services.capa.domain.effectiveness import MeasurementWindow
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.domain.capa_kpis import AT_PARAMETER, MEASURE_SQL, effectiveness_due_sql
from services.metrics.service_layer.effectiveness import DueMeasurement, EffectivenessPolicy

_DUE_SQL = effectiveness_due_sql(AT_PARAMETER, "{wait_hours:UInt32}")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ClickHouseEffectivenessReader:
    """`EffectivenessReader` over the CAPA board and the fact tables."""

    def __init__(self, store: ClickHouseStore) -> None:
        self.store = store

    async def due(self, at: datetime, policy: EffectivenessPolicy) -> list[DueMeasurement]:
        wait_hours = policy.window_days * 24 + policy.grace_hours
        rows = await self.store.aquery_dicts(_DUE_SQL, {"at": at, "wait_hours": wait_hours})
        return [
            DueMeasurement(
                capa_id=r["capa"],
                source=NonconformitySource(r["nc_source"]),
                agency=r["agency"],
                procedure=r["procedure"],
                window_start=_utc(r["window_start"]),
            )
            for r in rows
        ]

    async def measured(self, measure: str, due: DueMeasurement, window: MeasurementWindow) -> int:
        params = {
            "agency": due.agency,
            "procedure": due.procedure,
            "start": window.start,
            "end": window.end,
        }
        (row,) = await self.store.aquery_dicts(MEASURE_SQL[measure], params)
        return int(row["value"])
