"""Builders shared by the intake unit tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.intake.entrypoints.examples import EXAMPLE_EVENTS


@pytest.fixture
def dossier_received() -> dict[str, Any]:
    """A valid dossier.received event (a fresh copy each time)."""
    return copy.deepcopy(EXAMPLE_EVENTS["dossier.received"])


def example(name: str, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(EXAMPLE_EVENTS[name])
    event.update(changes)
    return event
