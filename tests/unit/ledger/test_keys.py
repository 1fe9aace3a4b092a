"""Key loading: the development key works on a laptop and is refused anywhere else."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.intake.ledger.adapters.keys import (
    LedgerKeyError,
    is_dev_key,
    load_signer,
    load_verifier,
    verifier_from_text,
)
from services.intake.ledger.settings import (
    DEV_PUBLIC_KEY_FILE,
    DEV_SIGNING_KEY_FILE,
    LedgerSettings,
)

pytestmark = pytest.mark.unit


def settings(**values: object) -> LedgerSettings:
    return LedgerSettings.model_validate(values)


def test_development_signs_with_the_checked_in_key_and_its_public_half_verifies() -> None:
    signer = load_signer(settings(QMS_ENV="development"))
    from_file = load_verifier(settings(QMS_ENV="development"), DEV_PUBLIC_KEY_FILE)
    pem = load_verifier(
        settings(QMS_ENV="development"), DEV_PUBLIC_KEY_FILE.with_suffix(".pub.pem")
    )
    signature = signer.sign(b"body\n")
    assert from_file.verify(b"body\n", signature) and pem.verify(b"body\n", signature)
    assert from_file.key_id == pem.key_id == signer.verifier().key_id


@pytest.mark.parametrize(
    "values",
    [
        {"QMS_LEDGER_SIGNING_KEY_FILE": str(DEV_SIGNING_KEY_FILE), "QMS_LEDGER_KEY_NAME": "prod"},
        {"QMS_LEDGER_SIGNING_KEY": DEV_SIGNING_KEY_FILE.read_text(), "QMS_LEDGER_KEY_NAME": "prod"},
        {},
    ],
    ids=["dev-key-file", "dev-key-pasted", "no-key"],
)
def test_production_refuses_the_development_key_or_none(values: dict[str, str]) -> None:
    with pytest.raises(LedgerKeyError):
        load_signer(settings(QMS_ENV="production", **values))


def test_production_signs_with_its_own_key_and_name() -> None:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    prod = settings(
        QMS_ENV="production",
        QMS_LEDGER_SIGNING_KEY=base64.b64encode(seed).decode(),
        QMS_LEDGER_KEY_NAME="qms-trail-h56",
    )
    assert load_signer(prod).name == "qms-trail-h56"
    with pytest.raises(LedgerKeyError, match="production name"):
        load_signer(
            settings(QMS_ENV="production", QMS_LEDGER_SIGNING_KEY=base64.b64encode(seed).decode())
        )


def test_a_bad_key_says_where() -> None:
    with pytest.raises(LedgerKeyError, match="QMS_LEDGER_SIGNING_KEY"):
        load_signer(settings(QMS_ENV="development", QMS_LEDGER_SIGNING_KEY="not a key"))


@pytest.mark.parametrize(
    "key_file",
    [DEV_PUBLIC_KEY_FILE, DEV_PUBLIC_KEY_FILE.with_suffix(".pub.pem")],
    ids=["vkey", "pem"],
)
def test_production_verification_refuses_the_development_public_key(key_file: object) -> None:
    # Under any key name: the development key is known by its fingerprint, not its name.
    prod = settings(QMS_ENV="production", QMS_LEDGER_KEY_NAME="qms-trail-h56")
    with pytest.raises(LedgerKeyError, match="development key is public"):
        load_verifier(prod, key_file)  # type: ignore[arg-type]


def test_the_development_key_fingerprint_is_the_shipped_key() -> None:
    shipped = verifier_from_text(DEV_PUBLIC_KEY_FILE.read_text(encoding="utf-8"), "dev key")
    assert is_dev_key(shipped.public_key)
    other = Ed25519PrivateKey.generate().public_key()
    assert not is_dev_key(
        other.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
