"""The one-pass batch admission admits exactly what the per-event path admits, byte for byte."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import parse_event
from schemas.catalogue import PUBLISHED_FAMILIES
from services.intake.adapters.kafka_partitioner import default_partitioner, murmur2
from services.intake.domain.publishers import Publisher
from services.intake.entrypoints.examples import EXAMPLE_EVENTS
from services.intake.service_layer.admission import Admitted, admit_event
from services.intake.service_layer.content import record_digest, stamp_json
from services.intake.service_layer.encoding import encode_record
from services.intake.service_layer.valid_batch import admit_valid_batch, stamped_value

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=UTC)
LATEST = NOW + timedelta(minutes=5)
EVERYONE = Publisher(
    "demo-province",
    ("*",),
    frozenset({"dossier", "complaint", "satisfaction", "audit", "objective"}),
    ("urn:vn:gov:h56:*",),
)
H56_DOSSIERS = Publisher(
    "h56", ("H56.*",), frozenset({"dossier"}), ("urn:vn:gov:h56:one-stop-shop",)
)


def fast(events: list[Any], publisher: Publisher = EVERYONE, max_events: int = 1000) -> Any:
    body = json.dumps(events).encode()
    return admit_valid_batch(body, publisher, NOW, LATEST, "qms.", max_events)


def general(events: list[Any], publisher: Publisher = EVERYONE) -> list[Any]:
    return [admit_event(raw, publisher, NOW, LATEST, "qms.") for raw in events]


def recorded_times(raw: dict[str, Any]) -> dict[str, str]:
    """`recordedtime` values: admissible ones and one refused by each of its two rules."""
    happened = datetime.fromisoformat(raw["time"])
    return {
        "recorded an hour later": (happened + timedelta(hours=1)).isoformat(),
        "recorded as it happened": raw["time"],
        "recorded in UTC at the skew's limit": LATEST.isoformat(),
        "recorded before it happened": (happened - timedelta(milliseconds=1)).isoformat(),
        "recorded after receipt": (LATEST + timedelta(milliseconds=1)).isoformat(),
    }


def variants() -> list[tuple[str, dict[str, Any]]]:
    """Each example, and each example spoiled in one way the general path refuses."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name, raw in sorted(EXAMPLE_EVENTS.items()):
        out.append((f"{name}: as is", copy.deepcopy(raw)))
        out.append((f"{name}: unknown top field", {**copy.deepcopy(raw), "colour": "red"}))
        nested = copy.deepcopy(raw)
        nested["data"]["surprise"] = True
        out.append((f"{name}: unknown data field", nested))
        out.append((f"{name}: receivedtime sent", {**copy.deepcopy(raw), "receivedtime": None}))
        out.append((f"{name}: publisher sent", {**copy.deepcopy(raw), "publisher": "me"}))
        out.append((f"{name}: future", {**copy.deepcopy(raw), "time": "2027-01-01T00:00:00Z"}))
        out.append((f"{name}: bad agency", {**copy.deepcopy(raw), "agencycode": "h56 01"}))
        out.append((f"{name}: other agency", {**copy.deepcopy(raw), "agencycode": "G01.003"}))
        out.append((f"{name}: no subject", {k: v for k, v in raw.items() if k != "subject"}))
        out.append((f"{name}: capa type", {**copy.deepcopy(raw), "type": "vn.qms.capa.opened.v1"}))
        out.append((f"{name}: unknown type", {**copy.deepcopy(raw), "type": "vn.qms.nope.v1"}))
        out.append((f"{name}: string data", {**copy.deepcopy(raw), "data": "x"}))
        out.append((f"{name}: foreign source", {**copy.deepcopy(raw), "source": "urn:other"}))
        out.append((f"{name}: year 1", {**copy.deepcopy(raw), "time": "0001-01-01T00:00:00Z"}))
        for label, recorded in recorded_times(raw).items():
            out.append((f"{name}: {label}", {**copy.deepcopy(raw), "recordedtime": recorded}))
    late = copy.deepcopy(EXAMPLE_EVENTS["dossier.received"])
    late["data"]["due_at"] = "2020-01-01T00:00:00+07:00"  # before `time`: a chronology rule
    out.append(("dossier.received: due before received", late))
    elsewhere = copy.deepcopy(EXAMPLE_EVENTS["audit.finding_recorded"])
    elsewhere["data"]["audited_agency"] = "G01.003"
    out.append(("audit.finding_recorded: audited agency out of scope", elsewhere))
    infinite = copy.deepcopy(EXAMPLE_EVENTS["objective.set"])
    infinite["data"]["target"] = float("inf")
    out.append(("objective.set: infinite target", infinite))
    return out


