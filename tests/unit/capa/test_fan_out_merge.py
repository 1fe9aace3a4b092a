"""Lists and summaries merged from several workers' parts equal what one worker holding
every CAPA would answer."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from services.capa.adapters.codec import state_view
from services.capa.domain.state import CapaState
from services.capa.domain.summary import merge_summaries, summarise
from services.capa.entrypoints.fan_out import merge_pages
from tests.unit.capa.factories import T0, given, open_capa

pytestmark = pytest.mark.unit

TODAY = date(2026, 6, 1)


def capas(count: int) -> list[CapaState]:
    states = []
    for n in range(count):
        # Same opening moment for pairs: the CAPA id breaks the tie, on one worker or many.
        state, _ = given(open_capa(capa_id=f"CAPA-{n:02d}", at=T0 + timedelta(hours=n // 2)))
        assert state is not None
        states.append(state)
    return states


def part(states: list[CapaState], offset: int, limit: int) -> dict[str, Any]:
    ordered = sorted(states, key=lambda s: (s.opened_at, s.capa_id))
    return {
        "items": [state_view(s, TODAY) for s in ordered[: offset + limit]],
        "total": len(ordered),
    }


@pytest.mark.parametrize(("offset", "limit"), [(0, 100), (0, 3), (3, 4), (9, 5), (20, 1)])
def test_a_page_over_two_parts_is_the_page_over_all(offset: int, limit: int) -> None:
    states = capas(11)
    first, second = states[::3], [s for i, s in enumerate(states) if i % 3]
    page, total = merge_pages(
        [part(first, offset, limit), part(second, offset, limit)], offset, limit
    )
    whole = part(states, offset, limit)
    assert total == 11
    assert page == whole["items"][offset : offset + limit]


def test_summaries_of_disjoint_parts_add_up_to_the_summary_of_all() -> None:
    states = capas(7)
    parts = [summarise(states[:2], TODAY), summarise(states[2:], TODAY), summarise([], TODAY)]
    assert merge_summaries(parts) == summarise(states, TODAY)
