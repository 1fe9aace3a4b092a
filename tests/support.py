"""Small helpers shared by the test layers (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from services.common.deadletter import read_headers
from services.common.settings import REPO_ROOT

# What the Dockerfile's build stage copies; the installed-wheel test builds from the same.
BUILD_CONTEXT = ("pyproject.toml", "setup.py", "README.md", "schemas", "services", "deploy")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def dead_letter_headers(
    bootstrap: str, topic: str, at_least: int, key: bytes | None = None
) -> list[dict[str, str]]:
    """The contract headers of the dead-letter topic's records (only those keyed `key`, if
    given), read from the start until there are `at_least` of them or a minute has passed."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        for _ in range(60):
            batches = await consumer.getmany(timeout_ms=1000)
            found += [
                read_headers(r.headers)
                for records in batches.values()
                for r in records
                if key is None or r.key == key
            ]
            if len(found) >= at_least:
                break
    finally:
        await consumer.stop()
    return found


class ThrowawayBroker:
    """A local single-node broker of one test's own (deploy/kafka/kafka.sh), to stop at will."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = dict(env or {})  # e.g. KAFKA_EXTRA_PROPERTIES, KAFKA_SCRAM_USERS
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"

    def _run(self, command: str) -> None:
        env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_DATA_DIR": str(self.data_dir),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            **self.env,
        }
        script = REPO_ROOT / "deploy" / "kafka" / "kafka.sh"
        subprocess.run(["bash", str(script), command], env=env, check=True, timeout=180)

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")


@contextmanager
def throwaway_broker(data_dir: Path) -> Iterator[ThrowawayBroker]:
    """A started throwaway broker, stopped at the end whatever happened."""
    broker = ThrowawayBroker(data_dir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


class HoldingProxy:
    """A TCP relay on the loopback in front of a broker, whose connections can be held: what
    a held connection's client sends after that never reaches the broker (a request lost on
    the way, as when a worker dies before its commit leaves the machine). Connections opened
    later relay as usual."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.Event] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def hold(self) -> None:
        """From now on, drop what every connection open now sends to the broker."""
        for held in self._open:
            held.set()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held = asyncio.Event()
        self._open.add(held)
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            self._open.discard(held)
            return

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, holdable: bool
        ) -> None:
            try:
                while data := await source.read(65536):
                    if holdable and held.is_set():
                        continue
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        try:
            await asyncio.gather(pump(reader, upstream, True), pump(upstream_reader, writer, False))
        finally:
            self._open.discard(held)
