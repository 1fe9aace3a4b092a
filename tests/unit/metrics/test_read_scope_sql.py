"""An agency scope as SQL: globs become LIKE patterns, bound as parameters, never SQL text."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

import pytest

from services.common.credentials import AgencyScope
from services.common.settings import Environment
from services.metrics.adapters.scope_sql import like_pattern, scope_condition
from services.metrics.config import MetricsSettings
from services.metrics.entrypoints.api import create_app

pytestmark = pytest.mark.unit

CODES = ("H56.01", "H56.02", "H56.10", "H5_.01", "H5X.01", "H57.01", "H56.011")


def _like(pattern: str, text: str) -> bool:
    """LIKE as ClickHouse reads it: `%` any run, `_` one character, `\\` escapes."""
    regex, chars = "", iter(pattern)
    for ch in chars:
        if ch == "\\":
            regex += re.escape(next(chars))
        elif ch == "%":
            regex += ".*"
        elif ch == "_":
            regex += "."
        else:
            regex += re.escape(ch)
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


@pytest.mark.parametrize("glob", ["*", "H56.*", "H56.0?", "H5_.*", "H56.01", "?56.*", "H5%.*"])
def test_a_like_pattern_matches_exactly_what_the_glob_does(glob: str) -> None:
    for code in CODES:
        assert _like(like_pattern(glob), code) is fnmatchcase(code, glob), (glob, code)


def test_the_condition_binds_the_patterns_and_a_national_scope_adds_none() -> None:
    params: dict[str, Any] = {}
    sql = scope_condition(AgencyScope(("H56.*", "H57.01")), "agency", params)
    assert sql == "(agency LIKE {scope_0:String} OR agency LIKE {scope_1:String})"
    assert params == {"scope_0": "H56.%", "scope_1": "H57.01"}
    assert scope_condition(AgencyScope(("*",)), "agency", {}) is None
    assert scope_condition(AgencyScope(()), "agency", {}) == "0"


def test_the_read_api_does_not_start_in_production_with_the_development_users() -> None:
    settings = MetricsSettings(environment=Environment.PRODUCTION)
    with pytest.raises(ValueError, match="refused in production"):
        create_app(settings, consume=False)
