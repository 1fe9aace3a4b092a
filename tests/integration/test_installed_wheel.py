"""The image's path: build the wheel, install it outside the checkout, start every entry point.

The fresh venv gets the wheel without its dependencies; those come from the project venv's
site-packages, added as a plain path (a `.pth` line), so the project's own editable install
in there is never activated and the checkout cannot be imported: `services.__file__` proves it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.common.shipped import CHECKOUT_DEPLOY_DIR
from services.intake.entrypoints.examples import EXAMPLE_EVENTS
from tests.support import BUILD_CONTEXT, free_port

pytestmark = pytest.mark.integration

CHECKOUT = CHECKOUT_DEPLOY_DIR.parent
DEMO_TOKEN = "dev-demo-province-token"
STARTUP_TIMEOUT_S = 120.0
PIP = (sys.executable, "-m", "pip")


@dataclass(frozen=True)
class Installed:
    venv: Path
    workdir: Path

    @property
    def qms(self) -> str:
        return str(self.venv / "bin" / "qms")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")


def copy_build_context(target: Path) -> Path:
    """What the Dockerfile copies into its build stage, without build leftovers: a stale
    `build/` of the checkout would otherwise put files into the wheel that git no longer has."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "libs", "target")
    target.mkdir()
    for name in BUILD_CONTEXT:
        path = CHECKOUT / name
        if path.is_dir():
            shutil.copytree(path, target / name, ignore=ignore)
        else:
            shutil.copy2(path, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed-wheel")
    source = copy_build_context(root / "source")
    wheels = root / "wheels"
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(source)],
        check=True,
        cwd=root,
    )
    (wheel,) = wheels.glob("qms_trail-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [*PIP, "--python", str(venv / "bin" / "python"), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        cwd=root,
    )
    site_packages = next((venv / "lib").glob("python3.*/site-packages"))
    (site_packages / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"])
    workdir = root / "work"
    workdir.mkdir()
    return Installed(venv, workdir)


def clean_env(**settings: str) -> dict[str, str]:
    """The process environment without anything that could point back at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.pop("QMS_DATA_DIR", None)
    return {**env, **settings}


def test_the_installed_package_is_not_the_checkout(installed: Installed) -> None:
    probe = (
        "import json, services, services.common.shipped as s; "
        "print(json.dumps([services.__file__, str(s.deploy_dir()), s.running_from_checkout()]))"
    )
    result = subprocess.run(
        [installed.python, "-c", probe],
        cwd=installed.workdir,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    module_file, deploy_dir, from_checkout = json.loads(result.stdout)
    assert Path(module_file).is_relative_to(installed.venv), module_file
    assert not Path(module_file).is_relative_to(CHECKOUT)
    assert Path(deploy_dir).is_relative_to(installed.venv) and not from_checkout
    for shipped in ("kafka/topics.yaml", "clickhouse/0001_raw_events.sql"):
        assert (Path(deploy_dir) / shipped).is_file(), shipped


def test_qms_migrate_applies_the_shipped_migrations(installed: Installed, tmp_path: Path) -> None:
    env = clean_env(CLICKHOUSE_DSN=f"chdb://{tmp_path / 'chdb'}", CLICKHOUSE_DATABASE="qms")
    first = subprocess.run(
        [installed.qms, "migrate"], cwd=installed.workdir, env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "applied 0001_raw_events" in first.stdout
    again = subprocess.run(
        [installed.qms, "migrate"], cwd=installed.workdir, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0 and "applied" not in again.stdout.replace("up to date", "")


def test_qms_run_says_it_needs_a_checkout_instead_of_failing_in_bash(installed: Installed) -> None:
    result = subprocess.run(
        [installed.qms, "run", "--port-base", "18600"],
        cwd=installed.workdir,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "`qms run` drives the local stack of a checkout" in result.stdout + result.stderr


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive_or_fail(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited {self.process.returncode}:\n{self.log.read_text()}")

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture
def started(
    installed: Installed, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Iterator[dict[str, tuple[Service, str | None]]]:
    ports = {name: free_port() for name in ("intake", "capa", "metrics")}
    env = clean_env(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        QMS_TOPIC_PREFIX=topic_prefix,
        QMS_DATA_DIR=str(tmp_path / "data"),
        CLICKHOUSE_DSN=f"chdb://{tmp_path / 'chdb'}",
        CLICKHOUSE_DATABASE="qms",
        QMS_INTAKE_PORT=str(ports["intake"]),
        QMS_CAPA_PORT=str(ports["capa"]),
        QMS_METRICS_PORT=str(ports["metrics"]),
        QMS_LEDGER_CHECKPOINT_FILE=str(tmp_path / "anchor.jsonl"),
    )
    commands = {
        "intake": (["intake", "serve"], f"http://127.0.0.1:{ports['intake']}/readyz"),
        "capa": (["capa", "serve"], f"http://127.0.0.1:{ports['capa']}/readyz"),
        "metrics": (["metrics", "serve"], f"http://127.0.0.1:{ports['metrics']}/healthz"),
        "ledger": (["audit", "ledger-worker"], None),
    }
    services: dict[str, tuple[Service, str | None]] = {}
    for name, (argv, ready_url) in commands.items():
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [installed.qms, *argv],
                cwd=installed.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        services[name] = (Service(name, process, log), ready_url)
    try:
        yield services
    finally:
        for service, _ in services.values():
            service.stop()


def wait_ready(service: Service, url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        service.alive_or_fail()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    log = service.log.read_text()
    pytest.fail(f"{service.name} not ready in {STARTUP_TIMEOUT_S:.0f} s:\n{log}")


async def first_ledger_entry(bootstrap: str, topic: str, ledger: Service) -> bytes:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            ledger.alive_or_fail()
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    assert record.value is not None
                    return bytes(record.value)
        pytest.fail(f"no ledger entry in {STARTUP_TIMEOUT_S:.0f} s:\n{ledger.log.read_text()}")
    finally:
        await consumer.stop()


def test_every_entry_point_of_the_installed_wheel_starts_and_stops(
    started: dict[str, tuple[Service, str | None]], kafka_bootstrap: str, topic_prefix: str
) -> None:
    for service, ready_url in started.values():
        if ready_url is not None:
            wait_ready(service, ready_url)
    intake_url = started["intake"][1]
    assert intake_url is not None
    published = httpx.post(
        intake_url.removesuffix("/readyz") + "/v1/events",
        json=EXAMPLE_EVENTS["dossier.received"],
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        timeout=30,
    )
    assert published.status_code == 202, published.text
    ledger = started["ledger"][0]
    ledger_topic = f"{topic_prefix}ledger.v1"
    entry = json.loads(asyncio.run(first_ledger_entry(kafka_bootstrap, ledger_topic, ledger)))
    assert entry, "the ledger worker chained the accepted event"
    for name, (service, _) in started.items():
        assert service.stop() in (0, -15), f"{name}:\n{service.log.read_text()}"
