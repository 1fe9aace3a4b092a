"""The measured-nonconformity check with a fake store and a fake command topic: one CAPA per
agency × procedure × month, each dossier linked once, whoever checks and however often."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pytest

from schemas.capa import NonconformitySource
from services.capa.adapters.codec import decode_command
from services.capa.domain.commands import OpenCapa
from services.capa.domain.decide import decide
from services.capa.domain.evolve import evolve
from services.capa.domain.state import CapaState
from services.capa.service_layer.policies import Outgoing
from services.common.backoff import Backoff
from services.metrics.domain.measured_nonconformities import (
    EXTENDED_DUE_DATES,
    MEASURED_NONCONFORMITIES,
    PROCEDURE_NOT_IN_FORCE,
)
from services.metrics.service_layer.nonconformity_check import NonconformityChecker

pytestmark = pytest.mark.unit


def row(agency: str, procedure: str, month: str, dossier: str, day: int) -> dict[str, Any]:
    # As chDB returns DateTime64(3, 'UTC'): naive, in UTC.
    return {
        "agency": agency,
        "key": procedure,
        "month": month,
        "subject": dossier,
        "time": datetime(2026, int(month[5:]), day, 2),
        "reason": "repealed",
    }


class FakeStore:
    """Answers each measured nonconformity's query with the rows given for its view."""

    def __init__(self, rows: Mapping[str, list[dict[str, Any]]], register: int = 5) -> None:
        self.rows = {view: list(r) for view, r in rows.items()}
        self.register = register  # procedure events held

    async def aquery_dicts(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        if "FROM procedure_events" in sql:
            return [{"judging": self.register}]
        return next((list(r) for view, r in self.rows.items() if f"FROM {view} " in sql), [])


class FakeTopic:
    """The command topic: what was acknowledged, in order; fails the first `failures` sends."""

    def __init__(self, failures: int = 0) -> None:
        self.records: list[Outgoing] = []
        self.failures = failures

    async def send(self, command: Outgoing) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker away")
        self.records.append(command)


def capas(records: list[Outgoing]) -> dict[str, CapaState]:
    """Every command applied in order by the CAPA domain, as the command agent does."""
    states: dict[str, CapaState] = {}
    for record in records:
        command = decode_command(record.value)
        assert record.key.decode() == command.capa_id
        for event in decide(command, states.get(command.capa_id)):
            states[command.capa_id] = evolve(states.get(command.capa_id), event)
    return states


NOT_IN_FORCE_ROWS = [
    row("H56.01", "1.000002", "2026-03", "D-1", 5),
    row("H56.01", "1.000002", "2026-03", "D-2", 6),
    row("H56.01", "1.000002", "2026-04", "D-3", 2),
    row("H56.02", "1.000002", "2026-03", "D-4", 5),
]
EXTENDED_ROWS = [row("H56.01", "1.000001", "2026-03", "D-5", 9)]
STORE = {PROCEDURE_NOT_IN_FORCE.view: NOT_IN_FORCE_ROWS, EXTENDED_DUE_DATES.view: EXTENDED_ROWS}


def fast() -> Backoff:
    return Backoff(initial_s=0.001, max_s=0.001)


async def test_one_capa_per_agency_procedure_and_month_with_each_dossier_linked_once() -> None:
    topic = FakeTopic()
    result = await NonconformityChecker(FakeStore(STORE), topic.send).check()
    assert result.capas == {
        "procedure_not_in_force": 3,
        "extended_due_dates": 1,
        "process_not_revised": 0,
    }
    states = capas(topic.records)
    grouped = PROCEDURE_NOT_IN_FORCE.capa_id("H56.01", "1.000002", "2026-03")
    assert set(states) == {
        grouped,
        PROCEDURE_NOT_IN_FORCE.capa_id("H56.01", "1.000002", "2026-04"),
        PROCEDURE_NOT_IN_FORCE.capa_id("H56.02", "1.000002", "2026-03"),
        EXTENDED_DUE_DATES.capa_id("H56.01", "1.000001", "2026-03"),
    }
    opened = states[grouped]
    assert [r.subject for r in opened.references] == ["D-1", "D-2"]
    assert opened.source is NonconformitySource.PROCEDURE_NOT_IN_FORCE
    assert (opened.agency, opened.procedure_code, opened.period) == (
        "H56.01",
        "1.000002",
        "2026-03",
    )
    first = decode_command(topic.records[0].value)
    assert isinstance(first, OpenCapa) and first.at.isoformat() == "2026-03-05T02:00:00+00:00"
    assert first.correction_due_on == date(2026, 3, 20)  # minor: 15 days from the 5th


async def test_a_second_run_sends_nothing_and_a_second_checker_changes_nothing() -> None:
    topic = FakeTopic()
    checker = NonconformityChecker(FakeStore(STORE), topic.send)
    await checker.check()
    once = list(topic.records)
    again = await checker.check()
    assert again.sent == {
        "procedure_not_in_force": 0,
        "extended_due_dates": 0,
        "process_not_revised": 0,
    }
    assert topic.records == once
    # Another worker (or a restart) sends every command again: the CAPAs stay the same.
    await NonconformityChecker(FakeStore(STORE), topic.send).check()
    assert len(topic.records) == 2 * len(once)
    assert capas(topic.records) == capas(once)


async def test_a_send_that_fails_is_retried_until_acknowledged() -> None:
    topic = FakeTopic(failures=2)
    await NonconformityChecker(FakeStore(STORE), topic.send, backoff=fast).check()
    assert len(topic.records) == len(NOT_IN_FORCE_ROWS) + len(EXTENDED_ROWS)


async def test_a_row_that_cannot_become_a_command_is_skipped_and_the_rest_goes_on() -> None:
    bad = {**NOT_IN_FORCE_ROWS[0], "time": "not a time"}
    store = FakeStore({PROCEDURE_NOT_IN_FORCE.view: [bad, *NOT_IN_FORCE_ROWS[1:]]})
    topic = FakeTopic()
    result = await NonconformityChecker(store, topic.send).check()
    assert result.skipped == 1 and len(topic.records) == len(NOT_IN_FORCE_ROWS) - 1


async def test_without_a_register_no_dossier_is_judged_under_a_procedure_not_in_force() -> None:
    topic = FakeTopic()
    result = await NonconformityChecker(FakeStore(STORE, register=0), topic.send).check()
    assert result.occurrences == {
        "procedure_not_in_force": 0,
        "extended_due_dates": 1,
        "process_not_revised": 0,
    }


def test_every_measured_nonconformity_has_its_own_source_kind_and_view() -> None:
    kinds = MEASURED_NONCONFORMITIES
    assert len({k.source for k in kinds}) == len({k.view for k in kinds}) == len(kinds)


async def test_a_round_whose_inputs_changed_while_it_read_sends_nothing() -> None:
    topic = FakeTopic()
    asked: list[bool] = []

    async def register_moved() -> bool:
        asked.append(True)
        return False

    result = await NonconformityChecker(FakeStore(STORE), topic.send).check(register_moved)
    assert asked == [True] and result.called_off
    assert topic.records == [] and result.sent == {}

    async def register_still() -> bool:
        return True

    again = await NonconformityChecker(FakeStore(STORE), topic.send).check(register_still)
    assert not again.called_off and sum(again.sent.values()) == len(NOT_IN_FORCE_ROWS) + 1
