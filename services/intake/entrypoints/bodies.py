"""Reading publish requests: size limits, content types, structured and binary modes."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from fastapi import Request
from pydantic_core import from_json

from services.intake.entrypoints.problems import ProblemError

STRUCTURED_TYPES = ("application/cloudevents+json", "application/json")
BATCH_TYPES = ("application/cloudevents-batch+json", "application/json")
BINARY_DATA_TYPE = "application/json"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, or 413 as soon as it is known to be larger than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def parse_json(body: bytes) -> Any:
    try:
        return from_json(body)
    except ValueError as exc:
        raise ProblemError(
            400, "malformed-json", f"the body is not valid JSON: {exc}", reason="malformed_json"
        ) from exc


async def read_single_event(request: Request, limit: int) -> Any:
    """One event as a dict: the JSON body (structured mode) or ce-* headers + data (binary)."""
    kind = media_type(request)
    binary = "ce-specversion" in request.headers
    if kind == "application/cloudevents+json" or (kind == "application/json" and not binary):
        return parse_json(await read_limited(request, limit))
    if binary and kind == BINARY_DATA_TYPE:
        return binary_event(request, parse_json(await read_limited(request, limit)))
    raise unsupported(kind, [*STRUCTURED_TYPES, "application/json with ce-* headers (binary)"])


def binary_event(request: Request, data: Any) -> dict[str, Any]:
    """CloudEvents HTTP binding, binary mode: attributes are percent-encoded ce-* headers.

    Each value is percent-decoded (UTF-8) before it is validated and scope-checked like a
    structured event's, so `ce-agencycode: H57%2E01` is the agency H57.01.
    """
    event: dict[str, Any] = {
        name[3:]: header_attribute(name, value)
        for name, value in request.headers.items()
        if name.startswith("ce-") and len(name) > 3
    }
    event["datacontenttype"] = BINARY_DATA_TYPE
    event["data"] = data
    return event


def header_attribute(name: str, value: str) -> str:
    """The attribute value of one ce-* header, or 422 naming the attribute."""
    reason = None
    if not value.isascii() or not value.isprintable():
        reason = "a header value must be printable ASCII; percent-encode anything else"
    else:
        try:
            return unquote(value, errors="strict")
        except UnicodeDecodeError:
            reason = "the percent-encoded bytes are not UTF-8"
    raise ProblemError(
        422,
        "invalid-event",
        "the event does not match its contract",
        [{"field": name[3:], "reason": f"header {name}: {reason}"}],
        reason="invalid",
    )


async def read_batch_body(request: Request, byte_limit: int) -> bytes:
    """The raw batch body (parsed by the admission step, possibly in a worker process)."""
    kind = media_type(request)
    if kind not in BATCH_TYPES:
        raise unsupported(kind, list(BATCH_TYPES))
    return await read_limited(request, byte_limit)


def unsupported(kind: str, accepted: list[str]) -> ProblemError:
    return ProblemError(
        415,
        "unsupported-media-type",
        f"content type {kind or '(none)'!r} is not accepted here; use one of {accepted}",
        reason="unsupported_media_type",
    )


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        413, "body-too-large", f"the body is larger than {limit} bytes", reason="body_too_large"
    )
