"""CAPA's refusals as the platform's problem documents (services.common.problems).

The shape, the media type and the handlers are the common module's; CAPA adds its titles,
the status each domain refusal becomes, and the refusal's details (`current_status`,
`current_version`, `allowed_commands`, `expected_version`) as RFC 9457 extension members.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.capa.service_layer.replies import CommandRefused
from services.common.problems import ProblemError, openapi_problem

# The domain's refusal kinds and the HTTP status each becomes.
REFUSAL_STATUS = {
    "not_found": 404,
    "forbidden": 403,
    "stale_version": 409,
    "illegal_transition": 422,
    "invalid_command": 422,
    "invalid_signature": 422,
    "stale_signature": 409,
    "internal_error": 500,
}
_TITLES = {
    "not_found": "No such CAPA",
    "forbidden": "Your role may not do this",
    "stale_version": "The CAPA changed since you read it",
    "illegal_transition": "Not allowed in the CAPA's current status",
    "invalid_command": "The command breaks a CAPA rule",
    "invalid_signature": "The decision's electronic signature is refused",
    "stale_signature": "The decision was signed over a state that is no longer current",
    "unavailable": "The CAPA worker cannot decide this now; retry",
    "internal_error": "The CAPA worker failed on this command",
}
RETRY_AFTER_S = 1


def capa_problem(
    kind: str,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    extensions: Mapping[str, object] | None = None,
    errors: Iterable[Mapping[str, Any]] = (),
) -> ProblemError:
    """A refusal of kind `kind` (`stale_version`, …): type `/problems/stale-version`."""
    return ProblemError(
        status,
        kind.replace("_", "-"),
        detail,
        errors,
        headers=headers,
        reason=kind,
        title=_TITLES.get(kind),
        extensions=extensions,
    )


def not_found(detail: str) -> ProblemError:
    return capa_problem("not_found", 404, detail)


def unavailable(detail: str) -> ProblemError:
    """503 with Retry-After: the command was not decided here now; a retry is safe."""
    return capa_problem("unavailable", 503, detail, {"Retry-After": str(RETRY_AFTER_S)})


def refusal_problem(refused: CommandRefused) -> ProblemError:
    """The problem for a refusal the command agent replied with."""
    status = REFUSAL_STATUS.get(refused.kind, 422)
    # A refusal naming a field of the body says so the way invalid input does (`errors`).
    errors = [{"field": f"body.{refused.field}", "reason": refused.detail}] if refused.field else []
    return capa_problem(
        refused.kind, status, refused.detail, extensions=refused.extensions(), errors=errors
    )


_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
}
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"schema": {"type": "string"}}}

UNAVAILABLE = openapi_problem(
    "Not decided now (the owning worker is starting, rebalancing or did not answer in "
    "time). Retry after Retry-After seconds with the same `expected_version`: a command "
    "that was applied after all is then refused as stale (409), never applied twice.",
    _RETRY_AFTER,
)
# The refusals every /v1 route may answer with, for the OpenAPI document.
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: openapi_problem("Missing or unknown bearer token.", _WWW_AUTHENTICATE),
    404: openapi_problem("No such CAPA, or one of an agency outside the caller's scope."),
    422: openapi_problem("Invalid request: `errors` names each field and the reason."),
}
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    **READ_RESPONSES,
    400: openapi_problem("The body is not JSON (or not UTF-8)."),
    403: openapi_problem("The caller's role may not give this command."),
    409: openapi_problem(
        "Stale `expected_version` (`current_version` says where the CAPA is), or a decision "
        "signed over a state that is not the current one (`current_state_hash`)."
    ),
    422: openapi_problem(
        "Illegal transition (`current_status`, `allowed_commands`), a broken CAPA rule, a "
        "refused signature, or an invalid body (`errors` names each field and the reason)."
    ),
    500: openapi_problem("The worker failed on this command (a bug; it is dead-lettered)."),
    503: UNAVAILABLE,
}
READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: openapi_problem("Not ready: no probe command came back through this worker.", _RETRY_AFTER)
}
