"""OIDC access tokens (JWT) checked against the issuer's JWKS; claims become a publisher scope.

Production option beside the static tokens: an identity provider issues short-lived
tokens to integrating systems (client-credentials grant), with the agency codes, event
families and source URIs they may publish in three claims (names configurable).
Signatures: RS256, ES256, EdDSA (Ed25519), verified with `cryptography`; `alg: none` and
HMAC are refused. The JWKS is fetched over HTTPS (or read from a `file://` URL) and
cached; an unknown `kid` triggers one refresh, at most every `min_refresh_s`, so key
rotation needs no restart.

Anything malformed in a token (not three parts, bad base64, a header or claims that are
not JSON objects, wrong-typed members) is an invalid token, never an error of ours. When
the JWKS cannot be fetched and no cached key can decide, `JwksUnavailable` says so: the
caller answers 503, since the token may well be valid.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import urlparse

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from schemas.catalogue import PUBLISHED_FAMILIES
from services.intake.config import IntakeSettings
from services.intake.domain.publishers import Publisher

Jwks = dict[str, Any]
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | Ed25519PublicKey
ALGORITHMS = ("RS256", "ES256", "EdDSA")


class InvalidToken(ValueError):
    """Why a JWT was not accepted (logged, never sent back in detail)."""


class JwksUnavailable(Exception):
    """The issuer's keys could not be fetched, so a token could not be checked."""


