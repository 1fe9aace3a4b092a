"""On a demo province, every KPI the metrics service serves equals the generator's truth.

The province (fixed seed and clock) goes to the real broker twice: once in global time
order, as intake appends it, then every event again in a random order across AND within
aggregates. Kafka keeps per-key order, so a shuffled second delivery is harder than any
real redelivery (a publisher retrying, a replay): a consumer that took arrival order for
event order would count wrongly here. The metrics consumer runs until its group has
committed every record (so each duplicate went through ClickHouse), and then each KPI
of the read API and of the views is compared with `ground_truth(events).kpis`, a plain
fold over the events written from docs/kpis.md, not from the SQL.

The second test kills the worker (SIGKILL) between an insert and its offset commit,
restarts it, and asks the same questions over its HTTP API.

The timeliness of updates is compared with its own fold (`fold_update_timeliness`): the
events reach Kafka here without intake's receipt, so every lag is from the `recordedtime`
the demo's one-stop-shop stamped.

Not compared: the CAPA KPIs (they need the CAPA service's events; the demo only states
how many CAPAs its policies should open) — see docs/kpis.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.topics import ensure_topics, load_topic_specs
from services.demo.domain.calendar import VN_TZ
from services.demo.domain.province import Province, generate_province
from services.demo.domain.register import EXTENDED_DUE_DOSSIERS
from services.demo.domain.timeliness_truth import TimelinessTruth, fold_update_timeliness
from services.demo.domain.truth import GroundTruth, ground_truth, public_service_score
from services.metrics.adapters.clickhouse import ClickHouseStore
from services.metrics.config import MetricsSettings
from services.metrics.domain.kpi_catalogue import UPDATE_TIMELINESS_COLUMNS, dossier_count_names
from services.metrics.domain.measured_nonconformities import (
    MEASURED_NONCONFORMITIES,
    PROCESS_NOT_REVISED,
)
from services.metrics.service_layer.nonconformity_check import NonconformityChecker
from tests.integration.metrics.conftest import (
    NATIONAL_READER,
    committed_and_end,
    produce,
    running_service,
    start_worker,
    wait_until_drained,
    worker_env,
)
from tests.support import HoldingProxy, ThrowawayBroker, free_port
from tests.unit.metrics.test_nonconformity_check import FakeTopic, capas

pytestmark = pytest.mark.integration
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=VN_TZ)
SEED = 4  # a draw with complaints (some substantiated), a major finding, external audits
# Every dossier count of the catalogue: a new measure is compared with the truth too.
DOSSIER_FIELDS = dossier_count_names()
AUDIT_FIELDS = (
    "internal_audits",
    "external_audits",
    "inspections",
    "onsite_inspections",
    "findings",
    "major_findings",
    "minor_findings",
)
DOCUMENT_FIELDS = ("issued", "checked", "conforming", "nonconforming")
MONTHS = ("2026-03", "2026-04", "2026-05", "2026-06")
# Month ranges asked of every period-filtered route: all time, each month, and a range
# (a range must count a dossier once even when it is in several of its months).
RANGES: tuple[tuple[str, str] | None, ...] = (
    None,
    *((m, m) for m in MONTHS),
    ("2026-03", "2026-04"),
    ("2026-04", "2026-06"),
)


@pytest.fixture(scope="module")
def province() -> Province:
    return generate_province(SEED, agencies=30, dossiers=1500, months=3, now=NOW)


@pytest.fixture(scope="module")
def truth(province: Province) -> GroundTruth:
    return ground_truth(province.events)


@pytest.fixture(scope="module")
def timeliness(province: Province) -> TimelinessTruth:
    return fold_update_timeliness(province.events)


async def deliver_twice(bootstrap: str, prefix: str, province: Province) -> None:
    """In order, then all again shuffled across and within aggregates."""
    await produce(bootstrap, prefix, province.events)
    shuffled = list(province.events)
    random.Random(SEED).shuffle(shuffled)
    await produce(bootstrap, prefix, shuffled)


# --- comparisons ------------------------------------------------------------------------
def _params(months: tuple[str, str] | None) -> dict[str, str]:
    return {} if months is None else {"from": months[0], "to": months[1]}


def _nonzero(rows: Mapping[Any, Mapping[str, Any]]) -> dict[Any, dict[str, Any]]:
    # An agency-month with only step transfers is a row of zeros in the API and no row in
    # the truth; anything counted must be on both sides.
    return {k: dict(v) for k, v in rows.items() if any(v.values())}


async def _get(api: httpx.AsyncClient, path: str, **params: str) -> Any:
    return (await api.get(path, params=params)).raise_for_status().json()


async def assert_dossier_kpis(api: httpx.AsyncClient, truth: GroundTruth) -> None:
    routes = {
        ("agency",): "by-agency",
        ("agency", "month"): "by-agency-month",
        ("agency", "procedure"): "by-procedure",
    }
    for group, route in routes.items():
        for months in RANGES:
            body = await _get(api, f"/v1/kpi/dossiers/{route}", **_params(months))
            got = _nonzero(
                {
                    tuple(r[g] for g in group): {f: r[f] for f in DOSSIER_FIELDS}
                    for r in body["rows"]
                }
            )
            expected = _nonzero(truth.kpis.dossier_counts(group, months))
            assert got == expected, (route, months)
    # The online share is a ratio of two compared counts; check it once as the API's users do.
    rows = (await _get(api, "/v1/kpi/dossiers/by-agency"))["rows"]
    assert sum(r["received_online"] for r in rows) == truth.totals["dossiers_received_online"]


async def assert_in_progress(api: httpx.AsyncClient, truth: GroundTruth) -> None:
    assert truth.kpis.latest_time is not None
    for at in (datetime(2026, 4, 15, 12, tzinfo=VN_TZ), truth.kpis.latest_time):
        for known in ("as_of", "now"):
            body = await _get(
                api, "/v1/kpi/dossiers/in-progress", at=at.astimezone(UTC).isoformat(), known=known
            )
            got = {r.pop("agency"): r for r in body["rows"]}
            assert got == truth.kpis.dossiers_open_at(at, known == "now"), (at, known)


async def assert_complaint_and_satisfaction_kpis(
    api: httpx.AsyncClient, truth: GroundTruth
) -> None:
    for group, suffix in ((("agency",), "by-agency"), (("agency", "month"), "by-agency-month")):
        for months in RANGES:
            rows = (await _get(api, f"/v1/kpi/complaints/{suffix}", **_params(months)))["rows"]
            dossiers = truth.kpis.dossier_counts(group, months)
            expected = truth.kpis.complaint_counts(group, months)
            got = {tuple(r[g] for g in group): r for r in rows}
            assert set(got) == set(expected), (suffix, months)
            for key, exp in expected.items():
                row = got[key]
                assert (row["filed"], row["resolved"], row["substantiated"]) == (
                    exp["filed"],
                    exp["resolved"],
                    exp["substantiated"],
                ), key
                assert row["avg_resolution_days"] == pytest.approx(
                    exp["avg_resolution_days"], abs=1e-3
                )
                received = dossiers.get(key, {}).get("received", 0)
                assert (row["dossiers_received"] or 0) == received
                assert row["per_1000_dossiers"] == (
                    pytest.approx(1000 * exp["filed"] / received, abs=1e-3) if received else None
                )

            rows = (await _get(api, f"/v1/kpi/satisfaction/{suffix}", **_params(months)))["rows"]
            got = {tuple(r[g] for g in group): r for r in rows}
            expected_s = truth.kpis.satisfaction_counts(group, months)
            assert set(got) == set(expected_s), (suffix, months)
            for key, exp in expected_s.items():
                row = got[key]
                assert (row["ratings"], row["satisfied"]) == (exp["ratings"], exp["satisfied"])
                assert row["satisfaction_rate"] == pytest.approx(
                    100 * exp["satisfied"] / exp["ratings"], abs=1e-3
                )
                assert row["avg_score"] == pytest.approx(
                    exp["score_sum"] / exp["ratings"], abs=1e-3
                )
    totals = truth.totals
    all_time = (await _get(api, "/v1/kpi/complaints/by-agency"))["rows"]
    assert sum(r["substantiated"] for r in all_time) == totals["complaints_substantiated"] > 0
    ratings = (await _get(api, "/v1/kpi/satisfaction/by-agency"))["rows"]
    assert sum(r["satisfied"] for r in ratings) == totals["ratings_satisfied"]


async def assert_audit_kpis(api: httpx.AsyncClient, truth: GroundTruth) -> None:
    for months in RANGES:
        rows = (await _get(api, "/v1/kpi/audits/by-agency", **_params(months)))["rows"]
        got = _nonzero({r["agency"]: {f: r[f] for f in AUDIT_FIELDS} for r in rows})
        expected = {
            agency: {f: counts.get(f, 0) for f in AUDIT_FIELDS}
            for agency, counts in truth.kpis.audit_counts(months).items()
        }
        assert got == _nonzero(expected), months

        coverage = await _get(api, "/v1/kpi/audits/coverage", **_params(months))
        exp = truth.kpis.audit_coverage(months)
        assert {k: coverage[k] for k in exp} == exp, months
        assert coverage["internal_audit_coverage_pct"] == (
            pytest.approx(100 * exp["internally_audited"] / exp["agencies"])
        )
        if exp["inspections"]:
            share = 100 * exp["onsite_inspections"] / exp["inspections"]
            assert coverage["onsite_inspection_pct"] == pytest.approx(share)
            assert coverage["meets_onsite_minimum"] is (share >= 30.0)
        else:
            assert coverage["onsite_inspection_pct"] is None
    rows = (await _get(api, "/v1/kpi/audits/by-agency"))["rows"]
    findings = truth.kpis.findings_by_classification()
    assert findings == truth.findings  # the demo's own fold agrees with the trail fold
    assert sum(r["findings"] for r in rows) == sum(findings.values())
    assert sum(r["major_findings"] for r in rows) == findings["major"] > 0
    assert sum(r["minor_findings"] for r in rows) == findings["minor"]
    assert (
        sum(r["inspections"] + r["internal_audits"] + r["external_audits"] for r in rows)
        == truth.totals["audits_conducted"]
    )


async def assert_objective_kpis(api: httpx.AsyncClient, truth: GroundTruth) -> None:
    rows = (await _get(api, "/v1/kpi/objectives/evaluations"))["rows"]
    evaluations = truth.kpis.objective_evaluations
    assert {(r["objective"], r["period"]) for r in rows} == set(evaluations)
    for row in rows:
        exp = evaluations[row["objective"], row["period"]]
        assert (row["agency"], row["indicator"], row["target"]) == (
            exp.agency,
            exp.indicator,
            exp.target,
        )
        assert (row["reported_actual"], row["reported_met"]) == (exp.actual, exp.met)
        measured = truth.kpis.measured(exp.agency, exp.indicator, exp.period)
        assert measured is not None
        assert row["measured_actual"] == pytest.approx(measured, abs=1e-3)
        assert row["measured_met"] is (measured >= exp.target)
    met = sum(1 for r in rows if r["reported_met"])
    assert (met, len(rows) - met) == (
        truth.kpis.objectives_met()["met"],
        truth.totals["objectives_missed"],
    )
    assert sum(1 for r in rows if not r["measured_met"]) == truth.totals["objectives_missed"]

    state = (await _get(api, "/v1/kpi/objectives"))["rows"]
    assert len(state) == truth.totals["objectives_set"] == len(truth.kpis.objectives_set)
    for row in state:
        _, target, comparison = truth.kpis.objectives_set[row["objective"]]
        assert (row["target"], row["comparison"]) == (target, comparison)


def _score_close(got: Mapping[str, Any], expected: Mapping[str, float | None]) -> None:
    for name, value in expected.items():
        if value is None:
            assert got[name] is None, name
        else:
            assert got[name] == pytest.approx(value, abs=1e-3), name


async def assert_score_kpis(api: httpx.AsyncClient, truth: GroundTruth) -> None:
    dossiers = truth.kpis.dossier_counts(("agency", "month"))
    ratings = truth.kpis.satisfaction_counts(("agency", "month"))
    rows = (await _get(api, "/v1/kpi/public-service-score/by-agency-month"))["rows"]
    got = {(r["agency"], r["month"]): r for r in rows if r["month"] in MONTHS}
    assert set(_nonzero(dossiers)) <= set(got)
    for key, counts in _nonzero(dossiers).items():
        r = ratings.get(key, {})
        _score_close(
            got[key],
            public_service_score(counts, int(r.get("ratings", 0)), int(r.get("satisfied", 0))),
        )
    for period in ("2026-04", "2026-Q2"):
        months = ("2026-04", "2026-06") if period == "2026-Q2" else (period, period)
        d = truth.kpis.dossier_counts(("agency",), months)
        s = truth.kpis.satisfaction_counts(("agency",), months)
        rows = (await _get(api, "/v1/kpi/public-service-score/by-agency", period=period))["rows"]
        scored = {r["agency"]: r for r in rows}
        for (agency,), counts in _nonzero(d).items():
            r = s.get((agency,), {})
            _score_close(
                scored[agency],
                public_service_score(counts, int(r.get("ratings", 0)), int(r.get("satisfied", 0))),
            )


async def assert_document_kpis(api: httpx.AsyncClient, truth: GroundTruth) -> None:
    docs = truth.documents
    for group, suffix in ((("agency",), "by-agency"), (("agency", "month"), "by-agency-month")):
        for months in RANGES:
            rows = (await _get(api, f"/v1/kpi/documents/{suffix}", **_params(months)))["rows"]
            got = {tuple(r[g] for g in group): {f: r[f] for f in DOCUMENT_FIELDS} for r in rows}
            assert got == docs.document_counts(group, months), (suffix, months)
            for row in rows:
                share = 100 * row["conforming"] / row["checked"] if row["checked"] else None
                assert row["conforming_share"] == (share and pytest.approx(share, abs=1e-3))
    counts = docs.document_counts(("agency",))
    assert sum(c["nonconforming"] for c in counts.values()) > 0
    assert truth.kpis.latest_time is not None
    for at in (datetime(2026, 4, 1, 12, tzinfo=VN_TZ), truth.kpis.latest_time):
        for known in ("as_of", "now"):
            body = await _get(
                api,
                "/v1/kpi/process-documents/overdue",
                at=at.astimezone(UTC).isoformat(),
                known=known,
            )
            assert body["rows"] == docs.processes_overdue(at, known == "now"), (at, known)
    # Document control's amended procedure: one agency revised in time, one did not; a
    # process document of the procedure the register amends (a shorter statutory time) is
    # not revised either.
    overdue = docs.processes_overdue(truth.kpis.latest_time)
    assert len({row["procedure"] for row in overdue}) == len(overdue) == 2


async def assert_every_kpi(api: httpx.AsyncClient, truth: GroundTruth) -> None:
    """Each KPI the read API serves that the demo's truth defines, over several periods."""
    stats = await _get(api, "/v1/stats")
    assert stats["by_type"] == dict(truth.kpis.events_by_type)
    assert stats["events"] == stats["published_events"] == sum(truth.kpis.events_by_type.values())
    await assert_dossier_kpis(api, truth)
    await assert_in_progress(api, truth)
    await assert_complaint_and_satisfaction_kpis(api, truth)
    await assert_audit_kpis(api, truth)
    await assert_objective_kpis(api, truth)
    await assert_score_kpis(api, truth)
    await assert_document_kpis(api, truth)
    await assert_register_kpis(api, truth)
    # CAPA figures come from the CAPA service's events, of which the demo publishes none:
    # nothing may be invented here.
    assert (await _get(api, "/v1/kpi/capa/by-agency"))["rows"] == []


