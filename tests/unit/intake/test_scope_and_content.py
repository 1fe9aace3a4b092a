"""A credential covers the sources and every agency an event names; contents are told apart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition

from schemas import parse_event
from services.intake.adapters.acceptance_replay import acceptance_from_record
from services.intake.domain.publishers import Publisher, scope_problems
from services.intake.service_layer.admission import Admitted, admit_event
from services.intake.service_layer.content import event_digest
from services.intake.service_layer.valid_batch import admit_valid_batch
from tests.unit.intake.conftest import example

pytestmark = pytest.mark.unit

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LATEST = NOW + timedelta(minutes=5)
H56_AUDITS = Publisher(
    "h56-audit", ("H56.*",), frozenset({"audit"}), ("urn:vn:gov:h56:iso-secretariat",)
)
PORTAL = Publisher("portal", ("*",), frozenset({"complaint"}), ("urn:vn:gov:h57:*",))


def test_a_source_the_publisher_does_not_own_is_refused_naming_source() -> None:
    event = parse_event(example("complaint.filed", source="urn:vn:gov:h56:one-stop-shop"))
    [problem] = scope_problems(PORTAL, event)
    assert problem.field == "source"
    assert "urn:vn:gov:h56:one-stop-shop" in problem.reason


def test_source_patterns_are_globs() -> None:
    assert PORTAL.owns_source("urn:vn:gov:h57:feedback-portal")
    assert not PORTAL.owns_source("urn:vn:gov:h570:feedback-portal")
    assert not PORTAL.owns_source("urn:vn:gov:h56:feedback-portal")
    assert not Publisher("none", ("*",), frozenset({"complaint"})).owns_source("urn:x")


def test_an_audited_agency_outside_the_scope_is_refused_naming_the_field() -> None:
    raw = example("audit.finding_recorded", agencycode="H56.01")
    raw["data"]["audited_agency"] = "H57.01"
    event = parse_event(raw)
    [problem] = scope_problems(H56_AUDITS, event)
    assert problem.field == "data.audited_agency"
    assert "'H57.01'" in problem.reason
    refused = admit_event(raw, H56_AUDITS, NOW, LATEST, "qms.")
    assert not isinstance(refused, Admitted) and refused.status == 403
    assert (
        admit_valid_batch(json.dumps([raw]).encode(), H56_AUDITS, NOW, LATEST, "qms.", 10) is None
    )


def test_an_audit_within_the_scope_is_admitted() -> None:
    raw = example("audit.finding_recorded")
    assert isinstance(admit_event(raw, H56_AUDITS, NOW, LATEST, "qms."), Admitted)


def test_the_digest_is_that_of_the_event_as_sent_whichever_path_admitted_it() -> None:
    raw = example("audit.finding_recorded")
    single = admit_event(raw, H56_AUDITS, NOW, LATEST, "qms.")
    [batch] = (
        admit_valid_batch(json.dumps([raw]).encode(), H56_AUDITS, NOW, LATEST, "qms.", 10) or []
    )
    assert isinstance(single, Admitted)
    assert single.content == batch.content == event_digest(parse_event(raw))
    other = admit_event({**raw, "subject": "AUDIT-H56-2025-02"}, H56_AUDITS, NOW, LATEST, "qms.")
    assert isinstance(other, Admitted) and other.content != single.content


def test_the_replayed_window_has_the_digest_admission_computed() -> None:
    admitted = admit_event(example("audit.finding_recorded"), H56_AUDITS, NOW, LATEST, "qms.")
    assert isinstance(admitted, Admitted)
    replayed = acceptance_from_record(TopicPartition("qms.audit.v1", 0), 5, admitted.record.value)
    assert replayed is not None
    assert replayed.key == admitted.key and replayed.content == admitted.content


def test_a_record_without_the_stamp_bytes_is_digested_from_its_model() -> None:
    admitted = admit_event(example("audit.finding_recorded"), H56_AUDITS, NOW, LATEST, "qms.")
    assert isinstance(admitted, Admitted)
    # The same event written by another writer: members in another order, spaces.
    rewritten = json.dumps(json.loads(admitted.record.value), indent=1, sort_keys=True)
    replayed = acceptance_from_record(TopicPartition("qms.audit.v1", 0), 5, rewritten.encode())
    assert replayed is not None and replayed.content == admitted.content


def test_a_record_without_a_publisher_is_still_remembered() -> None:
    admitted = admit_event(example("audit.finding_recorded"), H56_AUDITS, NOW, LATEST, "qms.")
    assert isinstance(admitted, Admitted)
    body = json.loads(admitted.record.value)
    del body["publisher"]
    replayed = acceptance_from_record(
        TopicPartition("qms.audit.v1", 0), 5, json.dumps(body).encode()
    )
    assert replayed is not None and replayed.content == admitted.content
