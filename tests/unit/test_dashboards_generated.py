"""The checked-in Grafana dashboards are exactly what `build_dashboards.py` writes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from services.common.settings import REPO_ROOT

pytestmark = pytest.mark.unit

GRAFANA = REPO_ROOT / "deploy" / "grafana"


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA / "build_dashboards.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_dashboard_file_is_generated_and_unchanged() -> None:
    generated: dict[str, object] = builder().DASHBOARDS
    files = {p.name: p for p in (GRAFANA / "dashboards").glob("*.json")}
    assert set(files) == set(generated), "run deploy/grafana/build_dashboards.py"
    for name, board in generated.items():
        expected = json.dumps(board, indent=2, ensure_ascii=False) + "\n"
        assert Path(files[name]).read_text(encoding="utf-8") == expected, (
            f"{name} differs from build_dashboards.py: edit the script and run it"
        )