async def assert_register_kpis(api: httpx.AsyncClient, truth: GroundTruth) -> None:
    """Procedures not in force, extended due dates, on time against both due times."""
    register = truth.register
    assert register is not None
    rows = (await _get(api, "/v1/kpi/procedures/not-in-force/by-agency-month"))["rows"]
    got = {(r["agency"], r["month"], r["reason"]): r["dossiers"] for r in rows}
    assert got == dict(register.not_in_force_counts()) and got
    assert {reason for _, _, reason in got} == {"repealed"}
    rows = (await _get(api, "/v1/kpi/statutory-due/by-agency-month"))["rows"]
    assert {(r["agency"], r["month"]): r["dossiers"] for r in rows} == dict(register.statutory)
    extended = Counter((a, m) for a, _, m in register.extended.values())
    assert {(r["agency"], r["month"]): r["extended_due"] for r in rows if r["extended_due"]} == (
        dict(extended)
    )
    assert sum(extended.values()) == EXTENDED_DUE_DOSSIERS
    rows = (await _get(api, "/v1/kpi/on-time-statutory/by-agency-month"))["rows"]
    for column, expected in (
        ("resolved", register.resolved),
        ("on_time", register.on_time),
        ("on_time_statutory", register.on_time_statutory),
    ):
        got_column = {(r["agency"], r["month"]): r[column] for r in rows if r[column]}
        assert got_column == {k: v for k, v in expected.items() if v}, column


