"""Kafka security settings become the right aiokafka options and faust credentials."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from pydantic import ValidationError

from services.common.kafka_security import (
    ClientCredentialsTokenProvider,
    FileTokenProvider,
    access_error,
    aiokafka_security,
    faust_credentials,
    kafka_client_options,
)
from services.common.settings import CommonSettings

pytestmark = pytest.mark.unit


def settings(**env: Any) -> CommonSettings:
    return CommonSettings.model_validate(env)


def test_plaintext_is_the_default_and_needs_no_credentials() -> None:
    plain = settings(KAFKA_BOOTSTRAP_SERVERS="k:9092")
    assert kafka_client_options(plain) == {
        "bootstrap_servers": "k:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(plain) is None


def test_tls_without_sasl_gives_an_ssl_context(tmp_path: Path) -> None:
    tls = settings(KAFKA_SECURITY_PROTOCOL="SSL")
    options = aiokafka_security(tls)
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert "sasl_mechanism" not in options
    credentials = faust_credentials(tls)
    assert isinstance(credentials, faust.SSLCredentials)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_password_mechanisms_over_tls(mechanism: str) -> None:
    secured = settings(
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM=mechanism,
        KAFKA_SASL_USERNAME="qms-intake",
        KAFKA_SASL_PASSWORD="s3cret",
    )
    options = aiokafka_security(secured)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "qms-intake"
    assert options["sasl_plain_password"] == "s3cret"
    assert isinstance(options["ssl_context"], ssl.SSLContext)

    credentials = faust_credentials(secured)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == mechanism
    assert credentials.protocol.value == "SASL_SSL"
    assert (credentials.username, credentials.password) == ("qms-intake", "s3cret")


def test_sasl_over_plaintext_has_no_ssl_context() -> None:
    secured = settings(
        KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
        KAFKA_SASL_USERNAME="u",
        KAFKA_SASL_PASSWORD="p",
    )
    assert "ssl_context" not in aiokafka_security(secured)
    credentials = faust_credentials(secured)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"


def test_oauthbearer_from_a_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJ.token.sig\n", encoding="utf-8")
    secured = settings(
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="OAUTHBEARER",
        KAFKA_OAUTH_TOKEN_FILE=str(token_file),
    )
    options = aiokafka_security(secured)
    assert options["sasl_mechanism"] == "OAUTHBEARER"
    provider = options["sasl_oauth_token_provider"]
    assert isinstance(provider, FileTokenProvider)
    assert asyncio.run(provider.token()) == "eyJ.token.sig"
    assert "sasl_plain_password" not in options

    credentials = faust_credentials(secured)
    assert isinstance(credentials, faust.OAuthCredentials)
    assert isinstance(credentials.oauth_cb, FileTokenProvider)


def test_oauthbearer_from_a_client_credentials_endpoint() -> None:
    secured = settings(
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="OAUTHBEARER",
        KAFKA_OAUTH_TOKEN_URL="https://idp.example/token",
        KAFKA_OAUTH_CLIENT_ID="qms-metrics",
        KAFKA_OAUTH_CLIENT_SECRET="cs",
        KAFKA_OAUTH_SCOPE="kafka",
    )
    provider = aiokafka_security(secured)["sasl_oauth_token_provider"]
    assert isinstance(provider, ClientCredentialsTokenProvider)
    assert (provider.token_url, provider.client_id, provider.client_secret, provider.scope) == (
        "https://idp.example/token",
        "qms-metrics",
        "cs",
        "kafka",
    )


class _CountingEndpoint(ClientCredentialsTokenProvider):
    """The token endpoint replaced by a counter: one fetch serves until near expiry."""

    def __init__(self, lifetime_s: float) -> None:
        super().__init__("https://idp.example/token", "id", "secret")
        self.lifetime_s = lifetime_s
        self.fetches = 0

    def _fetch(self) -> tuple[str, float]:
        self.fetches += 1
        return f"token-{self.fetches}", self.lifetime_s


def test_a_token_is_cached_until_near_its_expiry() -> None:
    long_lived = _CountingEndpoint(lifetime_s=3600)
    assert asyncio.run(long_lived.token()) == asyncio.run(long_lived.token()) == "token-1"
    short_lived = _CountingEndpoint(lifetime_s=10)  # inside the refresh margin: every time
    asyncio.run(short_lived.token())
    assert asyncio.run(short_lived.token()) == "token-2"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "OAUTHBEARER"},
            "KAFKA_OAUTH_TOKEN_FILE",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "c.pem"}, "KAFKA_SSL_KEYFILE"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ],
)
def test_incomplete_security_settings_are_refused_by_name(env: dict[str, str], names: str) -> None:
    with pytest.raises(ValidationError, match=names):
        settings(**env)


def test_the_access_error_is_one_line_naming_user_and_mechanism() -> None:
    secured = settings(
        KAFKA_BOOTSTRAP_SERVERS="k:9093",
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        KAFKA_SASL_USERNAME="qms-ledger",
        KAFKA_SASL_PASSWORD="wrong",
    )
    message = str(access_error(secured, OSError("Unable to bootstrap\nfrom k:9093")))
    assert "\n" not in message
    assert "k:9093" in message and "'qms-ledger' (SCRAM-SHA-512)" in message
    assert "KAFKA_SASL_PASSWORD" in message and "wrong" not in message
