"""RFC 9457 problem details: one shape of error document for every HTTP API of the platform.

`install_problem_handlers` makes every error, ours or the framework's (unknown route,
invalid parameter), an application/problem+json document with type, title, status,
detail and, for invalid input, the list of fields and reasons. A service adds members of
its own (RFC 9457 extension members, e.g. CAPA's `current_status`) through `extensions`;
they never replace the standard ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from pydantic_core import to_json
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"
MISSING_TOKEN = "missing bearer token (Authorization: Bearer <token>)"

TITLES = {
    400: "Malformed request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid event",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class ProblemItem(BaseModel):
    """One reason: which event of a batch (index), which field, why."""

    index: int | None = None
    field: str = Field(description="Dotted path, e.g. 'data.due_at'; empty for the whole event.")
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details with the list of field errors."""

    type: str = Field(examples=["/problems/invalid-event"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemItem] = Field(default_factory=list)


def openapi_problem(description: str, headers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A route's `responses` entry for a problem document (and the headers it carries)."""
    documented: dict[str, Any] = {
        "model": Problem,
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        documented["headers"] = dict(headers)
    return documented


def problem_type(slug: str) -> str:
    return f"/problems/{slug}"


def problem_body(
    status: int,
    slug: str,
    detail: str,
    errors: Iterable[Mapping[str, Any]] = (),
    title: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The document; `extensions` are extra members and cannot replace a standard one."""
    standard = {
        "type": problem_type(slug),
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "errors": list(errors),
    }
    clashing = set(extensions or {}) & {*standard, "instance"}
    if clashing:
        raise ValueError(f"extension members may not replace {sorted(clashing)}")
    return {**standard, **(extensions or {})}


class ProblemError(Exception):
    """Raised anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        errors: Iterable[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
        reason: str | None = None,
        title: str | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.body = problem_body(status, slug, detail, errors, title, extensions)
        self.headers = dict(headers or {})
        self.reason = reason or slug  # a metrics label, for the services that count refusals


def unauthenticated(
    realm: str, detail: str, *, invalid_token: bool = False, reason: str | None = None
) -> ProblemError:
    """401 with the RFC 6750 challenge: no bearer token, or (`invalid_token`) an unknown one."""
    challenge = f'Bearer realm="{realm}"' + (', error="invalid_token"' if invalid_token else "")
    return ProblemError(
        401, "unauthenticated", detail, headers={"WWW-Authenticate": challenge}, reason=reason
    )


def problem_response(body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        content=to_json(body),
        status_code=int(body["status"]),
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )


def validation_items(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's validation errors as `{field, reason}`: `query.from`, `path.subject`, …"""
    return [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]


def install_problem_handlers(
    app: FastAPI, on_refusal: Callable[[Request, ProblemError], None] | None = None
) -> None:
    """Make every error, ours or the framework's, a problem document.

    `on_refusal` sees each raised ProblemError first (intake counts them by reason).
    """

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        if on_refusal is not None:
            on_refusal(request, exc)
        return problem_response({**exc.body, "instance": request.url.path}, exc.headers)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        body = problem_body(exc.status_code, "http-error", str(exc.detail))
        return problem_response({**body, "instance": request.url.path}, exc.headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        items = validation_items(exc)
        body = problem_body(
            422,
            "invalid-request",
            "; ".join(f"{i['field']}: {i['reason']}" for i in items)
            or "the request parameters are invalid",
            items,
            title="Invalid request",
        )
        return problem_response({**body, "instance": request.url.path})

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
