"""Attacks on GET /v1/audit/trail/{subject}: who may read a trail, and whose (real broker).

The victim is agency H56.01's dossier; the attacker holds credentials for H57.01 only
(the development H57 complaint portal, and a platform user scoped to H57.01). The
attacker's request, the refusal, and the victim's trail intact for those who may read it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.common.users import DEV_NATIONAL_READER_TOKEN
from services.intake.ledger.adapters.keys import load_verifier
from services.intake.ledger.domain.trail import verify_trail
from tests.integration.ledger.conftest import ChainedLedger, chained_dossiers, intake_client
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.integration

VICTIM = "H56.01-260302-VICTIM"
ATTACKERS_OWN = "H57.01-260302-OWN"
NO_SUCH = "H56.01-260302-NO-SUCH"

ATTACKER_TOKENS = {
    "publisher for H57.01": "dev-h57-complaint-token",
    "platform user for H57.01": "dev-reader-h57-token",
}
VICTIM_READERS = {
    "publisher for H56.*": "dev-h56-dossier-token",
    "publisher for every agency": "dev-demo-province-token",
    "national reader": DEV_NATIONAL_READER_TOKEN,
}


def _event_of(number: int, subject: str, agency: str) -> bytes:
    event = json.loads(dossier_received_value(number, subject))
    event["agencycode"] = agency
    return json.dumps(event).encode()


@pytest.fixture(scope="module")
async def ledger(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ChainedLedger]:
    """The victim's and the attacker's dossiers on dossier.v1, chained by a real worker."""
    values = {
        0: [_event_of(1, VICTIM, "H56.01"), _event_of(2, ATTACKERS_OWN, "H57.01")],
        1: [_event_of(3, VICTIM, "H56.01")],
    }
    tmp = tmp_path_factory.mktemp("trail-scope")
    async with chained_dossiers(kafka_bootstrap, tmp, values) as chained:
        yield chained


@pytest.fixture
async def intake(ledger: ChainedLedger, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with intake_client(ledger.settings, tmp_path) as client:
        yield client


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_without_a_valid_token_no_trail_is_served(intake: httpx.AsyncClient) -> None:
    for headers in ({}, _as("not-a-token"), {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = await intake.get(f"/v1/audit/trail/{VICTIM}", headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "chains" not in response.json() and "agencycode" not in response.text


async def test_another_agencys_trail_is_404_exactly_like_a_missing_one(
    intake: httpx.AsyncClient,
) -> None:
    for who, token in ATTACKER_TOKENS.items():
        stolen = await intake.get(f"/v1/audit/trail/{VICTIM}", headers=_as(token))
        missing = await intake.get(f"/v1/audit/trail/{NO_SUCH}", headers=_as(token))
        assert stolen.status_code == missing.status_code == 404, (who, stolen.text)
        same_shape = {k: v for k, v in stolen.json().items() if k not in {"detail", "instance"}}
        assert same_shape == {
            k: v for k, v in missing.json().items() if k not in {"detail", "instance"}
        }
        assert stolen.json()["detail"] == missing.json()["detail"].replace(NO_SUCH, VICTIM)
        assert "agencycode" not in stolen.text and "chains" not in stolen.json()
        own = await intake.get(f"/v1/audit/trail/{ATTACKERS_OWN}", headers=_as(token))
        assert own.status_code == 200, (who, own.text)


async def test_the_victims_trail_is_intact_for_whoever_may_read_it(
    intake: httpx.AsyncClient, ledger: ChainedLedger
) -> None:
    verifier = load_verifier(ledger.settings)
    for who, token in VICTIM_READERS.items():
        response = await intake.get(f"/v1/audit/trail/{VICTIM}", headers=_as(token))
        assert response.status_code == 200, (who, response.text)
        document = response.json()
        events = [e["event"] for chain in document["chains"] for e in chain["events"]]
        assert len(events) == 2 and {e["agencycode"] for e in events} == {"H56.01"}
        assert verify_trail(document, verifier).ok, who
