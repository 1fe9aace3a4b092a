"""The one business clock: QMS_NOW moves every service's "now" together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.common.clock import SYSTEM_CLOCK, FixedClock, ShiftedClock, clock_from
from services.common.settings import CommonSettings
from services.runner.pipeline import DemoRun

pytestmark = pytest.mark.unit

END_OF_LAST_YEAR = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)


def test_unset_means_the_system_clock() -> None:
    assert clock_from(None) is SYSTEM_CLOCK
    assert CommonSettings().clock is SYSTEM_CLOCK


def test_qms_now_starts_the_clock_there_and_it_advances(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMS_NOW", "2026-01-01T06:00:00+07:00")
    settings = CommonSettings()
    first = settings.clock.now()
    second = settings.clock.now()
    assert timedelta(0) <= first - END_OF_LAST_YEAR < timedelta(minutes=5)
    assert second >= first
    assert settings.clock is settings.clock  # one clock per process: it starts once


def test_qms_now_without_an_offset_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMS_NOW", "2026-01-01T06:00:00")
    with pytest.raises(ValidationError, match="QMS_NOW"):
        CommonSettings()


def test_a_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(END_OF_LAST_YEAR)
    assert clock.now() == clock.now() == END_OF_LAST_YEAR
    clock.advance(timedelta(days=1))
    assert clock.now() == END_OF_LAST_YEAR + timedelta(days=1)


def test_the_run_hands_its_clock_to_every_service_it_starts() -> None:
    clock = ShiftedClock(END_OF_LAST_YEAR)
    run = DemoRun(seed=1, agencies=2, dossiers=3, months=1, now=clock.now(), clock=clock)
    started_at = datetime.fromisoformat(run.clock_env()["QMS_NOW"])
    assert timedelta(0) <= started_at - END_OF_LAST_YEAR < timedelta(minutes=5)
    wall = DemoRun(seed=1, agencies=2, dossiers=3, months=1, now=SYSTEM_CLOCK.now())
    assert wall.clock_env() == {}
