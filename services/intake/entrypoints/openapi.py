"""The OpenAPI document: event schemas from the contracts, an example for every family."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from schemas.catalogue import ALL_EVENTS, PUBLISHED_FAMILIES, event_type_of, family_of
from services.intake.entrypoints.bodies import BATCH_TYPES, STRUCTURED_TYPES
from services.intake.entrypoints.examples import batch_example, openapi_examples

PUBLISHABLE = [m for m in ALL_EVENTS if family_of(event_type_of(m)) in PUBLISHED_FAMILIES]

DESCRIPTION = """\
The only way events get into QMS Trail. Authenticate with `Authorization: Bearer <token>`.

* `POST /v1/events`: one CloudEvent, structured mode (`application/cloudevents+json` or
  `application/json`) or binary mode (`ce-*` headers, `Content-Type: application/json`,
  body = `data`). 202 after Kafka acknowledged; 200 with the original acceptance and
  `"duplicate": true` when the same `source` + `id` was already accepted.
* `POST /v1/events/batch`: a JSON array of structured events, one result per event;
  `?atomic=true` for all-or-nothing.

Errors are RFC 9457 problem details (`application/problem+json`) naming the event (index),
the field and the reason.
"""


def install_openapi(app: FastAPI, max_batch_events: int) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title="QMS Trail intake", version="1.0.0", description=DESCRIPTION, routes=app.routes
        )
        refs, definitions = models_json_schema(
            [(model, "validation") for model in PUBLISHABLE],
            ref_template="#/components/schemas/{model}",
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.update(definitions.get("$defs", {}))
        event_schema = {"oneOf": [refs[(model, "validation")] for model in PUBLISHABLE]}
        paths = document["paths"]
        paths["/v1/events"]["post"]["requestBody"] = {
            "required": True,
            "content": {
                kind: {"schema": event_schema, "examples": openapi_examples()}
                for kind in STRUCTURED_TYPES
            },
        }
        paths["/v1/events/batch"]["post"]["requestBody"] = {
            "required": True,
            "content": {
                kind: {
                    "schema": {
                        "type": "array",
                        "items": event_schema,
                        "minItems": 1,
                        "maxItems": max_batch_events,
                    },
                    "examples": batch_example(),
                }
                for kind in BATCH_TYPES
            },
        }
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
