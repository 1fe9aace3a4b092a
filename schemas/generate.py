"""Generate the checked-in JSON Schema files and the AsyncAPI document from the models.

The models are the single source; `qms schemas check` (and a test) fail when the files on
disk drift from what the models generate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from schemas.catalogue import ALL_EVENTS, EVENT_TYPES, FAMILY_TOPICS, family_of
from schemas.envelope import CloudEvent

SCHEMAS_DIR = Path(__file__).resolve().parent
JSON_SCHEMA_DIR = SCHEMAS_DIR / "jsonschema"
ASYNCAPI_PATH = SCHEMAS_DIR / "asyncapi.json"
SCHEMA_ID_BASE = "https://schemas.qms-trail.vn/events/"


def json_schema_for(event_type: str) -> dict[str, Any]:
    model = EVENT_TYPES[event_type]
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_ID_BASE}{event_type}.json",
        **schema,
    }


def asyncapi_document(prefix: str = "qms.") -> dict[str, Any]:
    _, definitions = models_json_schema(
        [(model, "validation") for model in ALL_EVENTS],
        ref_template="#/components/schemas/{model}",
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for family, short_topic in FAMILY_TOPICS.items():
        family_messages = {
            model.__name__: {"$ref": f"#/components/messages/{model.__name__}"}
            for event_type, model in EVENT_TYPES.items()
            if family_of(event_type) == family
        }
        channels[family] = {
            "address": prefix + short_topic,
            "title": f"{family} events",
            "messages": family_messages,
            "bindings": {"kafka": {"topic": prefix + short_topic, "bindingVersion": "0.5.0"}},
        }
        action = "receive" if family == "capa" else "send"
        operations[f"{action}{family.capitalize()}Events"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{family}"},
            "messages": [
                {"$ref": f"#/channels/{family}/messages/{name}"} for name in family_messages
            ],
        }
    for event_type, model in EVENT_TYPES.items():
        messages[model.__name__] = _message(event_type, model)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "QMS Trail events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 (Kafka protocol binding, structured mode) "
            "published through intake and by the CAPA service. Record key = subject.",
        },
        "defaultContentType": "application/cloudevents+json; charset=UTF-8",
        "servers": {
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka", "protocolVersion": "4.1"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": definitions["$defs"]},
    }


def _message(event_type: str, model: type[CloudEvent]) -> dict[str, Any]:
    return {
        "name": event_type,
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip(),
        "contentType": "application/cloudevents+json; charset=UTF-8",
        "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The CloudEvents subject."},
                "bindingVersion": "0.5.0",
            }
        },
    }


def rendered_files() -> Mapping[Path, str]:
    """Every generated file and its exact content."""
    files = {
        JSON_SCHEMA_DIR / f"{event_type}.json": _render(json_schema_for(event_type))
        for event_type in EVENT_TYPES
    }
    files[ASYNCAPI_PATH] = _render(asyncapi_document())
    return files


def write_files() -> list[Path]:
    JSON_SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for path, content in rendered_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


def drifted_files() -> list[Path]:
    """Generated files that are missing, stale, or no longer generated."""
    expected = rendered_files()
    drifted = [
        path
        for path, content in expected.items()
        if not path.exists() or path.read_text(encoding="utf-8") != content
    ]
    if JSON_SCHEMA_DIR.exists():
        drifted += [p for p in sorted(JSON_SCHEMA_DIR.glob("*.json")) if p not in expected]
    return drifted


def _render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
