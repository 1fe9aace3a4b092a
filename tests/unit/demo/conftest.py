"""Shared demo provinces, generated once per test session (generation is deterministic)."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.demo.domain.calendar import VN_TZ
from services.demo.domain.province import Province, generate_province

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=VN_TZ)


@pytest.fixture(scope="session")
def default_province() -> Province:
    """The province `qms demo` publishes by default (150 agencies, 8,000 dossiers)."""
    return generate_province(7, now=NOW)


@pytest.fixture(scope="session")
def small_province() -> Province:
    return generate_province(11, agencies=25, dossiers=1200, months=4, now=NOW)
