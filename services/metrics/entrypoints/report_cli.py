"""Gather the report's figures through the read API (over HTTP, or in-process) and write it."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from schemas.base import AgencyCode
from services.common.settings import REPO_ROOT
from services.metrics.config import MetricsSettings
from services.metrics.domain.kpi_catalogue import AS_OF, KNOWLEDGE_VARIANTS
from services.metrics.domain.periods import DayRange, PeriodError, period_range
from services.metrics.domain.report_html import ReportData, render_report
from services.metrics.domain.rows.values import REPORTING_TZ

REPORTS_DIR = REPO_ROOT / "reports"
_AGENCY_CODE: TypeAdapter[str] = TypeAdapter(AgencyCode)


class ReportError(ValueError):
    """What stops a report, in one line: a bad agency or period, a refusal of the API."""


def checked_agency(agency: str) -> str:
    """The agency as the contracts define a code; it names a file and a query."""
    try:
        return _AGENCY_CODE.validate_python(agency)
    except ValidationError as exc:
        raise ReportError(
            f"--agency: {agency!r} is not an agency code (upper case letters, digits, '.', "
            "'_' and '-', e.g. H56.01)"
        ) from exc


def report_path(agency: str, period: str, output: Path | None) -> Path:
    """Where the report goes: `output`, or reports/management-review-AGENCY-PERIOD.html.

    The agency and the period are checked first: both name the default file, which must
    resolve inside the reports folder.
    """
    agency = checked_agency(agency)
    try:
        period_range(period)
    except PeriodError as exc:
        raise ReportError(f"--{exc}") from exc
    if output is not None:
        return output  # the operator's own choice of file
    folder = REPORTS_DIR.resolve()
    path = (folder / f"management-review-{agency}-{period}.html").resolve()
    if not path.is_relative_to(folder):
        raise ReportError(f"the report path {path} is outside {folder}")
    return path


def _one(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return rows[0] if rows else {}


def cut_off(days: DayRange, now: datetime) -> datetime:
    """The instant the report's figures at an instant are taken: the end of the period
    (its last local millisecond: periods are local calendar days), or `now` while the
    period is still running."""
    assert days.end is not None
    end = datetime.combine(days.end, time(), REPORTING_TZ) - timedelta(milliseconds=1)
    return min(end.astimezone(UTC), now)


def gather(
    client: httpx.Client, agency: str, period: str, now: datetime, known: str = AS_OF
) -> ReportData:
    """Every figure of the report, from the same endpoints integrators use.

    The dossiers in progress, the objectives and the CAPA figures are those at the period's
    cut-off (`now`, the business clock, while the period runs), as of it (only events dated
    by then) or, with `known="now"`, as known now (docs/kpis.md).
    """
    days = period_range(period)  # raises PeriodError for a bad period
    assert days.start is not None and days.end is not None
    at = cut_off(days, now)
    # Targets and evaluations in force at the cut-off; as known now, every one stored.
    as_of = {"at": at.isoformat()} if known == AS_OF else {}
    months = {
        "from": days.start.strftime("%Y-%m"),
        "to": (days.end - timedelta(days=1)).strftime("%Y-%m"),
        "agency": agency,
    }

    def rows(path: str, **params: Any) -> list[dict[str, Any]]:
        response = client.get(path, params=params)
        if response.is_error:
            raise ReportError(f"{path}: {response.status_code} {_detail(response)}")
        result: list[dict[str, Any]] = response.json()["rows"]
        return result

    client.get("/healthz").raise_for_status()
    return ReportData(
        agency=agency,
        period=period,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        dossiers_total=_one(rows("/v1/kpi/dossiers/by-agency", **months)),
        dossiers_by_month=rows("/v1/kpi/dossiers/by-agency-month", **months),
        in_progress=_one(
            rows("/v1/kpi/dossiers/in-progress", agency=agency, at=at.isoformat(), known=known)
        ),
        in_progress_at=at.astimezone(REPORTING_TZ).strftime("%Y-%m-%d %H:%M (UTC+07:00)"),
        known=known,
        objectives=rows("/v1/kpi/objectives", agency=agency, period=period, **as_of)
        + [
            o
            for o in rows("/v1/kpi/objectives", agency=agency, **as_of)
            if o["period"] != period and o["period"].startswith(period[:4])
        ],
        satisfaction_by_month=rows("/v1/kpi/satisfaction/by-agency-month", **months),
        satisfaction_total=_one(rows("/v1/kpi/satisfaction/by-agency", **months)),
        complaints_by_month=rows("/v1/kpi/complaints/by-agency-month", **months),
        complaints_total=_one(rows("/v1/kpi/complaints/by-agency", **months)),
        capa=_one(rows("/v1/kpi/capa/by-agency", agency=agency, at=at.isoformat(), known=known)),
        audits=_one(rows("/v1/kpi/audits/by-agency", **months)),
        score_by_month=rows("/v1/kpi/public-service-score/by-agency-month", **months),
        score_total=_one(
            rows("/v1/kpi/public-service-score/by-agency", agency=agency, period=period)
        ),
        timeliness_total=_one(rows("/v1/kpi/update-timeliness/by-agency", **months)),
        steps_by_unit=rows("/v1/kpi/steps/by-unit", **months),
        time_lost_by_unit=rows("/v1/kpi/time-lost/by-unit", **months),
        documents_total=_one(rows("/v1/kpi/documents/by-agency", **months)),
        processes_overdue=rows(
            "/v1/kpi/process-documents/overdue", agency=agency, at=at.isoformat(), known=known
        ),
        not_in_force=rows("/v1/kpi/procedures/not-in-force/by-agency-month", **months),
        statutory_due_by_month=rows("/v1/kpi/statutory-due/by-agency-month", **months),
        on_time_statutory_by_month=rows("/v1/kpi/on-time-statutory/by-agency-month", **months),
    )


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


def write_report(
    settings: MetricsSettings,
    agency: str,
    period: str,
    output: Path | None,
    url: str | None,
    token: str | None = None,
    known: str = AS_OF,
) -> Path:
    """Render the report to `output` (default reports/management-review-AGENCY-PERIOD.html).

    Reads as `token` (default: the read token setting, QMS_READ_TOKEN); `known` is the
    variant of the figures at the cut-off (`as_of` or `now`).
    """
    if known not in KNOWLEDGE_VARIANTS:
        raise ReportError(f"--known: {known!r} is not one of {', '.join(KNOWLEDGE_VARIANTS)}")
    path = report_path(agency, period, output)
    headers = {"Authorization": f"Bearer {token or settings.read_token}"}
    if url:
        with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
            data = gather(client, agency, period, settings.clock.now(), known)
    else:
        # No service running: open the store in this process behind the same API.
        with warnings.catch_warnings():  # starlette's notice about its own httpx use
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        from services.metrics.entrypoints.api import create_app

        with TestClient(create_app(settings, consume=False), headers=headers) as client:
            data = gather(client, agency, period, settings.clock.now(), known)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path
