"""OIDC access tokens as publisher credentials, end to end on the real broker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.integration.intake.conftest import (
    DEMO_TOKEN,
    IntakeFactory,
    bearer,
    event,
    read_topic,
)
from tests.support import free_port
from tests.unit.intake.jwt_helpers import b64, jwk_of, mint

pytestmark = pytest.mark.integration


async def test_an_oidc_token_is_scoped_by_its_claims(
    start_intake: IntakeFactory, tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk_of(key, "k1")]}))
    intake = await start_intake(
        QMS_INTAKE_OIDC_JWKS_URL=f"file://{jwks}",
        QMS_INTAKE_OIDC_ISSUER="https://id.test",
        QMS_INTAKE_OIDC_AUDIENCE="qms-intake",
    )
    token = mint(
        key,
        "k1",
        {
            "iss": "https://id.test",
            "aud": "qms-intake",
            "azp": "h56-portal",
            "exp": int(time.time()) + 300,
            "qms_agencies": ["H56.*"],
            "qms_families": ["dossier"],
            "qms_sources": ["urn:vn:gov:h56:one-stop-shop"],
        },
    )
    ok = await intake.post("/v1/events", json=event("dossier.received"), headers=bearer(token))
    assert ok.status_code == 202, ok.text
    other_agency = event("dossier.received", id="o2", agencycode="H57.01")
    refused = await intake.post("/v1/events", json=other_agency, headers=bearer(token))
    assert refused.status_code == 403
    assert "oidc:h56-portal" in refused.json()["errors"][0]["reason"]
    expired = mint(
        key, "k1", {"iss": "https://id.test", "aud": "qms-intake", "exp": int(time.time()) - 3600}
    )
    assert (
        await intake.post("/v1/events", json=event("objective.set"), headers=bearer(expired))
    ).status_code == 401
    # The static publisher tokens keep working beside OIDC.
    assert (
        await intake.post("/v1/events", json=event("objective.set"), headers=bearer(DEMO_TOKEN))
    ).status_code == 202


async def test_malformed_tokens_are_401_and_an_unreachable_jwks_is_503(
    start_intake: IntakeFactory, kafka_bootstrap: str, topic_prefix: str
) -> None:
    closed = free_port()  # nothing listens there: the identity provider is down
    intake = await start_intake(
        QMS_INTAKE_OIDC_JWKS_URL=f"http://127.0.0.1:{closed}/jwks",
        QMS_INTAKE_OIDC_AUDIENCE="qms-intake",
    )
    header_null = f"{b64(b'null')}.{b64(b'{}')}.c2ln"
    header_list = f"{b64(b'[1]')}.{b64(b'{}')}.c2ln"
    kid_number = b64(b'{"alg": "EdDSA", "kid": 7}') + f".{b64(b'{}')}.c2ln"
    for malformed in (header_null, header_list, kid_number, "a.b.c", "%%%.%%%.%%%"):
        response = await intake.post(
            "/v1/events", json=event("dossier.received"), headers=bearer(malformed)
        )
        assert response.status_code == 401, (malformed, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    well_formed = mint(
        Ed25519PrivateKey.generate(),
        "k1",
        {"aud": "qms-intake", "exp": int(time.time()) + 300, "qms_agencies": ["*"]},
    )
    down = await intake.post(
        "/v1/events", json=event("dossier.received"), headers=bearer(well_formed)
    )
    assert down.status_code == 503, down.text
    assert down.headers["content-type"] == "application/problem+json"
    assert int(down.headers["retry-after"]) >= 1
    assert down.json()["type"] == "/problems/identity-provider-unavailable"
    # Static publisher tokens do not depend on the identity provider.
    assert (
        await intake.post("/v1/events", json=event("dossier.received"), headers=bearer(DEMO_TOKEN))
    ).status_code == 202
    assert len(await read_topic(kafka_bootstrap, f"{topic_prefix}dossier.v1")) == 1