async def assert_measured_capas(store: ClickHouseStore, truth: GroundTruth) -> None:
    """The CAPAs the measured-nonconformity check opens, applied by the CAPA domain, are
    exactly the truth's groups, each dossier linked once."""
    assert truth.register is not None
    topic = FakeTopic()
    await NonconformityChecker(store, topic.send).check()
    await NonconformityChecker(store, topic.send).check()  # a second checker: no change
    opened = capas(topic.records)
    groups = truth.register.capa_groups()
    expected = {
        kind.capa_id(agency, procedure, month): dossiers
        for kind in MEASURED_NONCONFORMITIES
        if kind is not PROCESS_NOT_REVISED
        for (agency, procedure, month), dossiers in groups[kind.source.value].items()
    }
    # The view of ISO processes not revised reads the store's clock (now).
    for row in truth.documents.processes_overdue(datetime.now(UTC)):
        key = f"{row['document']}|{row['procedure']}|v{row['version']}"
        expected[PROCESS_NOT_REVISED.capa_id(row["agency"], key, row["month"])] = [key]
    assert {c: sorted(r.subject for r in s.references) for c, s in opened.items()} == expected
    assert len(opened) == (
        truth.expected_capas["from_procedures_not_in_force"]
        + truth.expected_capas["from_extended_due_dates"]
        + truth.expected_capas["from_processes_not_revised"]
    )


