"""How every Kafka client of the platform authenticates: TLS and SASL from `CommonSettings`.

One function turns the settings into aiokafka keyword arguments (producers, consumers,
admin clients), one into faust's broker credentials; both read the same settings, so an
aiokafka client and a faust app of one service always speak the same protocol.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka.abc import AbstractTokenProvider
from aiokafka.helpers import create_ssl_context

if TYPE_CHECKING:
    import faust

    from services.common.settings import CommonSettings

# A token is refreshed this long before the endpoint says it expires.
_TOKEN_REFRESH_MARGIN_S = 30.0


class ClientCredentialsTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """OAUTHBEARER token from an OAuth 2.0 client-credentials endpoint, cached until near expiry."""

    def __init__(
        self, token_url: str, client_id: str, client_secret: str, scope: str | None = None
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self._token: str | None = None
        self._expires_at = 0.0

    async def token(self) -> str:
        if self._token is None or time.monotonic() >= self._expires_at:
            token, lifetime = await asyncio.to_thread(self._fetch)
            self._token = token
            self._expires_at = time.monotonic() + max(lifetime - _TOKEN_REFRESH_MARGIN_S, 0.0)
            return token
        return self._token

    def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.client_id}
        form["client_secret"] = self.client_secret
        if self.scope:
            form["scope"] = self.scope
        request = urllib.request.Request(
            self.token_url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ValueError(f"{self.token_url}: the answer has no access_token")
        return token, float(body.get("expires_in", 300))


class FileTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """OAUTHBEARER token read from a file at each (re)authentication: a mounted token that its
    issuer (e.g. a Kubernetes projected volume) renews in place."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def token(self) -> str:
        text = (await asyncio.to_thread(self.path.read_text, encoding="utf-8")).strip()
        if not text:
            raise ValueError(f"{self.path}: the OAUTHBEARER token file is empty")
        return text


def ssl_context(settings: CommonSettings) -> ssl.SSLContext | None:
    """The TLS context for an SSL or SASL_SSL listener; None over plaintext."""
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
        certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
        keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
    )
    return context


def token_provider(settings: CommonSettings) -> AbstractTokenProvider:
    """The OAUTHBEARER token source the settings name: a token file or a token endpoint."""
    if settings.kafka_oauth_token_file is not None:
        return FileTokenProvider(settings.kafka_oauth_token_file)
    if not (settings.kafka_oauth_token_url and settings.kafka_oauth_client_id):
        raise ValueError("OAUTHBEARER needs KAFKA_OAUTH_TOKEN_FILE or KAFKA_OAUTH_TOKEN_URL")
    return ClientCredentialsTokenProvider(
        settings.kafka_oauth_token_url,
        settings.kafka_oauth_client_id,
        settings.kafka_oauth_client_secret.get_secret_value(),
        settings.kafka_oauth_scope or None,
    )


def aiokafka_security(settings: CommonSettings) -> dict[str, Any]:
    """Keyword arguments of AIOKafkaProducer/Consumer/AdminClient for the configured security."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol.startswith("SASL"):
        mechanism = settings.kafka_sasl_mechanism
        options["sasl_mechanism"] = mechanism
        if mechanism == "OAUTHBEARER":
            options["sasl_oauth_token_provider"] = token_provider(settings)
        else:
            options["sasl_plain_username"] = settings.kafka_sasl_username
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def kafka_client_options(settings: CommonSettings) -> dict[str, Any]:
    """`bootstrap_servers` plus the security options: what every aiokafka client is built with."""
    return {"bootstrap_servers": settings.kafka_bootstrap_servers, **aiokafka_security(settings)}


def faust_credentials(settings: CommonSettings) -> faust.auth.Credentials | None:
    """faust's `broker_credentials` for the configured security (None over plaintext)."""
    import faust

    protocol = settings.kafka_security_protocol
    context = ssl_context(settings)
    if not protocol.startswith("SASL"):
        return faust.SSLCredentials(context) if context is not None else None
    if settings.kafka_sasl_mechanism == "OAUTHBEARER":
        credentials: faust.auth.Credentials = faust.OAuthCredentials(
            oauth_cb=token_provider(settings), ssl_context=context
        )
    else:
        credentials = faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    return credentials


def describe_access(settings: CommonSettings) -> str:
    """How this process reaches Kafka, for error messages (never the secret)."""
    protocol = settings.kafka_security_protocol
    where = f"Kafka at {settings.kafka_bootstrap_servers} over {protocol}"
    if protocol.startswith("SASL"):
        who = (
            "an OAUTHBEARER token"
            if settings.kafka_sasl_mechanism == "OAUTHBEARER"
            else f"user {settings.kafka_sasl_username!r} ({settings.kafka_sasl_mechanism})"
        )
        where += f" as {who}"
    return where


class KafkaAccessError(RuntimeError):
    """Kafka could not be reached or refused this process at start-up (one line to act on)."""


def access_error(settings: CommonSettings, error: BaseException) -> KafkaAccessError:
    """The start-up error for a client that could not connect: where, as whom, what to check."""
    if settings.kafka_security_protocol.startswith("SASL"):
        check = "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD (or the token), KAFKA_SSL_CAFILE"
    elif settings.kafka_security_protocol == "SSL":
        check = "KAFKA_SSL_CAFILE and the listener's protocol (KAFKA_SECURITY_PROTOCOL)"
    else:
        check = "KAFKA_BOOTSTRAP_SERVERS and KAFKA_SECURITY_PROTOCOL"
    reason = " ".join(str(error).split()) or type(error).__name__
    return KafkaAccessError(
        f"cannot connect to {describe_access(settings)}: {reason}; check {check}"
    )
