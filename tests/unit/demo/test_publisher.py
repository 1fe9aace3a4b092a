"""The publisher against a fake intake batch endpoint served through httpx's ASGI transport."""

from __future__ import annotations

import pytest

from schemas import event_to_json
from services.demo.adapters.publisher import PublishError, RetryPolicy, publish
from services.demo.domain.province import Province, generate_province
from tests.unit.demo.conftest import NOW
from tests.unit.demo.fake_intake import TOKEN, DroppingTransport, FakeIntake

pytestmark = pytest.mark.unit

FAST = RetryPolicy(max_attempts=4, first_delay=0.0, max_delay=0.0)
URL = "http://intake.test"


@pytest.fixture(scope="module")
def province() -> Province:
    return generate_province(21, agencies=8, dossiers=120, months=2, now=NOW)


async def test_publishes_every_event_once_in_order(province: Province) -> None:
    fake = FakeIntake()
    progress: list[int] = []
    report = await publish(
        province.events, URL, TOKEN, batch_size=50, retry=FAST,
        transport=DroppingTransport(fake), on_progress=progress.append,
    )  # fmt: skip
    assert fake.accepted == [event_to_json(e) for e in province.events]
    assert report.accepted == report.events == len(province.events)
    assert report.batches == fake.requests == -(-len(province.events) // 50)
    assert sum(progress) == len(province.events)
    assert (report.duplicates, report.retries) == (0, 0)


async def test_republishing_only_meets_duplicates(province: Province) -> None:
    fake = FakeIntake()
    transport = DroppingTransport(fake)
    await publish(province.events, URL, TOKEN, retry=FAST, transport=transport)
    again = await publish(province.events, URL, TOKEN, retry=FAST, transport=transport)
    assert (again.accepted, again.duplicates) == (0, len(province.events))
    assert len(fake.accepted) == len(province.events)


@pytest.mark.parametrize("failures", [["429"], ["503", "429"], ["drop"], ["drop", "503"]])
async def test_retries_a_batch_after_429_5xx_and_connection_errors(
    province: Province, failures: list[str]
) -> None:
    fake = FakeIntake(script=list(failures))
    report = await publish(
        province.events, URL, TOKEN, batch_size=100, retry=FAST, transport=DroppingTransport(fake)
    )
    assert report.retries == len(failures)
    assert fake.accepted == [event_to_json(e) for e in province.events]
    if "429" in failures:
        assert report.statuses[429] == 1


async def test_items_refused_as_unavailable_are_retried_alone(province: Province) -> None:
    victims = {province.events[3].id, province.events[7].id}
    fake = FakeIntake(unavailable_ids=set(victims))
    report = await publish(
        province.events, URL, TOKEN, batch_size=100, retry=FAST, transport=DroppingTransport(fake)
    )
    assert report.accepted == len(province.events)
    assert sorted(e["id"] for e in fake.accepted) == sorted(e.id for e in province.events)
    assert report.retries == 1


async def test_gives_up_after_the_last_attempt(province: Province) -> None:
    fake = FakeIntake(script=["503"] * 10)
    with pytest.raises(PublishError, match="giving up after 4 attempts"):
        await publish(province.events, URL, TOKEN, retry=FAST, transport=DroppingTransport(fake))
    assert fake.requests == 4


async def test_a_rejected_event_fails_loudly_with_its_problem(province: Province) -> None:
    good = province.events[:5]
    bad = province.events[5].model_copy(update={"agencycode": "not a code"})
    fake = FakeIntake()
    with pytest.raises(PublishError) as caught:
        await publish([*good, bad], URL, TOKEN, retry=FAST, transport=DroppingTransport(fake))
    (problem,) = caught.value.problems
    assert problem["event"] == 5 and problem["id"] == bad.id
    assert problem["problem"]["errors"][0]["field"] == "agencycode"


async def test_a_wrong_token_is_not_retried(province: Province) -> None:
    fake = FakeIntake()
    with pytest.raises(PublishError, match="HTTP 401"):
        await publish(province.events, URL, "wrong", retry=FAST, transport=DroppingTransport(fake))
    assert fake.requests == 1


def test_retry_after_wins_over_backoff() -> None:
    policy = RetryPolicy(first_delay=1.0, max_delay=8.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.delay(1, "3") == 3.0
    assert policy.delay(5, "Wed, 21 Oct 2015 07:28:00 GMT") == 8.0
