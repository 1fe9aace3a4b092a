"""Quality objectives (mục tiêu chất lượng) set for an agency and period, and their evaluation.

The subject is the objective id.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.base import Contract, FiniteFloat, ShortText, StrictBool
from schemas.envelope import CloudEvent


class Indicator(StrEnum):
    ON_TIME_RATE = "on_time_rate"
    ONLINE_SHARE = "online_share"
    SATISFACTION_RATE = "satisfaction_rate"
    COMPLAINT_RESOLUTION_RATE = "complaint_resolution_rate"
    # Events recorded more than one working day late, in percent: set it with `at_most`.
    LATE_UPDATE_SHARE = "late_update_share"


class Comparison(StrEnum):
    AT_LEAST = "at_least"
    AT_MOST = "at_most"


Period = ShortText


class QualityObjectiveSetData(Contract):
    indicator: Indicator
    target: FiniteFloat = Field(ge=0, description="Target value; rates in percent (0-100).")
    comparison: Comparison = Comparison.AT_LEAST
    period: Period = Field(pattern=r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$", examples=["2026"])


class QualityObjectiveEvaluatedData(Contract):
    indicator: Indicator
    target: FiniteFloat = Field(ge=0)
    actual: FiniteFloat = Field(ge=0)
    met: StrictBool
    period: Period = Field(pattern=r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$")


class QualityObjectiveSet(CloudEvent):
    """Leadership set a measurable quality objective for an agency and period."""

    type: Literal["vn.qms.objective.set.v1"]
    data: QualityObjectiveSetData


class QualityObjectiveEvaluated(CloudEvent):
    """An objective was measured at the end of its period, met or missed."""

    type: Literal["vn.qms.objective.evaluated.v1"]
    data: QualityObjectiveEvaluatedData


OBJECTIVE_EVENTS: tuple[type[CloudEvent], ...] = (QualityObjectiveSet, QualityObjectiveEvaluated)
