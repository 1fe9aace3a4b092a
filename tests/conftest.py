"""Fixtures shared by every test layer.

Integration and e2e tests talk to a real Kafka broker named by KAFKA_BOOTSTRAP_SERVERS
(`make test` starts one) and to the real ClickHouse engine embedded through chDB. chDB
admits one data path per process, so the whole test session shares one path and each
test gets a database of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.common.topics import delete_topics_under, ensure_topics, load_topic_specs


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        pytest.fail(
            "KAFKA_BOOTSTRAP_SERVERS is not set: run the tests with `make test`, which "
            "starts a local broker, or point it at a running cluster"
        )
    return servers


@pytest.fixture
async def topic_prefix(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A fresh set of every topic of the catalogue under a prefix no other test uses,
    deleted afterwards with whatever else the test made under it (faust's topics)."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(kafka_bootstrap, load_topic_specs(prefix=prefix))
    yield prefix
    await delete_topics_under(kafka_bootstrap, prefix)


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb") / "data"


@pytest.fixture(scope="session")
def chdb_dsn(chdb_path: Path) -> str:
    return f"chdb://{chdb_path}"


@pytest.fixture
def clickhouse_database() -> Iterator[str]:
    yield f"t_{uuid.uuid4().hex[:12]}"