TIMELINESS_FIGURES = UPDATE_TIMELINESS_COLUMNS


def _timeliness_close(
    got: Mapping[tuple[str, ...], Mapping[str, Any]],
    expected: Mapping[tuple[str, ...], Mapping[str, Any]],
    where: Any,
) -> None:
    assert set(got) == set(expected), where
    for key, exp in expected.items():
        for name in TIMELINESS_FIGURES:
            value = exp[name]
            close = value if value is None else pytest.approx(value, abs=1e-3)
            assert got[key][name] == close, (where, key, name)


async def assert_timeliness_kpis(api: httpx.AsyncClient, timeliness: TimelinessTruth) -> None:
    """How late the demo's events were recorded: the originating system's `recordedtime`
    (the events reach Kafka here without intake's receipt), per agency and month and per
    agency over each range."""
    for group, suffix in ((("agency",), "by-agency"), (("agency", "month"), "by-agency-month")):
        for months in RANGES:
            rows = (await _get(api, f"/v1/kpi/update-timeliness/{suffix}", **_params(months)))[
                "rows"
            ]
            got = {tuple(r[g] for g in group): r for r in rows}
            _timeliness_close(got, timeliness.counts(group, months), (suffix, months))
    # The demo's late recordings are there to be seen: a few percent, most at one or two.
    late = [v for v in timeliness.counts(("agency",)).values() if v["late_update_share"] > 25]
    share = timeliness.late_share()
    assert share is not None and 1 < share < 10 and 1 <= len(late) <= 2


