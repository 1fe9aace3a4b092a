from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas import parse_event
from schemas.catalogue import PUBLISHED_FAMILIES
from services.intake.adapters.publisher_registry import load_registry
from services.intake.config import DEV_PUBLISHERS_FILE, IntakeSettings
from services.intake.domain.publishers import (
    Publisher,
    PublisherConfigError,
    check_families,
    hash_token,
    scope_problems,
)
from tests.unit.intake.conftest import example

pytestmark = pytest.mark.unit


def scoped(
    agencies: tuple[str, ...], families: set[str], sources: tuple[str, ...] = ("urn:vn:gov:*",)
) -> Publisher:
    return Publisher("p", agencies, frozenset(families), sources)


def test_agency_globs() -> None:
    publisher = scoped(("H56.*", "G01.003"), {"dossier"})
    assert publisher.may_publish_for("H56.01")
    assert publisher.may_publish_for("G01.003")
    assert not publisher.may_publish_for("H57.01")
    assert not publisher.may_publish_for("G01.0031")
    assert scoped(("*",), {"dossier"}).may_publish_for("ANY.CODE")


def test_scope_names_the_agency_and_the_family_refused() -> None:
    event = parse_event(example("complaint.filed", agencycode="H57.01"))
    problems = scope_problems(scoped(("H56.*",), {"dossier"}), event)
    assert [p.field for p in problems] == ["type", "agencycode"]
    assert "'complaint'" in problems[0].reason
    assert "'H57.01'" in problems[1].reason


def test_publishers_cannot_be_given_capa_or_unknown_families() -> None:
    with pytest.raises(PublisherConfigError, match="capa"):
        check_families("x", ["dossier", "capa"])


def dev_settings(**overrides: Any) -> IntakeSettings:
    return IntakeSettings.model_validate({"QMS_ENV": "development", **overrides})


def test_the_dev_file_is_the_development_default_and_holds_the_demo_publisher() -> None:
    settings = dev_settings()
    assert settings.publishers_file == DEV_PUBLISHERS_FILE
    registry = load_registry(settings)
    demo = registry.authenticate("dev-demo-province-token")
    assert demo is not None and demo.name == "demo-province"
    assert demo.agencies == ("*",)
    assert demo.families == set(PUBLISHED_FAMILIES)
    assert registry.authenticate("dev-demo-province-token ") is None
    assert registry.authenticate("wrong") is None


def test_the_file_holds_hashes_not_tokens() -> None:
    text = DEV_PUBLISHERS_FILE.read_text()
    assert hash_token("dev-demo-province-token") in text
    assert "token_sha256: dev-" not in text


def test_production_refuses_to_start_without_a_configured_file() -> None:
    with pytest.raises(PublisherConfigError, match="production needs"):
        load_registry(IntakeSettings.model_validate({"QMS_ENV": "production"}))


def test_production_refuses_the_dev_file() -> None:
    settings = IntakeSettings.model_validate(
        {"QMS_ENV": "production", "QMS_INTAKE_PUBLISHERS_FILE": str(DEV_PUBLISHERS_FILE)}
    )
    with pytest.raises(PublisherConfigError, match="development publishers file"):
        load_registry(settings)


def test_production_refuses_a_known_dev_token_in_any_file(tmp_path: Path) -> None:
    path = tmp_path / "publishers.yaml"
    path.write_text(
        "publishers:\n"
        "  - name: copied\n"
        f"    token_sha256: {hash_token('dev-demo-province-token')}\n"
        "    agencies: ['*']\n    families: [dossier]\n    sources: ['urn:x']\n"
    )
    settings = IntakeSettings.model_validate(
        {"QMS_ENV": "production", "QMS_INTAKE_PUBLISHERS_FILE": str(path)}
    )
    with pytest.raises(PublisherConfigError, match="known development token"):
        load_registry(settings)


def test_production_accepts_its_own_publishers_from_the_environment() -> None:
    settings = IntakeSettings.model_validate(
        {
            "QMS_ENV": "production",
            "QMS_INTAKE_PUBLISHERS": [
                {
                    "name": "h56",
                    "token_sha256": hash_token("a-real-secret"),
                    "agencies": ["H56.*"],
                    "families": ["dossier"],
                    "sources": ["urn:vn:gov:h56:one-stop-shop"],
                }
            ],
        }
    )
    registry = load_registry(settings)
    assert registry.names() == ["h56"]
    assert registry.authenticate("a-real-secret") is not None


def test_two_publishers_sharing_a_token_are_refused(tmp_path: Path) -> None:
    entry = {
        "token_sha256": hash_token("same"),
        "agencies": ["*"],
        "families": ["dossier"],
        "sources": ["urn:x"],
    }
    settings = dev_settings(
        QMS_INTAKE_PUBLISHERS_FILE=None,
        QMS_INTAKE_PUBLISHERS=[{"name": "a", **entry}, {"name": "b", **entry}],
    )
    with pytest.raises(PublisherConfigError, match="share a token"):
        load_registry(settings)


def test_a_malformed_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("publishers:\n  - name: x\n    token_sha256: not-a-hash\n")
    with pytest.raises(PublisherConfigError, match=r"publishers\[0\]"):
        load_registry(dev_settings(QMS_INTAKE_PUBLISHERS_FILE=str(path)))
