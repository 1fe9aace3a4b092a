"""The policy and sightings agents' per-record path with fakes: a record that fails
anywhere becomes its dead letter, nothing after it is lost, sends are retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.capa import RootCauseCategory
from services.capa.adapters.codec import decode_command, encode_sightings
from services.capa.domain.commands import Command, FlagRecurrence
from services.capa.domain.policies import DueDatePolicy
from services.capa.domain.recurrence import RootCauseSighting
from services.capa.service_layer.policies import (
    Outgoing,
    RecordHandler,
    SourceRecord,
    policy_commands,
    recurrence_commands,
)
from services.common.backoff import Backoff
from services.common.deadletter import DeadLetter, RecordPosition

pytestmark = pytest.mark.unit
TOPIC = "qms.audit.v1"


def finding(event_id: str, time: str | None = None) -> bytes:
    at = time or (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "urn:vn:gov:h56:audit-tool",
            "type": "vn.qms.audit.finding_recorded.v1",
            "subject": "AUD-2026-07",
            "time": at,
            "agencycode": "H56.01",
            "data": {
                "finding_id": f"F-{event_id}",
                "kind": "internal_audit",
                "audited_agency": "H56.01",
                "classification": "major",
                "iso_clause": "8.5.1",
                "process": f"process-{event_id}",
                "description": "Process control sheet not kept",
                "auditor_id": "auditor-3e4f5a6b",
            },
        }
    ).encode()


def record(offset: int, value: bytes) -> SourceRecord:
    return SourceRecord(RecordPosition(TOPIC, 0, offset), b"AUD-2026-07", value)


class Kafka:
    """Fake producer ports: fail the first `failures` sends of each kind, then keep them."""

    def __init__(self, failures: int = 0) -> None:
        self.command_failures = self.letter_failures = failures
        self.commands: list[Outgoing] = []
        self.letters: list[DeadLetter] = []

    async def send_command(self, command: Outgoing) -> None:
        if self.command_failures:
            self.command_failures -= 1
            raise ConnectionError("broker away")
        self.commands.append(command)

    async def send_letter(self, letter: DeadLetter) -> None:
        if self.letter_failures:
            self.letter_failures -= 1
            raise ConnectionError("broker away")
        self.letters.append(letter)

    def opened(self) -> list[str]:
        return [str(decode_command(c.value).reason).split()[2] for c in self.commands]


def handler(kafka: Kafka) -> RecordHandler:
    return RecordHandler(
        kafka.send_command, kafka.send_letter, "qms.capa", backoff=lambda: Backoff(0.001, 0.002)
    )


def policies(value: bytes) -> list[Command]:
    return policy_commands(value, DueDatePolicy())


async def test_a_major_finding_in_year_0001_is_dead_lettered_and_the_findings_around_it_open() -> (
    None
):
    kafka = Kafka()
    handle = handler(kafka).handle
    await handle(record(0, finding("before")), policies)
    await handle(record(1, finding("poison", "0001-01-01T00:00:00+08:00")), policies)
    await handle(record(2, finding("after")), policies)
    assert kafka.opened() == ["before", "after"]
    (letter,) = kafka.letters
    assert letter.position == RecordPosition(TOPIC, 0, 1)
    # The contract refuses the time (naming it); before it did, mapping it overflowed. Either
    # way the record is a dead letter that names the value.
    assert "0001-01-01T00:00:00+08:00" in letter.reason
    assert letter.reason.startswith("time:") or letter.error == "OverflowError"
    assert letter.consumer == "qms.capa"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'{"type": "vn.qms.audit.finding_recorded.v1", "id": "x"}', "source"),
    ],
)
async def test_unreadable_source_records_are_dead_lettered_with_the_reason(
    value: bytes, reason: str
) -> None:
    kafka = Kafka()
    await handler(kafka).handle(record(7, value), policies)
    (letter,) = kafka.letters
    assert reason in letter.reason and letter.value == value and letter.error == ""
    assert kafka.commands == []


@pytest.mark.parametrize("where", [0, 1, 2])
async def test_an_exception_anywhere_in_the_per_record_path_dead_letters_that_record_only(
    where: int,
) -> None:
    def policy_with_a_bug(value: bytes) -> list[Command]:
        if json.loads(value)["id"] == f"e{where}":
            raise KeyError("a bug in the policy")
        return policies(value)

    kafka = Kafka()
    handle = handler(kafka).handle
    for n in range(3):
        await handle(record(n, finding(f"e{n}")), policy_with_a_bug)
    assert kafka.opened() == [f"e{n}" for n in range(3) if n != where]
    assert [(x.position.offset, x.error) for x in kafka.letters] == [(where, "KeyError")]


async def test_failed_sends_are_retried_until_the_broker_acknowledges() -> None:
    kafka = Kafka(failures=3)
    handle = handler(kafka).handle
    await handle(record(0, finding("e0")), policies)
    await handle(record(1, b"nope"), policies)
    assert kafka.opened() == ["e0"]
    assert [x.position.offset for x in kafka.letters] == [1]


def sighting(capa: str, days: int) -> RootCauseSighting:
    return RootCauseSighting(
        capa,
        "H56.01",
        "land registration",
        RootCauseCategory.PROCESS,
        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=days),
    )


async def test_a_sightings_record_flags_a_recurrence_and_a_broken_one_leaves_the_index() -> None:
    first, second = sighting("CAPA-1", 0), sighting("CAPA-2", 30)
    table: dict[str, bytes] = {first.key: encode_sightings([first])}
    written: dict[str, Any] = {}

    def index(value: bytes) -> list[Command]:
        writes, commands = recurrence_commands(value, table.get, datetime.now(UTC))
        written.update(writes)
        return commands

    kafka = Kafka()
    handle = handler(kafka).handle
    await handle(record(0, b'[{"capa_id": 1}]'), index)  # not a sighting list
    assert written == {} and len(kafka.letters) == 1
    await handle(record(1, encode_sightings([second])), index)
    (flag,) = [decode_command(c.value) for c in kafka.commands]
    assert isinstance(flag, FlagRecurrence)
    assert (flag.capa_id, flag.earlier_capa_id) == ("CAPA-2", "CAPA-1")
    assert set(written) == {first.key}
