from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.intake.adapters.oidc import OidcAuthenticator
from tests.unit.intake.jwt_helpers import PrivateKey, b64, jwk_of, mint

pytestmark = pytest.mark.unit

NOW = 1_790_000_000
ISSUER = "https://id.example.gov.vn/realms/qms"
KEYS: dict[str, PrivateKey] = {
    "rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ec-1": ec.generate_private_key(ec.SECP256R1()),
    "ed-1": Ed25519PrivateKey.generate(),
}


def claims(**changes: Any) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "aud": "qms-intake",
        "azp": "h56-one-stop-shop",
        "exp": NOW + 300,
        "iat": NOW,
        "qms_agencies": ["H56.*"],
        "qms_families": "dossier complaint capa",
        **changes,
    }


def authenticator(jwks: dict[str, Any] | None = None) -> OidcAuthenticator:
    document = jwks or {"keys": [jwk_of(key, kid) for kid, key in KEYS.items()]}

    async def fetch() -> dict[str, Any]:
        return document

    return OidcAuthenticator(
        jwks_url="https://id.example.gov.vn/jwks",
        issuer=ISSUER,
        audience="qms-intake",
        fetch_jwks=fetch,
        clock=lambda: NOW,
    )


@pytest.mark.parametrize("kid", sorted(KEYS))
async def test_a_valid_token_maps_its_claims_to_a_publisher_scope(kid: str) -> None:
    publisher = await authenticator().authenticate(mint(KEYS[kid], kid, claims()))
    assert publisher is not None
    assert publisher.name == "oidc:h56-one-stop-shop"
    assert publisher.agencies == ("H56.*",)
    assert publisher.families == {"dossier", "complaint"}  # capa is never publishable


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": NOW - 120},
        {"nbf": NOW + 600},
        {"iss": "https://evil.example"},
        {"aud": "another-api"},
        {"exp": None},
    ],
    ids=["expired", "not-yet", "issuer", "audience", "no-exp"],
)
async def test_invalid_claims_are_refused(changes: dict[str, Any]) -> None:
    token = mint(KEYS["ed-1"], "ed-1", claims(**changes))
    assert await authenticator().authenticate(token) is None


async def test_a_tampered_token_is_refused() -> None:
    header, _, signature = mint(KEYS["rsa-1"], "rsa-1", claims()).split(".")
    forged = b64(
        b'{"qms_agencies": ["*"], "exp": 9999999999, "iss": "'
        + ISSUER.encode()
        + b'", "aud": "qms-intake"}'
    )
    assert await authenticator().authenticate(f"{header}.{forged}.{signature}") is None


async def test_unsigned_and_hmac_tokens_are_refused() -> None:
    header = b64(b'{"alg": "none", "kid": "ed-1"}')
    body = b64(b'{"exp": 9999999999}')
    assert await authenticator().authenticate(f"{header}.{body}.") is None
    hs = mint(KEYS["ed-1"], "ed-1", claims(), alg="HS256")
    assert await authenticator().authenticate(hs) is None


async def test_an_unknown_key_or_a_key_of_another_type_is_refused() -> None:
    stranger = Ed25519PrivateKey.generate()
    assert await authenticator().authenticate(mint(stranger, "ed-2", claims())) is None
    assert await authenticator().authenticate(mint(stranger, "ed-1", claims())) is None
    # An EC key presented under the RSA key's id.
    assert await authenticator().authenticate(mint(KEYS["ec-1"], "rsa-1", claims())) is None


async def test_opaque_tokens_are_not_jwts() -> None:
    assert await authenticator().authenticate("dev-demo-province-token") is None