def b64url_decode(part: str) -> bytes:
    try:
        padded = part + "=" * (-len(part) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except ValueError as exc:  # binascii.Error (outside the alphabet); non-ASCII input
        raise InvalidToken("bad base64url") from exc


def json_object(part: str, what: str) -> dict[str, Any]:
    """A base64url-encoded JSON object (a JWS header or claims set)."""
    try:
        value = json.loads(b64url_decode(part))
    except ValueError as exc:  # not UTF-8, not JSON
        raise InvalidToken(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken(f"{what} is not a JSON object")
    return value


def _int(part: str) -> int:
    return int.from_bytes(b64url_decode(part), "big")


def public_key(jwk: dict[str, Any]) -> PublicKey:
    """The verification key of one JWK (RSA, EC P-256 or OKP Ed25519)."""
    kty = jwk.get("kty")
    if kty == "RSA":
        return rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
    if kty == "EC" and jwk.get("crv") == "P-256":
        return ec.EllipticCurvePublicNumbers(
            _int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1()
        ).public_key()
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    raise InvalidToken(f"unsupported JWK kty={kty!r} crv={jwk.get('crv')!r}")


def verify_signature(algorithm: str, key: PublicKey, signed: bytes, signature: bytes) -> None:
    try:
        if algorithm == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                raise InvalidToken("ES256 signature must be 64 bytes")
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "EdDSA" and isinstance(key, Ed25519PublicKey):
            key.verify(signature, signed)
        else:
            raise InvalidToken(f"algorithm {algorithm} does not match the key type")
    except InvalidSignature as exc:
        raise InvalidToken("bad signature") from exc


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scope(value: Any) -> list[str]:
    """A scope claim: a JSON list of strings or one space-separated string."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


class OidcAuthenticator:
    """Turns a valid access token into a Publisher; None for anything else."""

    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str | None,
        audience: str | None,
        agencies_claim: str = "qms_agencies",
        families_claim: str = "qms_families",
        sources_claim: str = "qms_sources",
        fetch_jwks: Callable[[], Awaitable[Jwks]] | None = None,
        clock: Callable[[], float] = time.time,
        leeway_s: float = 60.0,
        cache_s: float = 300.0,
        min_refresh_s: float = 30.0,
        retry_s: float = 2.0,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.agencies_claim = agencies_claim
        self.families_claim = families_claim
        self.sources_claim = sources_claim
        self.clock = clock
        self.leeway_s = leeway_s
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self.retry_s = retry_s
        self._http: httpx.AsyncClient | None = None
        self._fetch = fetch_jwks or self._fetch_url
        self._keys: dict[str, tuple[str | None, PublicKey]] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> OidcAuthenticator:
        assert settings.oidc_jwks_url
        return cls(
            jwks_url=settings.oidc_jwks_url,
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            agencies_claim=settings.oidc_agencies_claim,
            families_claim=settings.oidc_families_claim,
            sources_claim=settings.oidc_sources_claim,
        )

    async def authenticate(self, token: str) -> Publisher | None:
        """The publisher of a valid token, None for an invalid one.

        Raises JwksUnavailable when the keys needed to decide cannot be fetched.
        """
        try:
            claims = await self.verify(token)
        except InvalidToken:
            return None
        name = next(
            (
                claims[claim]
                for claim in ("azp", "client_id", "sub")
                if isinstance(claims.get(claim), str) and claims[claim]
            ),
            "unknown",
        )
        families = frozenset(_scope(claims.get(self.families_claim))) & set(PUBLISHED_FAMILIES)
        return Publisher(
            name=f"oidc:{name}",
            agencies=tuple(_scope(claims.get(self.agencies_claim))),
            families=families,
            sources=tuple(_scope(claims.get(self.sources_claim))),
        )

    async def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token with a valid signature, issuer, audience and lifetime."""
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("not a JWS compact token")
        # Everything about the token itself is checked before any key is fetched: a
        # malformed token is refused even while the issuer is unreachable.
        header = json_object(parts[0], "header")
        claims = json_object(parts[1], "claims")
        signature = b64url_decode(parts[2])
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise InvalidToken(f"algorithm {algorithm!r} not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("kid is not a string")
        key = await self._key(kid, algorithm)
        verify_signature(algorithm, key, f"{parts[0]}.{parts[1]}".encode(), signature)
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = self.clock()
        expires = claims.get("exp")
        if not _is_number(expires) or now > expires + self.leeway_s:
            raise InvalidToken("expired or without exp")
        not_before = claims.get("nbf")
        if not_before is not None and not _is_number(not_before):
            raise InvalidToken("nbf is not a number")
        if not_before is not None and now < not_before - self.leeway_s:
            raise InvalidToken("not yet valid")
        if self.issuer is not None and claims.get("iss") != self.issuer:
            raise InvalidToken("wrong issuer")
        if self.audience is not None:
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
            if not any(self.audience == item for item in audiences):
                raise InvalidToken("wrong audience")

    async def _key(self, kid: str | None, algorithm: str) -> PublicKey:
        now = self.clock()
        stale = self._fetched_at is None or now - self._fetched_at > self.cache_s
        if stale or (
            kid not in self._keys
            and self._fetched_at is not None
            and now - self._fetched_at > self.min_refresh_s
        ):
            try:
                await self._refresh(now)
            except JwksUnavailable:
                # Keys fetched earlier still decide for the kids they hold (a short outage
                # of the issuer does not stop publishing); any other token cannot be decided.
                if kid not in self._keys and not (kid is None and len(self._keys) == 1):
                    raise
        if kid is None and len(self._keys) == 1:
            kid = next(iter(self._keys))
        if kid not in self._keys:
            raise InvalidToken(f"unknown key id {kid!r}")
        key_algorithm, key = self._keys[kid]
        if key_algorithm is not None and key_algorithm != algorithm:
            raise InvalidToken("the key is not for this algorithm")
        return key

    async def _refresh(self, now: float) -> None:
        if self._failed_at is not None and now - self._failed_at < self.retry_s:
            # Refused at once while the issuer was just found down: a wait per request
            # would pile requests up behind the fetch timeout.
            raise JwksUnavailable(f"the JWKS at {self.jwks_url} was unreachable just now")
        try:
            document = await self._fetch()
        except (httpx.HTTPError, OSError, ValueError) as exc:
            self._failed_at = now
            raise JwksUnavailable(f"cannot fetch the JWKS from {self.jwks_url}: {exc}") from exc
        listed = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(listed, list):
            raise JwksUnavailable(f"the JWKS at {self.jwks_url} has no 'keys' list")
        keys: dict[str, tuple[str | None, PublicKey]] = {}
        for jwk in listed:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            try:
                keys[str(jwk.get("kid"))] = (jwk.get("alg"), public_key(jwk))
            except (InvalidToken, KeyError, ValueError, TypeError):
                continue  # one unusable key does not disable the others
        self._keys = keys
        self._fetched_at = now
        self._failed_at = None

    async def _fetch_url(self) -> Jwks:
        url = urlparse(self.jwks_url)
        if url.scheme == "file":
            # A small local file, read rarely (cache_s): off the event loop all the same.
            text = await asyncio.to_thread(Path(url.path).read_text, encoding="utf-8")
            document: Jwks = json.loads(text)
            return document
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=5.0)
        response = await self._http.get(self.jwks_url)
        response.raise_for_status()
        fetched: Jwks = response.json()
        return fetched

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
