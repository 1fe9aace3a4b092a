"""Forward an HTTP request for one CAPA to the worker that owns its partition, once.

Each CAPA worker advertises its API URL through faust's assignor (`canonical_url`); a
worker receiving a command for a partition it does not own relays the request there,
unchanged but for a header naming itself, and relays the answer back. A forwarded request
is never forwarded again (a stale routing table would otherwise bounce it around): the
receiver answers it or says 503 with Retry-After.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

FORWARDED_BY = "qms-forwarded-by"
# Headers of the caller's request worth relaying (authentication and content).
_RELAYED_REQUEST_HEADERS = ("authorization", "content-type", "accept")
_RELAYED_RESPONSE_HEADERS = ("content-type", "retry-after", "www-authenticate")


class ForwardFailed(Exception):
    """The owner could not be reached or did not answer in time."""


def was_forwarded(headers: Mapping[str, str]) -> bool:
    return FORWARDED_BY in headers


class CommandForwarder:
    """An HTTP client to the other workers of the group."""

    def __init__(self, instance_id: str, timeout_s: float) -> None:
        self._instance_id = instance_id
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def forward(
        self,
        method: str,
        owner_url: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, dict[str, str], bytes]:
        """The same request at the owner; (status, headers, body) of its answer."""
        relayed = {k: v for k, v in headers.items() if k.lower() in _RELAYED_REQUEST_HEADERS}
        relayed[FORWARDED_BY] = self._instance_id
        url = owner_url.rstrip("/") + path + (f"?{query}" if query else "")
        try:
            response = await self._client.request(method, url, content=body, headers=relayed)
        except httpx.HTTPError as exc:
            raise ForwardFailed(f"{type(exc).__name__}: {exc}") from exc
        kept = {k: v for k, v in response.headers.items() if k.lower() in _RELAYED_RESPONSE_HEADERS}
        return response.status_code, kept, response.content

    async def aclose(self) -> None:
        await self._client.aclose()
