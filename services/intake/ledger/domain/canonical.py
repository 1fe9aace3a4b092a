"""The canonical bytes of an event as stored in Kafka, the input of its ledger leaf.

An accepted event is stored as a CloudEvents structured-JSON record value. Its canonical
form is the RFC 8785 (JSON Canonicalization Scheme) serialisation of that whole JSON value,
so re-serialising the same event (key order, whitespace, escapes) never changes its leaf,
while any change of meaning does. A value that is not I-JSON (not JSON, not UTF-8, duplicate keys,
NaN or Infinity, numbers beyond what a double holds such as 1e999, integers beyond 2^53,
nesting deeper than `MAX_DEPTH`) cannot be canonicalised; it is committed to byte for
byte (form `raw`) so that nothing on a topic escapes the chain.

The choice between the two forms must come out the same in the worker that chains and in
the verifier that checks, whatever the Python stack depth of each: so nesting is bounded
by an explicit count, never by where the interpreter's recursion limit happens to bite.

Most events hold only strings, small integers, booleans and nulls, and for those RFC 8785 is
exactly what orjson writes with sorted keys (compact, UTF-8, no ASCII escaping): same
escapes (`\\b \\f \\n \\r \\t`, `\\u00xx` in lower case for the other control characters),
same integers, and sorted keys agree with the RFC's UTF-16 order as long as no character lies
at or above U+D800. So `canonical_value` takes that path (far faster than the pure-Python
`rfc8785` encoder, and ~10x the standard library's on an event) and falls back to `rfc8785`
for any value with a float, an integer of more than 15 digits, or a character from U+D800
up; the same bytes either way (a property test compares them). Parsing stays with the
standard library, which alone refuses duplicate keys and routes numbers through hooks,
except for a value that is exactly what orjson writes of what it reads (compact, as intake
stores every event): such a value has no duplicate key (its document would write shorter)
and no number a double would change, so orjson parses it, ~4x faster, once a walk of the
document has found no float and no integer of more than 15 digits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
import rfc8785

# Deep enough for any event; shallow enough that parsing and canonicalising never come near
# the recursion limit, from any caller.
MAX_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
# Where code-point order (the encoder's sorted keys) and UTF-16 order part ways, and where
# lone surrogates (not UTF-8) live: such a value takes the `rfc8785` path.
# In UTF-8 every character from U+D000 up starts with a byte from ED on (U+D000..U+D7FF
# too: those merely take the slower path as well); one byte class is a fast scan.
_FROM_SURROGATES = re.compile(rb"[\xed-\xf4]")
# An integer of at most 15 digits is within RFC 8785's ±(2**53 - 1) for certain.
_SAFE_INT_DIGITS = 15


class CanonicalForm(StrEnum):
    JCS = "jcs"
    RAW = "raw"


@dataclass(frozen=True)
class Canonical:
    """Canonical bytes of one record value, the form used, and the parsed JSON (if any)."""

    form: CanonicalForm
    data: bytes
    document: Any


class _NotIJson(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicate keys are read differently by different parsers: refuse to pick one.
    obj = dict(pairs)  # in C; only a value that has duplicates pays for naming one
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _NotIJson(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _refuse_constant(name: str) -> Any:
    raise _NotIJson(f"{name} is not JSON")


class _NeedsFullEncoder(Exception):
    """The value holds a number the standard library's encoder would not write per RFC 8785."""


def _no_float(text: str) -> Any:
    raise _NeedsFullEncoder(text)


def _safe_int(text: str) -> int:
    if len(text.lstrip("-")) > _SAFE_INT_DIGITS:
        raise _NeedsFullEncoder(text)
    return int(text)


def nested_deeper_than(value: bytes, limit: int) -> bool:
    """True when arrays and objects in `value` nest more than `limit` levels deep."""
    if value.count(b"[") + value.count(b"{") <= limit:
        return False  # the common case, without a scan
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", value)):
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


def parse_i_json(value: bytes) -> Any:
    """Parse strict I-JSON (RFC 7493) or raise ValueError."""
    if nested_deeper_than(value, MAX_DEPTH):
        raise _NotIJson(f"nested deeper than {MAX_DEPTH} levels")
    return _parse(value.decode("utf-8"))


# Built once: `json.loads` with options builds a decoder (and its C scanner) per call.
_I_JSON = json.JSONDecoder(
    object_pairs_hook=_refuse_duplicate_keys, parse_constant=_refuse_constant
)
_I_JSON_PLAIN_NUMBERS = json.JSONDecoder(
    object_pairs_hook=_refuse_duplicate_keys,
    parse_constant=_refuse_constant,
    parse_float=_no_float,
    parse_int=_safe_int,
)


def _parse(text: str) -> Any:
    return _I_JSON.decode(text)


def _plain_canonical(text: str) -> tuple[Any, bytes] | None:
    """(document, RFC 8785 bytes) through orjson, or None when the value needs the full
    encoder (a float, a long integer, a character from U+D800 up)."""
    try:
        document = _I_JSON_PLAIN_NUMBERS.decode(text)
        encoded = _sorted_plain(document)
    except (_NeedsFullEncoder, orjson.JSONEncodeError):  # the latter: a lone surrogate
        return None
    return None if encoded is None else (document, encoded)


def _sorted_plain(document: Any) -> bytes | None:
    """orjson's sorted keys, or None where they would part from RFC 8785's UTF-16 order."""
    encoded = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    if not encoded.isascii() and _FROM_SURROGATES.search(encoded):
        return None
    return encoded


def _compact_canonical(value: bytes) -> tuple[Any, bytes] | None:
    """`_plain_canonical` for a value orjson writes back byte for byte, else None."""
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if orjson.dumps(document) != value or not _plain_numbers(document):
        return None
    encoded = _sorted_plain(document)
    return None if encoded is None else (document, encoded)


_SAFE_INT = 10**_SAFE_INT_DIGITS


def _plain_numbers(document: Any) -> bool:
    """No float and no integer of more than 15 digits anywhere in a parsed document."""
    pending: list[Any] = [[document]]
    while pending:
        node = pending.pop()
        for item in node.values() if type(node) is dict else node:
            kind = type(item)
            if kind is str or item is None or kind is bool:
                continue
            if kind is int:
                if -_SAFE_INT < item < _SAFE_INT:
                    continue
                return False
            if kind is dict or kind is list:
                pending.append(item)
                continue
            return False  # a float
    return True


def canonicalize_document(document: Any) -> bytes:
    """RFC 8785 bytes of an already parsed JSON document (raises ValueError if impossible)."""
    return rfc8785.dumps(document)


def canonical_value(value: bytes) -> Canonical:
    """Canonical bytes of a record value as stored in Kafka."""
    try:
        if nested_deeper_than(value, MAX_DEPTH):
            raise _NotIJson(f"nested deeper than {MAX_DEPTH} levels")
        plain = _compact_canonical(value)
        if plain is not None:
            return Canonical(CanonicalForm.JCS, plain[1], plain[0])
        text = value.decode("utf-8")
        plain = _plain_canonical(text)
        if plain is not None:
            return Canonical(CanonicalForm.JCS, plain[1], plain[0])
        document = _parse(text)
        return Canonical(CanonicalForm.JCS, canonicalize_document(document), document)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Canonical(CanonicalForm.RAW, bytes(value), None)
