"""Who is publishing: a bearer token looked up by hash (or, when configured, an OIDC JWT)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.problems import MISSING_TOKEN, unauthenticated
from services.intake.adapters.oidc import JwksUnavailable
from services.intake.domain.publishers import Publisher
from services.intake.entrypoints.problems import ProblemError
from services.intake.entrypoints.runtime import Runtime

REALM = "qms-intake"
bearer = HTTPBearer(
    auto_error=False,
    description="A publisher token from the publishers file, or an OIDC access token.",
)


async def current_publisher(
    runtime: Runtime,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Publisher:
    """The authenticated publisher, or 401."""
    if credentials is None or not credentials.credentials:
        raise unauthenticated(REALM, MISSING_TOKEN, reason="missing_token")
    token = credentials.credentials
    publisher = runtime.registry.authenticate(token)
    for authenticator in runtime.authenticators:
        if publisher is not None:
            break
        try:
            publisher = await authenticator.authenticate(token)
        except JwksUnavailable as exc:
            # The token may be valid: the caller should retry, not give up on its credential.
            raise ProblemError(
                503,
                "identity-provider-unavailable",
                "the identity provider's signing keys cannot be fetched; retry later",
                headers={"Retry-After": "5"},
                reason="jwks_unavailable",
            ) from exc
    if publisher is None:
        raise unauthenticated(
            REALM,
            "the bearer token is not valid for any publisher",
            invalid_token=True,
            reason="invalid_token",
        )
    structlog.contextvars.bind_contextvars(publisher=publisher.name)  # on the request's log line
    return publisher


CurrentPublisher = Annotated[Publisher, Depends(current_publisher)]