def assert_timeliness_view(store: ClickHouseStore, timeliness: TimelinessTruth) -> None:
    rows = store.query_dicts(
        f"SELECT agency, formatDateTime(month, '%Y-%m') AS month, {', '.join(TIMELINESS_FIGURES)} "
        "FROM kpi_update_timeliness_agency_month"
    )
    got: dict[tuple[str, ...], dict[str, Any]] = {(r["agency"], r["month"]): r for r in rows}
    _timeliness_close(got, timeliness.counts(("agency", "month")), "view")


def assert_views(store: ClickHouseStore, truth: GroundTruth) -> None:
    """The SQL views Grafana reads directly (beyond what the API routes already cover)."""
    rows = store.query_dicts(
        f"SELECT agency, formatDateTime(month, '%Y-%m') AS month, {', '.join(DOSSIER_FIELDS)} "
        "FROM kpi_dossiers_agency_month"
    )
    got = _nonzero({(r.pop("agency"), r.pop("month")): r for r in rows})
    assert got == _nonzero(truth.kpis.dossier_counts(("agency", "month")))
    rows = store.query_dicts(
        f"SELECT agency, formatDateTime(month, '%Y-%m') AS month, {', '.join(DOCUMENT_FIELDS)} "
        "FROM kpi_documents_agency_month"
    )
    documents = {(r.pop("agency"), r.pop("month")): r for r in rows}
    assert documents == truth.documents.document_counts(("agency", "month"))
    overdue = store.query_dicts(
        "SELECT document, procedure, version FROM kpi_process_revisions_overdue "
        "ORDER BY agency, document, procedure, version"
    )  # as of the server's clock, after the demo's
    expected = truth.documents.processes_overdue(datetime.now(UTC))
    assert overdue == [{k: r[k] for k in ("document", "procedure", "version")} for r in expected]
    by_class = dict(
        store.query("SELECT classification, count() FROM audit_findings GROUP BY classification")
    )
    assert {c: by_class.get(c, 0) for c in truth.findings} == truth.findings


