"""A small working fake of intake's batch endpoint (not a mock): validates, dedups, refuses.

It keeps what it accepted in order, answers duplicates by (source, id), refuses events
that fail the contract with a problem naming the field, and can be told to answer the
next requests with 429, 503 or to drop the connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from schemas import EventValidationError, parse_event

TOKEN = "dev-demo-province-token"


@dataclass
class FakeIntake:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    keys: set[tuple[str, str]] = field(default_factory=set)
    requests: int = 0
    script: list[str] = field(default_factory=list)  # next answers: "429", "503", "drop"
    unavailable_ids: set[str] = field(default_factory=set)  # refused once as 503 each

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/events/batch")
        async def batch(request: Request) -> JSONResponse:
            """Per-item results, as the real intake answers."""
            self.requests += 1
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"status": 401, "title": "Unauthenticated"}, 401)
            if self.script:
                answer = self.script.pop(0)
                if answer == "429":
                    return JSONResponse({"status": 429}, 429, headers={"Retry-After": "0"})
                if answer == "503":
                    return JSONResponse({"status": 503}, 503)
            return JSONResponse(self._results(await request.json()))

        return app

    def _results(self, raws: list[dict[str, Any]]) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        for index, raw in enumerate(raws):
            result: dict[str, Any] = {"index": index, "id": raw.get("id")}
            try:
                event = parse_event(raw, refuse_unknown_fields=True)
            except EventValidationError as exc:
                errors = [
                    {"index": index, "field": e.field, "reason": e.reason} for e in exc.errors
                ]
                result |= {"status": "rejected", "problem": {"status": 422, "errors": errors}}
            else:
                if event.id in self.unavailable_ids:
                    self.unavailable_ids.discard(event.id)
                    result |= {"status": "rejected", "problem": {"status": 503, "errors": []}}
                elif (event.source, event.id) in self.keys:
                    result["status"] = "duplicate"
                else:
                    self.keys.add((event.source, event.id))
                    self.accepted.append(raw)
                    result["status"] = "accepted"
            results.append(result)
        tally = {s: sum(r["status"] == s for r in results) for s in ("accepted", "duplicate")}
        return {
            "accepted": tally["accepted"],
            "duplicates": tally["duplicate"],
            "rejected": len(results) - sum(tally.values()),
            "results": results,
        }


class DroppingTransport(httpx.AsyncBaseTransport):
    """ASGI transport to the fake that fails to connect while the fake's script says 'drop'."""

    def __init__(self, fake: FakeIntake) -> None:
        self.fake = fake
        self.inner = httpx.ASGITransport(app=fake.app())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fake.script and self.fake.script[0] == "drop":
            self.fake.script.pop(0)
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)
