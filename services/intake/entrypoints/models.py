"""Response shapes of the publishing API, for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.intake.entrypoints.problems import PROBLEM_CONTENT_TYPE, Problem


class AcceptanceView(BaseModel):
    """Where an accepted event lies on Kafka; `duplicate` when it had been accepted before."""

    id: str
    source: str
    topic: str
    partition: int
    offset: int
    receivedtime: datetime
    duplicate: bool


class BatchItemResult(BaseModel):
    index: int
    id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    problem: Problem | None = None


class BatchResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItemResult] = Field(description="One per event, in request order.")


def _problem(description: str) -> dict[str, Any]:
    return {
        "model": Problem,
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("The body is not JSON."),
    401: _problem("Missing or unknown bearer token."),
    403: _problem(
        "The publisher may not publish this event: an agency it names, its family or its "
        "source is outside the credential's scope."
    ),
    409: _problem("An event with this source and id was accepted before with other content."),
    413: _problem("Body, batch or burst too large."),
    415: _problem("Unsupported content type."),
    422: _problem("Invalid event (field and reason listed), or time too far in the future."),
    429: _problem("Over the publisher's rate limit; see Retry-After."),
    503: _problem("Kafka did not acknowledge, or the service is starting; retry."),
}
