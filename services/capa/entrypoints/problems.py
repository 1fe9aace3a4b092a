"""RFC 9457 problem details for every refusal the API returns."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.capa.service_layer.replies import CommandRefused

PROBLEM_BASE = "https://qms-trail.example/problems/"

# The domain's refusal kinds and the HTTP status each becomes.
REFUSAL_STATUS = {
    "not_found": 404,
    "forbidden": 403,
    "stale_version": 409,
    "illegal_transition": 422,
    "invalid_command": 422,
    "internal_error": 500,
}
_TITLES = {
    "not_found": "No such CAPA",
    "forbidden": "Your role may not do this",
    "stale_version": "The CAPA changed since you read it",
    "illegal_transition": "Not allowed in the CAPA's current status",
    "invalid_command": "The command breaks a CAPA rule",
    "unauthorized": "Missing or unknown bearer token",
    "invalid_request": "The request is not valid",
    "unavailable": "The CAPA worker cannot decide this now; retry",
    "internal_error": "The CAPA worker failed on this command",
    "method_not_allowed": "Method not allowed",
}


class ProblemError(Exception):
    """Raise anywhere in a route to answer with a problem document."""

    def __init__(
        self,
        kind: str,
        status: int,
        detail: str,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        self.kind = kind
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extensions = extensions
        super().__init__(detail)


RETRY_AFTER_S = 1


def unavailable(detail: str) -> ProblemError:
    """503 with Retry-After: the command was not decided here now; a retry is safe."""
    return ProblemError("unavailable", 503, detail, {"Retry-After": str(RETRY_AFTER_S)})


def problem_response(
    kind: str, status: int, detail: str, headers: dict[str, str] | None = None, **ext: Any
) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + kind.replace("_", "-"),
        "title": _TITLES.get(kind, kind),
        "status": status,
        "detail": detail,
        **ext,
    }
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def refusal_problem(refused: CommandRefused) -> ProblemError:
    """The problem for a refusal the command agent replied with."""
    status = REFUSAL_STATUS.get(refused.kind, 422)
    return ProblemError(refused.kind, status, refused.detail, None, **refused.extensions())


async def handle_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
    return problem_response(exc.kind, exc.status, exc.detail, headers, **exc.extensions)


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (a body that is not JSON, an unknown route) as problems too."""
    assert isinstance(exc, StarletteHTTPException)
    kind = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http_error"
    )
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(kind, exc.status_code, str(exc.detail), headers)


async def handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
    return problem_response("invalid_request", 422, detail, errors=errors)


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    documented: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": {"type": "object"}}},
    }
    if headers:
        documented["headers"] = headers
    return documented


_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
}
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"schema": {"type": "string"}}}

UNAVAILABLE = _problem(
    "Not decided now (the owning worker is starting, rebalancing or did not answer in "
    "time). Retry after Retry-After seconds with the same `expected_version`: a command "
    "that was applied after all is then refused as stale (409), never applied twice.",
    _RETRY_AFTER,
)
# The refusals every /v1 route may answer with, for the OpenAPI document.
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("Missing or unknown bearer token.", _WWW_AUTHENTICATE),
    404: _problem("No such CAPA, or one of an agency outside the caller's scope."),
    422: _problem("Invalid request: `errors` names each field and the reason."),
}
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    **READ_RESPONSES,
    400: _problem("The body is not JSON (or not UTF-8)."),
    403: _problem("The caller's role may not give this command."),
    409: _problem("Stale `expected_version`: `current_version` says where the CAPA is."),
    422: _problem(
        "Illegal transition (`current_status`, `allowed_commands`), a broken CAPA rule, or an "
        "invalid body (`errors` names each field and the reason)."
    ),
    500: _problem("The worker failed on this command (a bug; the command is dead-lettered)."),
    503: UNAVAILABLE,
}
READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: _problem("Not ready: no probe command came back through this worker.", _RETRY_AFTER)
}
