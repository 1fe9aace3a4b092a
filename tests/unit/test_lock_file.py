"""requirements.lock (the image's reproducible install) pins what pyproject.toml pins."""

from __future__ import annotations

import re
import tomllib

import pytest

from services.common.settings import REPO_ROOT
from tests.support import BUILD_CONTEXT

pytestmark = pytest.mark.unit

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
LOCK_TEXT = (REPO_ROOT / "requirements.lock").read_text()
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    return {normalised(name): version for name, version in _PIN.findall(text)}


LOCKED = pins(LOCK_TEXT)


@pytest.mark.parametrize("requirement", PYPROJECT["project"]["dependencies"])
def test_the_lock_pins_every_dependency_at_the_version_of_pyproject(requirement: str) -> None:
    ((name, version),) = pins(requirement).items()
    assert LOCKED.get(name) == version, f"{requirement}: the lock has {LOCKED.get(name)}"


def test_every_locked_package_carries_hashes() -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK_TEXT.split("\n", 2)[2])
    assert len(blocks) == len(LOCKED) > len(PYPROJECT["project"]["dependencies"])
    for block in blocks:
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_lock_holds_no_development_tool() -> None:
    for requirement in PYPROJECT["project"]["optional-dependencies"]["dev"]:
        ((name, _),) = pins(requirement).items()
        assert name not in LOCKED, f"{name} is a development tool, not part of the image"


def test_the_image_installs_the_lock_with_hashes_and_the_wheel_without_the_checkout() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "--require-hashes -r /tmp/requirements.lock" in final_stage
    assert "--no-deps /wheels/*.whl" in final_stage
    copied = re.findall(r"^COPY (?:--from=\S+ )?(\S+)", final_stage, re.MULTILINE)
    assert copied == ["requirements.lock", "/wheels"], "the final image holds no source tree"


def test_the_wheel_test_builds_from_what_the_image_copies() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    build_stage = dockerfile.split("\nFROM ", 2)[1]
    copied = re.findall(r"^COPY (.+) \S+$", build_stage, re.MULTILINE)
    assert sorted(" ".join(copied).split()) == sorted(BUILD_CONTEXT)
