"""What the services read from deploy/ is shipped in the wheel, and found from a checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from services.capa.config import DEV_USERS_FILE
from services.common.shipped import CHECKOUT_DEPLOY_DIR, deploy_dir, shipped_file
from services.common.topics import DEFAULT_TOPICS_FILE
from services.common.working_days import CALENDAR_DIR
from services.intake.config import DEV_PUBLISHERS_FILE
from services.intake.ledger.settings import DEV_PUBLIC_KEY_FILE, DEV_SIGNING_KEY_FILE
from services.metrics.adapters.migrations import MIGRATIONS_DIR, load_migrations

pytestmark = pytest.mark.unit

PYPROJECT = tomllib.loads((CHECKOUT_DEPLOY_DIR.parent / "pyproject.toml").read_text())
PACKAGE_DATA: list[str] = PYPROJECT["tool"]["setuptools"]["package-data"]["services._deploy"]
READ_AT_RUN_TIME = [
    DEFAULT_TOPICS_FILE,
    DEV_PUBLISHERS_FILE,
    DEV_SIGNING_KEY_FILE,
    DEV_PUBLIC_KEY_FILE,
    DEV_USERS_FILE,
    *sorted(MIGRATIONS_DIR.glob("*.sql")),
    *sorted(shipped_file(CALENDAR_DIR).glob("vn-*.yaml")),
]


def shipped(path: Path) -> bool:
    relative = path.relative_to(deploy_dir())
    return any(relative.match(pattern) for pattern in PACKAGE_DATA)


def test_from_a_checkout_the_files_are_read_from_deploy() -> None:
    assert deploy_dir() == CHECKOUT_DEPLOY_DIR
    assert shipped_file("kafka/topics.yaml") == CHECKOUT_DEPLOY_DIR / "kafka" / "topics.yaml"


@pytest.mark.parametrize("path", READ_AT_RUN_TIME, ids=lambda path: path.name)
def test_every_file_read_at_run_time_exists_and_is_in_the_wheel(path: Path) -> None:
    assert path.is_file(), path
    assert shipped(path), f"{path} is read at run time but no package-data pattern ships it"


def test_every_package_data_pattern_ships_something() -> None:
    for pattern in PACKAGE_DATA:
        assert list(deploy_dir().glob(pattern)), f"package-data {pattern!r} matches no file"


def test_the_tooling_and_the_jars_stay_out_of_the_wheel() -> None:
    for outside in ("kafka/kafka.sh", "kafka/pom.xml", "grafana/build_dashboards.py"):
        assert not shipped(deploy_dir() / outside), outside


def test_no_migration_file_is_an_error_not_up_to_date(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no migration files"):
        load_migrations(tmp_path)
