"""Publish events to the intake API as an integrating system would (`POST /v1/events/batch`).

Batches go out one after another in the order given (global time order), so every
aggregate's events reach intake in order. A batch is retried, with backoff, on 429 (after
its Retry-After), 5xx and connection errors: intake recognises ids it already accepted, so
a retry never doubles an event. Items refused for a transient reason (their problem says
503) are retried alone; any other refused item stops the run with its problem.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from schemas.binding import event_to_json
from schemas.envelope import CloudEvent

BATCH_PATH = "/v1/events/batch"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
RETRYABLE_ITEM_STATUSES = frozenset({429, 500, 502, 503, 504})


class PublishError(RuntimeError):
    """Intake refused something for good: `problems` says what and why."""

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        self.problems = problems or []
        super().__init__(message)


@dataclass
class PublishReport:
    """What one publication did."""

    events: int = 0
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    retries: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> responses


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff; Retry-After wins when intake sends one."""

    max_attempts: int = 8
    first_delay: float = 0.5
    max_delay: float = 15.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after is not None:
            try:
                return max(0.0, min(float(retry_after), self.max_delay * 4))
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff
        return float(min(self.max_delay, self.first_delay * 2 ** (attempt - 1)))


Progress = Callable[[int], None]  # called with the number of events just settled


async def publish(
    events: Sequence[CloudEvent],
    intake_url: str,
    token: str,
    *,
    batch_size: int = 500,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    request_timeout: float = 60.0,
    on_progress: Progress | None = None,
) -> PublishReport:
    """Post `events` in order, `batch_size` at a time; raise PublishError on any refusal."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    retry = retry or RetryPolicy()
    report = PublishReport(events=len(events))
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": BATCH_CONTENT_TYPE}
    async with httpx.AsyncClient(
        base_url=intake_url.rstrip("/"),
        headers=headers,
        timeout=request_timeout,
        transport=transport,
    ) as client:
        for start in range(0, len(events), batch_size):
            batch = [event_to_json(e) for e in events[start : start + batch_size]]
            await _send_batch(client, batch, start, retry, report)
            report.batches += 1
            if on_progress is not None:
                on_progress(len(batch))
    report.seconds = time.monotonic() - started
    return report


def publish_sync(
    events: Sequence[CloudEvent], intake_url: str, token: str, **options: Any
) -> PublishReport:
    """`publish` for callers without an event loop."""
    return asyncio.run(publish(events, intake_url, token, **options))


async def _send_batch(
    client: httpx.AsyncClient,
    batch: list[dict[str, Any]],
    offset: int,
    retry: RetryPolicy,
    report: PublishReport,
) -> None:
    pending = batch
    attempt = 0
    while pending:
        attempt += 1
        body = await _post(client, pending, retry, report, attempt)
        results = body.get("results")
        if not isinstance(results, list) or len(results) != len(pending):
            raise PublishError(f"intake answered an unexpected batch body: {str(body)[:500]}")
        report.accepted += sum(1 for r in results if r.get("status") == "accepted")
        report.duplicates += sum(1 for r in results if r.get("status") == "duplicate")
        rejected = [r for r in results if r.get("status") == "rejected"]
        transient = [r for r in rejected if _problem_status(r) in RETRYABLE_ITEM_STATUSES]
        permanent = [r for r in rejected if r not in transient]
        if permanent:
            problems = [
                {"event": offset + int(r.get("index", 0)), "id": r.get("id"),
                 "problem": r.get("problem")}
                for r in permanent
            ]  # fmt: skip
            raise PublishError(
                f"intake rejected {len(permanent)} event(s) of the batch starting at event "
                f"{offset}",
                problems,
            )
        if transient and attempt >= retry.max_attempts:
            raise PublishError(
                f"{len(transient)} event(s) still refused as unavailable after {attempt} attempts",
                [{"id": r.get("id"), "problem": r.get("problem")} for r in transient],
            )
        pending = [pending[int(r["index"])] for r in transient]
        if pending:
            report.retries += 1
            await asyncio.sleep(retry.delay(attempt))


async def _post(
    client: httpx.AsyncClient,
    batch: list[dict[str, Any]],
    retry: RetryPolicy,
    report: PublishReport,
    attempt: int,
) -> dict[str, Any]:
    """POST one batch until intake answers 200; retry what is worth retrying."""
    content = json.dumps(batch, ensure_ascii=False, separators=(",", ":")).encode()
    while True:
        retry_after: str | None = None
        try:
            response = await client.post(BATCH_PATH, content=content)
        except httpx.TransportError as exc:
            failure = f"{type(exc).__name__}: {exc}"
        else:
            report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
            failure = f"HTTP {response.status_code}: {response.text[:1000]}"
            if response.status_code != 429 and response.status_code < 500:
                raise PublishError(f"intake refused the batch: {failure}", _problems_of(response))
            retry_after = response.headers.get("Retry-After")
        if attempt >= retry.max_attempts:
            raise PublishError(f"giving up after {attempt} attempts; last answer: {failure}")
        report.retries += 1
        await asyncio.sleep(retry.delay(attempt, retry_after))
        attempt += 1


def _problem_status(result: dict[str, Any]) -> int | None:
    problem = result.get("problem")
    status = problem.get("status") if isinstance(problem, dict) else None
    return status if isinstance(status, int) else None


def _problems_of(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    return [body] if isinstance(body, dict) else []
