"""The demo run: bring the stack up, publish the province, wait until it is counted."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console

from services.capa.adapters.http_client import CapaClient
from services.capa.entrypoints.scripted_closure import DEV_TOKENS, close_some
from services.common.clock import SYSTEM_CLOCK, Clock
from services.common.settings import CommonSettings
from services.demo.adapters.publisher import publish_sync
from services.demo.domain.province import generate_province
from services.demo.domain.truth import ground_truth
from services.intake.ledger.adapters.checkpoint_file import read_notes
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.service import verify_topics
from services.intake.ledger.settings import LedgerSettings
from services.runner.document_check import document_control
from services.runner.register_figures import register_figures
from services.runner.sheet_summary import process_sheet_summary
from services.runner.stack import ServiceProcess, StackError, kafka, qms_command
from services.runner.timeliness_summary import update_timeliness_summary

DEMO_TOKEN = "dev-demo-province-token"
CAPAS_CLOSED_BY_SCRIPT = 20


@dataclass(frozen=True)
class DemoRun:
    seed: int
    agencies: int
    dossiers: int
    months: int
    now: datetime  # the end of the history: the clock's reading as the run began
    clock: Clock = SYSTEM_CLOCK

    def clock_env(self) -> dict[str, str]:
        """QMS_NOW for a service starting now: every service reads the run's clock."""
        if self.clock is SYSTEM_CLOCK:
            return {}
        return {"QMS_NOW": self.clock.now().isoformat()}


@dataclass(frozen=True)
class Ports:
    intake: int
    capa: int
    metrics: int

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{getattr(self, service)}"


