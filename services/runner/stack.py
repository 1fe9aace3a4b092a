"""Supervise the local stack: the Kafka broker script and the service processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.common.settings import REPO_ROOT

KAFKA_SCRIPT = REPO_ROOT / "deploy" / "kafka" / "kafka.sh"


class StackError(RuntimeError):
    """A part of the stack did not come up; the message says which and where its log is."""


@dataclass
class ServiceProcess:
    name: str
    argv: list[str]
    health_url: str | None
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: Mapping[str, str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # A session of its own, so that stopping it stops its children and a Ctrl-C
        # in the terminal reaches only the supervisor, which then stops everyone in order.
        self.process = subprocess.Popen(
            self.argv, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def wait_healthy(self, timeout: float) -> None:
        """Until the health URL answers 200 (a worker without one: until it has stayed up)."""
        deadline = time.monotonic() + (timeout if self.health_url else 3)
        while time.monotonic() < deadline:
            self.check_alive()
            if self.health_url and _answers(self.health_url):
                return
            time.sleep(0.5)
        if self.health_url:
            raise StackError(f"{self.name} not healthy after {timeout:.0f}s; see {self.log_path}")

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            raise StackError(f"{self.name} exited with {code}; see {self.log_path}")

    def stop(self, grace: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def qms_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "services", *args]


def kafka(action: str, env: Mapping[str, str]) -> None:
    """Run `deploy/kafka/kafka.sh ACTION` (start formats once, waits, creates the topics)."""
    if not KAFKA_SCRIPT.is_file():
        # The broker tooling (pom, jars, script) is not part of the wheel.
        raise StackError(
            f"{KAFKA_SCRIPT} not found: `qms run` drives the local stack of a checkout; "
            "an installed image runs each service on its own (docs/operations.md)"
        )
    result = subprocess.run(["bash", str(KAFKA_SCRIPT), action], env=dict(env), check=False)
    if result.returncode != 0:
        raise StackError(f"kafka.sh {action} failed with exit code {result.returncode}")
