"""The replay's mapping helpers: a batch maps to the same rows wherever it is mapped, and
a helper that is not up yet, or has died, leaves the mapping to the caller."""

from __future__ import annotations

import asyncio
import multiprocessing

import pytest

from services.common.deadletter import RecordPosition
from services.metrics.adapters.mapping_processes import MappingProcesses
from services.metrics.domain.rows import map_values
from services.metrics.service_layer.ingestion import Record, values_of
from tests.poison import poison_records
from tests.unit.metrics.test_ingestion import ordinary

pytestmark = pytest.mark.unit


def batch() -> list[Record]:
    """Ordinary dossier events with every poison kind among them."""
    poison = [
        Record(RecordPosition(f"qms.{p.topic}", 0, 1_000 + n), b"k", p.value)
        for n, p in enumerate(poison_records())
    ]
    return [*ordinary(40), *poison, *ordinary(40, start=40)]


async def test_a_batch_mapped_in_a_helper_has_the_rows_and_refusals_it_has_here() -> None:
    records = batch()
    with MappingProcesses(processes=1) as mapping:
        await asyncio.wait_for(mapping.wait_until_up(), 60)
        apart = await mapping.map(records)
        assert mapping.batches_mapped_apart == 1
    here = map_values(values_of(records))
    assert apart == here
    assert len(here.refused) == len(poison_records()) and len(here.mapped) == 80


async def test_until_the_helpers_are_up_a_batch_is_mapped_here() -> None:
    records = batch()
    with MappingProcesses(processes=1) as mapping:
        assert not mapping.up  # spawning and importing the mapping takes far longer than this
        assert await mapping.map(records) == map_values(values_of(records))
        assert mapping.batches_mapped_apart == 0


async def test_a_helper_that_dies_leaves_every_later_batch_to_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = batch()
    with MappingProcesses(processes=1) as mapping:
        await asyncio.wait_for(mapping.wait_until_up(), 60)
        for helper in multiprocessing.active_children():
            helper.kill()
            helper.join(10)
        assert await mapping.map(records) == map_values(values_of(records))
        assert await mapping.map(records[:5]) == map_values(values_of(records[:5]))
        assert mapping.batches_mapped_apart == 0 and not mapping.up
    assert "mapping process failed" in caplog.text


async def test_with_no_helper_every_batch_is_mapped_here() -> None:
    records = batch()
    with MappingProcesses(processes=0) as mapping:
        await mapping.wait_until_up()
        assert not mapping.up
        assert await mapping.map(records) == map_values(values_of(records))
        assert mapping.batches_mapped_apart == 0 and not multiprocessing.active_children()
