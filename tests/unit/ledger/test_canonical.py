"""Canonical form: RFC 8785 of the stored JSON; a value that is not I-JSON is kept byte for byte."""

from __future__ import annotations

import json

import pytest

from services.intake.ledger.domain.canonical import CanonicalForm, canonical_value
from tests.unit.ledger.builders import dossier_received_value

pytestmark = pytest.mark.unit


def test_key_order_whitespace_and_escapes_do_not_change_the_canonical_bytes() -> None:
    stored = dossier_received_value(1)
    document = json.loads(stored)
    reserialised = json.dumps(dict(reversed(document.items())), indent=2, ensure_ascii=True)
    assert reserialised.encode() != stored
    assert canonical_value(reserialised.encode()) == canonical_value(stored)
    assert canonical_value(stored).form is CanonicalForm.JCS


def test_rfc8785_sorts_keys_and_normalises_numbers() -> None:
    assert canonical_value(b'{"b": 1.0, "a": "\\u00e9", "c": 1e2}').data == (
        '{"a":"é","b":1,"c":100}'.encode()
    )


def test_a_change_of_meaning_changes_the_canonical_bytes() -> None:
    stored = dossier_received_value(1)
    document = json.loads(stored)
    document["data"]["online_level"] = 3
    assert canonical_value(json.dumps(document).encode()).data != canonical_value(stored).data


@pytest.mark.parametrize(
    "value",
    [b"not json", b'{"a": 1, "a": 2}', b'{"a": NaN}', b'{"a": 9007199254740993}', b"\xff\xfe"],
    ids=["not-json", "duplicate-key", "nan", "unsafe-integer", "not-utf8"],
)
def test_values_outside_i_json_are_committed_raw(value: bytes) -> None:
    canonical = canonical_value(value)
    assert canonical.form is CanonicalForm.RAW
    assert canonical.data == value
