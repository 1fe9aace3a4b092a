"""Ed25519 keys for checkpoint notes: loading, signing, verifying (the `cryptography` package)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.settings import Environment
from services.intake.ledger.domain.note import check_key_name, format_vkey, key_id, parse_vkey
from services.intake.ledger.settings import DEV_KEY_NAME, LedgerSettings

# SHA-256 of the raw public key of deploy/intake/ledger-dev-key.pem: that key is published
# in this repository, so outside development neither its signatures nor a verification
# against it prove anything. Recognised by fingerprint, whatever name or file it comes
# under, and even where the deploy/ files are not installed.
DEV_PUBLIC_KEY_SHA256 = "6f73749840a0d7ba9bd70a8ce1077210e9c07ba7456b3fe53f4cb61e5e28b817"


class LedgerKeyError(ValueError):
    """A key could not be loaded; the message says which and why."""


class Ed25519Signer:
    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._name = check_key_name(name)
        self._key = private_key

    @property
    def name(self) -> str:
        return self._name

    @property
    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self._name, self.public_key)


class Ed25519Verifier:
    def __init__(self, name: str, public_key: bytes) -> None:
        self._name = check_key_name(name)
        self._raw = public_key
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @property
    def name(self) -> str:
        return self._name

    @property
    def public_key(self) -> bytes:
        return self._raw

    @property
    def key_id(self) -> bytes:
        return key_id(self._name, self._raw)

    @property
    def vkey(self) -> str:
        return format_vkey(self._name, self._raw)

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def private_key_from_text(text: str, where: str) -> Ed25519PrivateKey:
    """PKCS#8 PEM (comment lines before it allowed) or the base64 32-byte seed."""
    stripped = text.strip()
    try:
        if "-----BEGIN" in stripped:
            key = serialization.load_pem_private_key(stripped.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise LedgerKeyError(f"{where}: not an Ed25519 private key")
            return key
        seed = base64.b64decode(stripped, validate=True)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except (ValueError, TypeError, binascii.Error) as exc:
        if isinstance(exc, LedgerKeyError):
            raise
        raise LedgerKeyError(
            f"{where}: not a PEM Ed25519 private key nor a base64 seed ({exc})"
        ) from exc


def verifier_from_text(text: str, where: str, name: str | None = None) -> Ed25519Verifier:
    """A `name+id+key` verifier line, or an SPKI PEM public key (then `name` is needed)."""
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    try:
        if lines and "-----BEGIN" not in lines[0]:
            vkey_name, raw = parse_vkey(lines[0])
            return Ed25519Verifier(vkey_name, raw)
        key = serialization.load_pem_public_key("\n".join(lines).encode())
    except ValueError as exc:
        raise LedgerKeyError(f"{where}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise LedgerKeyError(f"{where}: not an Ed25519 public key")
    if name is None:
        raise LedgerKeyError(f"{where}: a PEM public key needs the key name (QMS_LEDGER_KEY_NAME)")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Ed25519Verifier(name, raw)


def load_signer(settings: LedgerSettings) -> Ed25519Signer:
    """The checkpoint signer named by the settings."""
    if settings.signing_key is not None:
        text, where = settings.signing_key.get_secret_value(), "QMS_LEDGER_SIGNING_KEY"
    elif settings.signing_key_file is not None:
        where = str(settings.signing_key_file)
        try:
            text = Path(settings.signing_key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise LedgerKeyError(
                f"QMS_LEDGER_SIGNING_KEY_FILE: cannot read {where}: {exc}"
            ) from exc
    else:
        raise LedgerKeyError(
            "no signing key: set QMS_LEDGER_SIGNING_KEY or QMS_LEDGER_SIGNING_KEY_FILE"
        )
    signer = Ed25519Signer(settings.key_name, private_key_from_text(text, where))
    if settings.environment is not Environment.DEVELOPMENT:
        # The checked-in key is public: its signatures would prove nothing.
        if is_dev_key(signer.public_key):
            raise LedgerKeyError(f"{where}: the development key is refused outside development")
        if settings.key_name == DEV_KEY_NAME:
            raise LedgerKeyError(
                f"QMS_LEDGER_KEY_NAME: choose a production name, not {DEV_KEY_NAME}"
            )
    return signer


def load_verifier(settings: LedgerSettings, path: Path | None = None) -> Ed25519Verifier:
    """The verifier key from `path`, else QMS_LEDGER_PUBLIC_KEY_FILE, else the signing key."""
    source = path or settings.public_key_file
    if source is not None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise LedgerKeyError(f"cannot read public key {source}: {exc}") from exc
        verifier = verifier_from_text(text, str(source), settings.key_name)
        if settings.environment is not Environment.DEVELOPMENT and is_dev_key(verifier.public_key):
            raise LedgerKeyError(
                f"{source}: the development key is public; outside development a "
                "verification against it proves nothing"
            )
        return verifier
    return load_signer(settings).verifier()


def is_dev_key(public_key: bytes) -> bool:
    """Whether a raw Ed25519 public key is the checked-in development key."""
    return hashlib.sha256(public_key).hexdigest() == DEV_PUBLIC_KEY_SHA256