# --- the tests --------------------------------------------------------------------------
async def test_every_kpi_equals_the_ground_truth_after_a_shuffled_second_delivery(
    metrics_settings: MetricsSettings,
    kafka_bootstrap: str,
    topic_prefix: str,
    province: Province,
    truth: GroundTruth,
    timeliness: TimelinessTruth,
) -> None:
    await deliver_twice(kafka_bootstrap, topic_prefix, province)
    async with running_service(metrics_settings) as api:
        await wait_until_drained(kafka_bootstrap, topic_prefix, metrics_settings.consumer_group)
        await assert_every_kpi(api, truth)
        await assert_timeliness_kpis(api, timeliness)
        store = api_store(metrics_settings)
        try:
            assert_views(store, truth)
            assert_timeliness_view(store, timeliness)
            await assert_measured_capas(store, truth)
        finally:
            store.close()


def api_store(settings: MetricsSettings) -> ClickHouseStore:
    # Same process, same chDB path as the running service: a second client may read it.
    return ClickHouseStore(settings.clickhouse_dsn, settings.clickhouse_database).open()


def _alive(worker: subprocess.Popen[bytes], log: Path) -> Callable[[], None]:
    def check() -> None:
        assert worker.poll() is None, log.read_text()

    return check


async def _settled_stored_events(
    api: httpx.AsyncClient, worker: subprocess.Popen[bytes], log: Path
) -> int:
    """The stored count once it has not moved for a second (the worker waits on a commit)."""
    last = -1
    for _ in range(60):
        _alive(worker, log)()
        stored = await _stored_events(api)
        if stored is not None and stored == last:
            return stored
        last = stored if stored is not None else -1
        await asyncio.sleep(1.0)
    raise AssertionError("the stored count kept moving with the worker's requests held")


