"""A flash crowd: many distinct customers book at once over real HTTP."""

import asyncio
import time
from dataclasses import dataclass

import httpx


@dataclass
class Reply:
    status: int
    request_id: str | None
    seconds: float
    error: str = ""


async def _book(
    client: httpx.AsyncClient,
    token: str,
    event_id: int,
    gate: asyncio.Semaphore,
    prefer: str | None,
) -> Reply:
    headers = {"Authorization": f"Token {token}"}
    if prefer:
        headers["Prefer"] = prefer
    async with gate:
        started = time.perf_counter()
        try:
            response = await client.post(
                "/bookingapi/booking/", json={"event": event_id}, headers=headers
            )
        except httpx.HTTPError as exc:
            return Reply(0, None, time.perf_counter() - started, repr(exc))
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        request_id = body.get("id") or body.get("error", {}).get("details", {}).get(
            "request", {}
        ).get("id")
        return Reply(response.status_code, request_id, time.perf_counter() - started)


async def _crowd(
    base_url: str, jobs: list[tuple[str, int]], concurrency: int, prefer: str | None, timeout: float
) -> list[Reply]:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        return await asyncio.gather(
            *(_book(client, token, event_id, gate, prefer) for token, event_id in jobs)
        )


def flash_crowd(
    base_url: str,
    jobs: list[tuple[str, int]],
    *,
    concurrency: int,
    prefer: str | None = None,
    timeout: float = 60.0,
) -> list[Reply]:
    """POST one booking per (token, event id), at most ``concurrency`` in flight."""
    return asyncio.run(_crowd(base_url, jobs, concurrency, prefer, timeout))
