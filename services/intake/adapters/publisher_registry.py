"""Publisher credentials from the YAML file and/or QMS_INTAKE_PUBLISHERS, keyed by token hash."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import ValidationError

from services.common.settings import Environment
from services.intake.config import DEV_PUBLISHERS_FILE, IntakeSettings, PublisherConfig
from services.intake.domain.publishers import (
    Publisher,
    PublisherConfigError,
    check_families,
    hash_token,
)

# Tokens published in this repository for development; never valid in production.
KNOWN_DEV_TOKENS = (
    "dev-demo-province-token",
    "dev-h56-dossier-token",
    "dev-h57-complaint-token",
)
_KNOWN_DEV_HASHES = frozenset(hash_token(token) for token in KNOWN_DEV_TOKENS)


class PublisherRegistry:
    """Looks a bearer token up by its SHA-256; the tokens themselves are never held."""

    def __init__(self, entries: Iterable[tuple[str, Publisher]]) -> None:
        self._by_hash: dict[str, Publisher] = {}
        for token_hash, publisher in entries:
            if token_hash in self._by_hash:
                raise PublisherConfigError(
                    f"publishers {self._by_hash[token_hash].name!r} and {publisher.name!r} "
                    "share a token"
                )
            self._by_hash[token_hash] = publisher

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, token: str) -> Publisher | None:
        # Looked up by the hash of the presented token: a caller cannot steer the hash byte
        # by byte, so timing the lookup tells nothing about a stored token.
        return self._by_hash.get(hash_token(token))

    def names(self) -> list[str]:
        return sorted(p.name for p in self._by_hash.values())


def load_registry(settings: IntakeSettings) -> PublisherRegistry:
    """Read every configured publisher; refuse development credentials in production."""
    configs: list[PublisherConfig] = []
    if settings.publishers_file is not None:
        configs += read_publishers_file(settings.publishers_file)
    configs += settings.publishers
    if settings.environment is Environment.PRODUCTION:
        _refuse_dev_credentials(settings, configs)
    if not configs:
        raise PublisherConfigError(
            "no publishers configured: set QMS_INTAKE_PUBLISHERS_FILE or QMS_INTAKE_PUBLISHERS"
        )
    return PublisherRegistry((c.token_sha256, _publisher(c)) for c in configs)


def read_publishers_file(path: Path) -> list[PublisherConfig]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PublisherConfigError(f"cannot read publishers file {path}: {exc}") from exc
    entries = document.get("publishers") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise PublisherConfigError(f"{path}: expected a top-level 'publishers' list")
    configs = []
    for position, entry in enumerate(entries):
        try:
            configs.append(PublisherConfig.model_validate(entry))
        except ValidationError as exc:
            raise PublisherConfigError(f"{path}: publishers[{position}]: {exc}") from exc
    return configs


def _publisher(config: PublisherConfig) -> Publisher:
    return Publisher(
        name=config.name,
        agencies=tuple(config.agencies),
        families=check_families(config.name, config.families),
        sources=tuple(config.sources),
        events_per_second=config.events_per_second,
        burst=config.burst,
    )


def _refuse_dev_credentials(settings: IntakeSettings, configs: list[PublisherConfig]) -> None:
    if settings.publishers_file is None and not settings.publishers:
        raise PublisherConfigError(
            "QMS_ENV=production needs QMS_INTAKE_PUBLISHERS_FILE (or QMS_INTAKE_PUBLISHERS)"
        )
    if settings.publishers_file is not None and (
        settings.publishers_file.resolve() == DEV_PUBLISHERS_FILE.resolve()
    ):
        raise PublisherConfigError(
            f"QMS_ENV=production refuses the development publishers file {DEV_PUBLISHERS_FILE}"
        )
    leaked = sorted(c.name for c in configs if c.token_sha256 in _KNOWN_DEV_HASHES)
    if leaked:
        raise PublisherConfigError(
            f"QMS_ENV=production refuses publishers with a known development token: {leaked}"
        )
