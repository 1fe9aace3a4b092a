"""RFC 9457 problem details for every refusal the API returns."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
    "unavailable": "The CAPA worker did not answer in time",
    "internal_error": "The CAPA worker failed on this command",
}


class ProblemError(Exception):
    """Raise anywhere in a route to answer with a problem document."""

    def __init__(self, kind: str, status: int, detail: str, **extensions: Any) -> None:
        self.kind = kind
        self.status = status
        self.detail = detail
        self.extensions = extensions
        super().__init__(detail)


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


def refusal_problem(reply: dict[str, Any]) -> ProblemError:
    """The problem for a refusal the command agent replied with."""
    kind = str(reply.get("kind", "invalid_command"))
    extensions = {k: v for k, v in reply.items() if k not in {"ok", "kind", "detail"}}
    return ProblemError(kind, REFUSAL_STATUS.get(kind, 422), str(reply.get("detail")), **extensions)


async def handle_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem_response(exc.kind, exc.status, exc.detail, headers, **exc.extensions)


async def handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
    return problem_response("invalid_request", 422, detail, errors=errors)
