"""The platform's user directory: one users file, one way to authenticate, one setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.capa.adapters.auth import load_users
from services.capa.domain.transitions import Role
from services.common.credentials import hash_token
from services.common.settings import DEV_USERS_FILE, CommonSettings, Environment
from services.common.users import DEV_NATIONAL_READER_TOKEN, DEV_USER_TOKENS, load_user_directory

pytestmark = pytest.mark.unit


def _users_file(tmp_path: Path, agencies: str, role: str = "viewer") -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(
        f"users:\n  - user_id: reader-01\n    role: {role}\n    agencies: {agencies}\n"
        f"    token_sha256: {hash_token('a-real-secret')}\n"
    )
    return path


def test_every_dev_token_of_the_file_is_known_and_the_national_reader_reads_everything() -> None:
    users = load_user_directory(DEV_USERS_FILE, Environment.DEVELOPMENT)
    assert len(users) == len(DEV_USER_TOKENS)
    assert all(users.authenticate(token) for token in DEV_USER_TOKENS)
    reader = users.authenticate(DEV_NATIONAL_READER_TOKEN)
    assert reader is not None and reader.scope.national
    scoped = users.authenticate("dev-reader-h57-token")
    assert scoped is not None and not scoped.scope.national
    assert scoped.scope.covers("H57.01") and not scoped.scope.covers("H56.01")


def test_production_refuses_every_development_token(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="refused in production"):
        load_user_directory(DEV_USERS_FILE, Environment.PRODUCTION)
    own = _users_file(tmp_path, "['H56.*']")
    assert load_user_directory(own, Environment.PRODUCTION).authenticate("a-real-secret")


@pytest.mark.parametrize("pattern", ["'[HX]56.01'", "'h56.01'", "'H56/../x'", "''"])
def test_a_scope_that_is_not_an_agency_code_pattern_is_refused(
    tmp_path: Path, pattern: str
) -> None:
    with pytest.raises(ValueError, match="agencies"):
        load_user_directory(_users_file(tmp_path, f"[{pattern}]"), Environment.DEVELOPMENT)


def test_capa_maps_the_role_and_refuses_one_it_does_not_know(tmp_path: Path) -> None:
    leader = load_users(_users_file(tmp_path, "['*']", role="leader"), Environment.DEVELOPMENT)
    principal = leader.authenticate("a-real-secret")
    assert principal is not None and principal.role is Role.LEADER
    with pytest.raises(ValueError, match="unknown role 'janitor'"):
        load_users(_users_file(tmp_path, "['*']", role="janitor"), Environment.DEVELOPMENT)


def test_the_users_file_setting_keeps_its_older_capa_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QMS_USERS_FILE", raising=False)
    monkeypatch.setenv("QMS_CAPA_USERS_FILE", str(tmp_path / "old.yaml"))
    assert CommonSettings().users_file == tmp_path / "old.yaml"
    monkeypatch.setenv("QMS_USERS_FILE", str(tmp_path / "new.yaml"))
    assert CommonSettings().users_file == tmp_path / "new.yaml"


@pytest.mark.parametrize("key", ["not-a-key", "A" * 43 + "B", "A" * 44])
def test_a_signing_key_that_is_no_raw_ed25519_public_key_is_refused_naming_it(
    tmp_path: Path, key: str
) -> None:
    path = _users_file(tmp_path, "['*']")
    path.write_text(path.read_text() + f"    signing_key: {key}\n")
    with pytest.raises(ValueError, match="signing_key"):
        load_user_directory(path, Environment.DEVELOPMENT)
