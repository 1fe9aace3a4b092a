"""A small client of the CAPA HTTP API (used by the scripted closure and by the tests)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx


class CapaApiError(Exception):
    """A problem document the API answered with."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status}: {problem.get('detail', problem)}")


class CapaClient:
    """One caller (one bearer token) of the CAPA API."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 30.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    def __enter__(self) -> CapaClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        body = response.json() if response.content else {}
        if response.status_code >= 400:
            raise CapaApiError(response.status_code, body if isinstance(body, dict) else {})
        assert isinstance(body, dict)
        return body

    def list(self, **filters: Any) -> dict[str, Any]:
        params = {k: v for k, v in filters.items() if v is not None}
        return self._json(self._http.get("/v1/capas", params=params))

    def get(self, capa_id: str, as_of: str | None = None) -> dict[str, Any]:
        params = {"as_of": as_of} if as_of else {}
        return self._json(self._http.get(f"/v1/capas/{capa_id}", params=params))

    def summary(self) -> dict[str, Any]:
        return self._json(self._http.get("/v1/capas/summary"))

    def stats(self) -> dict[str, Any]:
        """Consumer lag per source partition and `consumer.caught_up` (GET /v1/stats)."""
        return self._json(self._http.get("/v1/stats"))

    def command(self, capa_id: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a command (`correction`, `root-cause`, `action-plan`, …); returns the result."""
        return self._json(self._http.post(f"/v1/capas/{capa_id}/{path}", json=body))
