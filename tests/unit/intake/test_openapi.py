from __future__ import annotations

from typing import Any

import pytest

from schemas import parse_event
from schemas.catalogue import PUBLISHED_FAMILIES
from services.intake.config import IntakeSettings
from services.intake.entrypoints.app import create_app

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # Building the app reads the publishers file; nothing connects until the lifespan runs.
    app = create_app(IntakeSettings.model_validate({"QMS_ENV": "development"}))
    return app.openapi()


def test_every_published_family_has_a_valid_example(document: dict[str, Any]) -> None:
    content = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    for media_type in ("application/cloudevents+json", "application/json"):
        examples = content[media_type]["examples"]
        families = {
            parse_event(e["value"], refuse_unknown_fields=True).family for e in examples.values()
        }
        assert families == set(PUBLISHED_FAMILIES)


def test_the_event_schema_offers_every_publishable_type_and_no_capa(
    document: dict[str, Any],
) -> None:
    content = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    refs = [item["$ref"] for item in content["application/json"]["schema"]["oneOf"]]
    names = {ref.rsplit("/", 1)[1] for ref in refs}
    assert {
        "DossierReceived",
        "ComplaintFiled",
        "SatisfactionRated",
        "AuditFindingRecorded",
        "QualityObjectiveSet",
    } <= names
    assert not any(name.startswith("Capa") for name in names)
    assert names <= document["components"]["schemas"].keys()


def test_errors_are_documented_as_problem_details(document: dict[str, Any]) -> None:
    responses = document["paths"]["/v1/events"]["post"]["responses"]
    for status in ("401", "403", "413", "415", "422", "429"):
        assert "application/problem+json" in responses[status]["content"]
    assert {"202", "200"} <= responses.keys()
