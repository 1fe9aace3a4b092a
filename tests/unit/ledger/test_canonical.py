"""Canonical form: RFC 8785 of the stored JSON; a value that is not I-JSON is kept byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable

import orjson
import pytest
import rfc8785
from hypothesis import assume, given
from hypothesis import strategies as st

from services.intake.ledger.domain.canonical import (
    MAX_DEPTH,
    Canonical,
    CanonicalForm,
    canonical_value,
)
from tests.poison import hostile_bytes
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
    [
        b"not json",
        b'{"a": 1, "a": 2}',
        b'{"a":1,"a":2}',
        b'{"a": NaN}',
        b'{"a": 9007199254740993}',
        b"\xff\xfe",
    ],
    ids=["not-json", "duplicate-key", "duplicate-key-compact", "nan", "unsafe-integer", "not-utf8"],
)
def test_values_outside_i_json_are_committed_raw(value: bytes) -> None:
    canonical = canonical_value(value)
    assert canonical.form is CanonicalForm.RAW
    assert canonical.data == value


@pytest.mark.parametrize("name", list(hostile_bytes()))
def test_hostile_values_are_committed_raw_whatever_the_callers_stack_depth(name: str) -> None:
    value = hostile_bytes()[name]
    if name == "huge non-ASCII subject":  # valid I-JSON: canonical, never raw
        assert canonical_value(value).form is CanonicalForm.JCS
        return
    assert canonical_value(value) == Canonical(CanonicalForm.RAW, value, None)
    assert called_at_depth(700, lambda: canonical_value(value).form) is CanonicalForm.RAW


@pytest.mark.parametrize("depth", [MAX_DEPTH, MAX_DEPTH + 1, 400, 990])
def test_the_form_of_nested_json_does_not_depend_on_the_recursion_limit(depth: int) -> None:
    value = b"[" * depth + b"]" * depth
    expected = CanonicalForm.JCS if depth <= MAX_DEPTH else CanonicalForm.RAW
    assert canonical_value(value).form is expected
    assert called_at_depth(800, lambda: canonical_value(value).form) is expected


def test_brackets_inside_strings_are_not_nesting() -> None:
    value = json.dumps({"text": "[" * 500 + '"{' * 100}).encode()
    assert canonical_value(value).form is CanonicalForm.JCS


def called_at_depth(frames: int, call: Callable[[], CanonicalForm]) -> CanonicalForm:
    """`call()` made `frames` Python frames deeper than the test (as inside a worker)."""
    return call() if frames == 0 else called_at_depth(frames - 1, call)


# Text from every plane, surrogates and the U+E000..U+FFFF block included: where the sorted
# keys of the standard library's encoder and RFC 8785's UTF-16 order could part ways.
ANY_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=6)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    ANY_TEXT,
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(ANY_TEXT, inner, max_size=5)
    ),
    max_leaves=20,
)


def full_encoder_reference(value: bytes) -> Canonical:
    """What `canonical_value` gave before its plain-encoder path: `rfc8785` on every value."""
    try:
        document = json.loads(value)
        return Canonical(CanonicalForm.JCS, rfc8785.dumps(document), document)
    except (ValueError, UnicodeDecodeError):
        return Canonical(CanonicalForm.RAW, value, None)


@given(DOCUMENTS, st.booleans())
def test_the_plain_encoder_path_gives_the_bytes_of_rfc8785(document: object, ascii: bool) -> None:
    # Stored as a publisher might write it: escaped or not, keys in their own order.
    value = json.dumps(document, ensure_ascii=ascii).encode("utf-8", "surrogatepass")
    assert canonical_value(value) == full_encoder_reference(value)


@given(DOCUMENTS)
def test_a_compact_value_read_by_orjson_gives_the_bytes_of_rfc8785(document: object) -> None:
    # Stored as intake writes it: compact, unescaped, every key once.
    try:
        value = orjson.dumps(document)
    except orjson.JSONEncodeError:  # a lone surrogate: orjson writes no such value
        assume(False)
    assert canonical_value(value) == full_encoder_reference(value)


@pytest.mark.parametrize(
    "value",
    [
        b'{"n":123456789012345,"m":-123456789012345}',  # 15 digits: the orjson path
        b'{"n":1234567890123456}',  # 16 digits: the full encoder
        b'{"f":1.0,"g":[1e-7]}',
        b'{"\ue000":1,"\ud83d\ude00":2}',
    ],
)
def test_compact_values_at_the_edges_of_the_orjson_path_match_rfc8785(value: bytes) -> None:
    assert canonical_value(value) == full_encoder_reference(value)


@pytest.mark.parametrize(
    "value",
    [
        b'{"\ue000": 1, "\ud83d\ude00": 2}',  # code-point order differs from UTF-16 order
        b'{"a": "\ud800"}',  # a lone surrogate is not UTF-8: raw
        b'{"n": 9007199254740993, "m": -9007199254740991}',  # beyond 2**53 - 1: raw
        b'{"n": 123456789012345, "f": 1e21, "g": -0.0, "h": 1.5e-7}',
        b'{"c": "\u001f\u007f\b\f\n\r\t"\\/", "v": "Ph\u01b0\u1eddng"}',
    ],
)
def test_values_at_the_edges_of_the_plain_path_match_rfc8785(value: bytes) -> None:
    assert canonical_value(value) == full_encoder_reference(value)