@pytest.mark.parametrize("publisher", [EVERYONE, H56_DOSSIERS], ids=["everyone", "h56-dossiers"])
@pytest.mark.parametrize(("label", "raw"), variants(), ids=[label for label, _ in variants()])
def test_one_pass_admits_exactly_what_the_general_path_admits(
    label: str, raw: dict[str, Any], publisher: Publisher
) -> None:
    expected = general([raw], publisher)
    got = fast([raw], publisher)
    if isinstance(expected[0], Admitted):
        assert got == expected, label  # same key, family, topic, key bytes, value bytes, headers
    else:
        assert got is None, label  # left to the general path, which names every problem


def test_one_bad_event_sends_the_whole_batch_to_the_general_path() -> None:
    good = copy.deepcopy(EXAMPLE_EVENTS["dossier.received"])
    assert fast([good, good]) == general([good, good])
    assert fast([good, {**good, "colour": "red"}]) is None
    assert fast([good, good], max_events=1) is None  # the general path answers 413
    assert fast([]) is None
    assert admit_valid_batch(b"[{", EVERYONE, NOW, LATEST, "qms.", 10) is None
    assert admit_valid_batch(b'{"a": 1}', EVERYONE, NOW, LATEST, "qms.", 10) is None


@pytest.mark.parametrize("name", sorted(EXAMPLE_EVENTS))
def test_the_stamp_is_spliced_where_the_stamped_model_has_it(name: str) -> None:
    raw = EXAMPLE_EVENTS[name]
    stamped = parse_event({**raw, "receivedtime": NOW, "publisher": "demo-province"})
    event = parse_event(raw)
    unstamped = event.model_dump_json(exclude_none=True).encode()
    spliced = stamped_value(event, unstamped, stamp_json(NOW, "demo-province"))
    assert spliced == encode_record(stamped).value


@pytest.mark.parametrize("name", sorted(EXAMPLE_EVENTS))
def test_a_recorded_time_is_kept_after_the_spliced_stamp(name: str) -> None:
    raw = EXAMPLE_EVENTS[name]
    recorded = {**raw, "recordedtime": recorded_times(raw)["recorded an hour later"]}
    every_family = Publisher(
        "demo-province", ("*",), frozenset(PUBLISHED_FAMILIES), ("urn:vn:gov:h56:*",)
    )
    # The fast path admits it, rather than leaving it to the general path.
    [admitted] = fast([recorded], every_family)
    stamped = parse_event({**recorded, "receivedtime": NOW, "publisher": "demo-province"})
    assert admitted.record.value == encode_record(stamped).value
    value = json.loads(admitted.record.value)
    assert datetime.fromisoformat(value["recordedtime"]) == stamped.recordedtime
    assert list(value).index("recordedtime") > list(value).index("publisher")
    # At start-up intake recomputes the digest from the record: the same, recordedtime in it.
    stamp = stamp_json(NOW, "demo-province")
    assert record_digest(admitted.record.value, stamp) == admitted.content
    assert admitted.content != general([raw], every_family)[0].content


@settings(max_examples=300, deadline=None)
@given(key=st.binary(max_size=200), partitions=st.integers(min_value=1, max_value=64))
def test_the_partitioner_is_kafkas_default(key: bytes, partitions: int) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)
    every = list(range(partitions))
    assert default_partitioner(key, every, every) == DefaultPartitioner()(key, every, every)