def run_pipeline(
    settings: CommonSettings,
    demo: DemoRun,
    ports: Ports,
    *,
    keep_running: bool,
    fresh: bool,
    console: Console,
    on_summary: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Bring the stack up, drive the demo, hand the summary over, stop everything again.

    Ctrl-C or SIGTERM at any point stops every process this run started.
    """
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _interrupt)
    run_dir = settings.data_dir / "run"
    env = _service_env(settings, state_dir=run_dir / "state")
    # The ledger also appends each signed checkpoint to a file outside Kafka: only an anchor
    # kept elsewhere shows a history rewritten together with its checkpoint notes.
    anchor = Path(env.setdefault("QMS_LEDGER_CHECKPOINT_FILE", str(run_dir / "anchor.jsonl")))
    logs = run_dir / "logs"
    services = [
        ServiceProcess(
            name,
            qms_command(name, "serve", "--port", str(getattr(ports, name))),
            ports.url(name) + health,
            logs / f"{name}.log",
        )
        for name, health in (("metrics", "/healthz"), ("capa", "/readyz"), ("intake", "/readyz"))
    ]
    services.append(
        ServiceProcess("ledger", qms_command("audit", "ledger-worker"), None, logs / "ledger.log")
    )
    local_kafka = "KAFKA_BOOTSTRAP_SERVERS" not in os.environ
    if fresh:
        # The demo's figures are compared with its ground truth: earlier runs' events
        # (another seed, another size) must not be counted with them.
        shutil.rmtree(run_dir, ignore_errors=True)
        if local_kafka:
            kafka("reset", env)
    with console.status("Starting Kafka…"):
        kafka("start", env)
    try:
        for service in services:
            with console.status(f"Starting {service.name}…"):
                service.start({**env, **demo.clock_env()})
                service.wait_healthy(timeout=120)
            console.print(f"[green]✓[/] {service.name} up (log: {service.log_path})")
        summary = _drive_demo(settings, demo, ports, console, anchor)
        on_summary(summary)
        if keep_running:
            console.print("Stack running; Ctrl-C stops everything.")
            _wait_for_interrupt()
        return summary
    finally:
        with console.status("Stopping services…"):
            for service in reversed(services):
                service.stop()
            if local_kafka:
                kafka("stop", env)


def _drive_demo(
    settings: CommonSettings, demo: DemoRun, ports: Ports, console: Console, anchor: Path
) -> dict[str, Any]:
    province = generate_province(
        seed=demo.seed,
        agencies=demo.agencies,
        dossiers=demo.dossiers,
        months=demo.months,
        now=demo.now,
    )
    truth = ground_truth(province.events)
    report = publish_sync(province.events, ports.url("intake"), DEMO_TOKEN)
    console.print(f"[green]✓[/] published {len(province.events):,} events through intake")
    # The run reads the KPIs as a national reader (QMS_READ_TOKEN, the dev one by default).
    metrics = httpx.Client(
        base_url=ports.url("metrics"),
        timeout=30,
        headers={"Authorization": f"Bearer {settings.read_token}"},
    )
    _wait_until_counted(metrics, len(province.events), console)
    rows = metrics.get("/v1/kpi/dossiers/by-agency").raise_for_status().json()["rows"]
    expected = {agency: counts.as_dict() for agency, counts in truth.agencies.items()}
    counted = {
        row["agency"]: {k: row[k] for k in ("received", "resolved", "on_time", "late")}
        for row in rows
    }
    documents = document_control(metrics, truth, province.cutoff)
    register = register_figures(metrics, truth)
    capa = _close_some_capas(ports, truth.expected_capas["total"], console)
    capa_in_clickhouse = _wait_for_capa_board(metrics, capa, console)
    audit_trail = _verify_audit_trail(settings, console, anchor)
    process_sheet = process_sheet_summary(metrics, province)
    update_timeliness = update_timeliness_summary(metrics, province)
    return {
        "seed": demo.seed,
        "capa": capa,
        "capa_in_clickhouse": capa_in_clickhouse,
        "register": register,
        "audit_trail": audit_trail,
        "process_sheet": process_sheet,
        "update_timeliness": update_timeliness,
        "documents": documents,
        "events_published": len(province.events),
        "publish": vars(report),
        "agencies": [
            {"agency": a, **counted.get(a, {}), "expected": expected.get(a)}
            for a in sorted(set(expected) | set(counted))
        ],
        "matches_ground_truth": counted == expected,
    }


def _close_some_capas(ports: Ports, expected: int, console: Console) -> dict[str, Any]:
    """Wait until the CAPA service has caught up with everything published (its /v1/stats),
    then walk a few CAPAs to closure over the API."""
    with CapaClient(ports.url("capa"), DEV_TOKENS.owner) as capa:
        deadline = time.monotonic() + 300
        with console.status("Waiting for the CAPA policies…") as status:
            while not (consumer := capa.stats()["consumer"])["caught_up"]:
                if time.monotonic() > deadline:
                    opened = capa.summary()["opened"]
                    raise StackError(
                        f"CAPA not caught up in 300 s: {consumer['lag']:,} records behind, "
                        f"{opened} of {expected} CAPAs opened"
                    )
                status.update(f"CAPA catching up: {consumer['lag']:,} records to go…")
                time.sleep(1)
            # The measured nonconformities' CAPAs come from the metrics worker's periodic
            # check (QMS_METRICS_NONCONFORMITY_CHECK_INTERVAL_S), after the events.
            while capa.summary()["opened"] < expected or not capa.stats()["consumer"]["caught_up"]:
                if time.monotonic() > deadline:
                    opened = capa.summary()["opened"]
                    raise StackError(f"{opened} of {expected} CAPAs opened in 300 s")
                status.update("Waiting for the measured nonconformities' CAPAs…")
                time.sleep(1)
        with console.status("Owners and verifiers closing CAPAs over the API…"):
            outcome = close_some(ports.url("capa"), fraction=0.1, limit=CAPAS_CLOSED_BY_SCRIPT)
        console.print(f"[green]✓[/] {len(outcome.closed)} CAPAs walked to closure over the API")
        return {**capa.summary(), "expected_opened": expected, "scripted": outcome.as_dict()}


def _wait_for_capa_board(
    metrics: httpx.Client, capa: dict[str, Any], console: Console
) -> dict[str, int]:
    """The CAPA board as ClickHouse sees it, once it has every CAPA event of the service."""
    deadline = time.monotonic() + 120
    with console.status("Waiting for the CAPA board in ClickHouse…"):
        while True:
            rows = metrics.get("/v1/kpi/capa/by-agency").raise_for_status().json()["rows"]
            counts = ("capas", "closed", "backlog", "overdue")  # overdue: the CAPA rule, now
            board = {k: sum(row[k] for row in rows) for k in counts}
            caught_up = board["capas"] == capa["opened"] and board["closed"] == capa["closed"]
            if caught_up or time.monotonic() > deadline:
                return board
            time.sleep(1)


def _verify_audit_trail(settings: CommonSettings, console: Console, anchor: Path) -> dict[str, Any]:
    """Once the ledger has chained every accepted event, verify every chain as `verify` does,
    against the checkpoints in Kafka and the ones the ledger kept in `anchor`."""
    ledger = LedgerSettings(
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
        topic_prefix=settings.topic_prefix,
    )
    verifier = load_verifier(ledger, None)
    deadline = time.monotonic() + 300
    with console.status("Verifying the audit trail…") as status:
        while True:
            anchored = read_notes(anchor) if anchor.exists() else []
            result = asyncio.run(verify_topics(ledger, verifier, extra_checkpoints=anchored))
            pending = sum(report.pending for report in result.chains)
            if not result.ok or not pending or time.monotonic() > deadline:
                break
            status.update(f"Ledger still chaining: {pending:,} events to go…")
            time.sleep(2)
    return {
        "ok": result.ok and not pending,
        "chains": sum(1 for report in result.chains if report.entries),
        "entries": sum(report.entries for report in result.chains),
        "checkpoints": sum(report.checkpoints for report in result.chains),
        "checkpoints_outside_kafka": len(anchored),
        "pending": pending,
        "first_problem": result.first_problem,
    }


def _wait_until_counted(metrics: httpx.Client, published: int, console: Console) -> None:
    deadline = time.monotonic() + 300
    with console.status("Waiting for metrics to count every event…") as status:
        while time.monotonic() < deadline:
            stored = metrics.get("/v1/stats").raise_for_status().json()["published_events"]
            status.update(f"Metrics counted {stored:,} / {published:,} events…")
            if stored >= published:
                return
            time.sleep(1)
    raise StackError("metrics did not count every published event within 300 s")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _service_env(settings: CommonSettings, state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers)
    env.setdefault("QMS_TOPIC_PREFIX", settings.topic_prefix)
    env["QMS_DATA_DIR"] = str(state_dir)
    # The run waits for the measured nonconformities' CAPAs: check them often.
    env.setdefault("QMS_METRICS_NONCONFORMITY_CHECK_INTERVAL_S", "3")
    return env
