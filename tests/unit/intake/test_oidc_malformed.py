"""Malformed tokens are invalid (None, hence 401), never an error; a down JWKS is told apart."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.intake.adapters.oidc import JwksUnavailable, OidcAuthenticator
from tests.unit.intake.jwt_helpers import b64, jwk_of, mint

pytestmark = pytest.mark.unit

NOW = 1_790_000_000
KEY = Ed25519PrivateKey.generate()
CLAIMS = {"aud": "qms-intake", "exp": NOW + 300, "qms_agencies": ["H56.*"]}


class FlakyJwks:
    """A JWKS endpoint that answers, or is down (raises as httpx does)."""

    def __init__(self) -> None:
        self.down = False
        self.fetches = 0

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        if self.down:
            raise httpx.ConnectError("connection refused")
        return {"keys": [jwk_of(KEY, "k1")]}


def authenticator(
    jwks: FlakyJwks | None = None, clock: list[float] | None = None
) -> OidcAuthenticator:
    now = clock or [NOW]
    return OidcAuthenticator(
        jwks_url="https://id.example/jwks",
        issuer=None,
        audience="qms-intake",
        fetch_jwks=jwks or FlakyJwks(),
        clock=lambda: now[0],
    )


def token(header: Any, claims: Any = CLAIMS, signature: str = "c2ln") -> str:
    def part(value: Any) -> str:
        return (
            value
            if isinstance(value, str) and "." not in value
            else b64(json.dumps(value).encode())
        )

    return f"{part(header)}.{part(claims)}.{signature}"


MALFORMED = {
    "header null": token(None),
    "header a list": token(["EdDSA"]),
    "header a string": token("not-json-at-all!"),
    "header a number": token(7),
    "alg a list": token({"alg": ["EdDSA"], "kid": "k1"}),
    "alg null": token({"alg": None, "kid": "k1"}),
    "kid a number": token({"alg": "EdDSA", "kid": 1}),
    "kid an object": token({"alg": "EdDSA", "kid": {"k": 1}}),
    "claims null": token({"alg": "EdDSA", "kid": "k1"}, None),
    "claims a list": token({"alg": "EdDSA", "kid": "k1"}, [1, 2]),
    "garbage base64": "%%%.###.!!!",
    "non-ascii": "é.é.é",
    "not utf-8 json": f"{b64(bytes([0xFF, 0xFE]))}.{b64(b'{}')}.c2ln",
    "empty parts": "..",
    "signature garbage": token({"alg": "EdDSA", "kid": "k1"}, CLAIMS, "@@@"),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_token_is_invalid_not_an_error(raw: str) -> None:
    assert await authenticator().authenticate(raw) is None


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_token_is_invalid_even_while_the_jwks_is_down(raw: str) -> None:
    jwks = FlakyJwks()
    jwks.down = True
    assert await authenticator(jwks).authenticate(raw) is None


@pytest.mark.parametrize(
    "claims",
    [
        {**CLAIMS, "exp": True},
        {**CLAIMS, "exp": "soon"},
        {**CLAIMS, "nbf": "now"},
        {**CLAIMS, "aud": {"a": 1}},
    ],
    ids=["exp-bool", "exp-string", "nbf-string", "aud-object"],
)
async def test_wrong_typed_claims_are_invalid(claims: dict[str, Any]) -> None:
    assert await authenticator().authenticate(mint(KEY, "k1", claims)) is None


async def test_a_valid_token_while_the_jwks_is_down_is_unavailable_not_invalid() -> None:
    jwks = FlakyJwks()
    jwks.down = True
    with pytest.raises(JwksUnavailable):
        await authenticator(jwks).authenticate(mint(KEY, "k1", CLAIMS))


async def test_cached_keys_keep_deciding_through_an_outage_and_fetches_are_spaced() -> None:
    jwks = FlakyJwks()
    clock = [float(NOW)]
    oidc = authenticator(jwks, clock)
    lasting = {**CLAIMS, "exp": NOW + 7200}
    assert await oidc.authenticate(mint(KEY, "k1", lasting)) is not None
    jwks.down = True
    clock[0] += 3600  # the cache is stale: a refresh is tried, fails, the known key decides
    assert await oidc.authenticate(mint(KEY, "k1", lasting)) is not None
    with pytest.raises(JwksUnavailable):  # a key it never saw cannot be decided
        await oidc.authenticate(mint(Ed25519PrivateKey.generate(), "k2", CLAIMS))
    fetches = jwks.fetches
    with pytest.raises(JwksUnavailable):  # refused at once, without another fetch
        await oidc.authenticate(mint(Ed25519PrivateKey.generate(), "k3", CLAIMS))
    assert jwks.fetches == fetches


async def test_a_jwks_document_of_the_wrong_shape_is_unavailable() -> None:
    async def fetch() -> Any:
        return ["not", "a", "jwks"]

    oidc = OidcAuthenticator(
        jwks_url="https://id.example/jwks",
        issuer=None,
        audience=None,
        fetch_jwks=fetch,
        clock=lambda: NOW,
    )
    with pytest.raises(JwksUnavailable):
        await oidc.authenticate(mint(KEY, "k1", CLAIMS))


async def test_the_sources_claim_becomes_the_publishers_sources() -> None:
    publisher = await authenticator().authenticate(
        mint(KEY, "k1", {**CLAIMS, "qms_sources": "urn:vn:gov:h56:* urn:x"})
    )
    assert publisher is not None and publisher.sources == ("urn:vn:gov:h56:*", "urn:x")