async def _distinct_events_before(bootstrap: str, ends: Mapping[TopicPartition, int]) -> int:
    """Distinct events (source, id) among the records before `ends` (committed offsets)."""
    wanted = [tp for tp, end in ends.items() if end > 0]
    if not wanted:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    seen: set[tuple[str, str]] = set()
    try:
        consumer.assign(wanted)
        await consumer.seek_to_beginning(*wanted)
        pending = set(wanted)
        while pending:
            for tp, records in (await consumer.getmany(*pending, timeout_ms=1000)).items():
                for record in records:
                    if record.offset < ends[tp]:
                        event = json.loads(record.value or b"{}")
                        seen.add((event["source"], event["id"]))
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return len(seen)


async def _stored_events(api: httpx.AsyncClient) -> int | None:
    try:
        response = await api.get("/v1/stats")
    except httpx.TransportError:
        return None
    return int(response.json()["events"]) if response.status_code == 200 else None


KILL_AFTER_EVENTS = 1000  # well into the stream: every partition fetched ahead


async def test_every_kpi_equals_the_ground_truth_after_a_kill_mid_batch_and_restart(
    tmp_path: Path,
    province: Province,
    truth: GroundTruth,
    timeliness: TimelinessTruth,
) -> None:
    # The worker commits each batch right after its inserts; to kill it between the two,
    # its broker of this test's own sits behind a relay that can hold the worker's requests:
    # the worker then stores the batch it has fetched ahead and waits for a commit that
    # never reaches the broker.
    prefix = "qms."
    properties = tmp_path / "relay.properties"
    broker = ThrowawayBroker(tmp_path / "kafka", {"KAFKA_EXTRA_PROPERTIES": str(properties)})
    relay = HoldingProxy(broker.port)
    properties.write_text(f"advertised.listeners=PLAINTEXT://127.0.0.1:{relay.port}\n")
    await relay.start()
    await asyncio.to_thread(broker.start)
    try:
        bootstrap = f"127.0.0.1:{relay.port}"
        await ensure_topics(bootstrap, load_topic_specs(prefix=prefix))
        await deliver_twice(bootstrap, prefix, province)
        await _kill_mid_batch_and_restart(relay, bootstrap, prefix, tmp_path, truth, timeliness)
    finally:
        await asyncio.to_thread(broker.stop)
        await relay.stop()


async def _kill_mid_batch_and_restart(
    relay: HoldingProxy,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    truth: GroundTruth,
    timeliness: TimelinessTruth,
) -> None:
    port = free_port()
    group = f"{topic_prefix}metrics"
    env = worker_env(kafka_bootstrap, topic_prefix, tmp_path, port, batch_size=100)
    log = tmp_path / "metrics.log"
    worker = start_worker(env, log)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30, headers=NATIONAL_READER
        ) as api:
            for _ in range(2400):
                _alive(worker, log)()
                if (await _stored_events(api) or 0) >= KILL_AFTER_EVENTS:
                    break
                await asyncio.sleep(0.05)
            relay.hold()
            stored = await _settled_stored_events(api, worker, log)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
            committed, _ = await committed_and_end(kafka_bootstrap, topic_prefix, group)
            below = await _distinct_events_before(kafka_bootstrap, committed)
            assert stored > below, "the worker was not caught between insert and commit"

            worker = start_worker(env, log)
            await wait_until_drained(
                kafka_bootstrap, topic_prefix, group, alive=_alive(worker, log)
            )
            for _ in range(600):  # the restarted API may still be starting
                if await _stored_events(api) is not None:
                    break
                await asyncio.sleep(0.1)
            await assert_every_kpi(api, truth)
            await assert_timeliness_kpis(api, timeliness)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
