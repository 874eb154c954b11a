"""A flash crowd: many distinct customers book at once over real HTTP."""

import asyncio
import os
import signal
import threading
import time
from dataclasses import dataclass

import httpx

from devtools.stack import Stack, poll, shell_json

CROWD = 500
CAPACITY = 50


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


# --- the scenarios both profiles run -------------------------------------------------------------


def settle(stack: Stack, *event_ids: int, timeout: float = 120) -> dict:
    """Wait until no command of the events is pending; return their report."""

    def decided():
        report = stack.manage_json("event_report", *map(str, event_ids))
        return report if report["requests"]["pending"] == 0 else None

    return poll(decided, timeout=timeout, interval=0.5, what="every request decided")


def assert_exactly_capacity(report: dict, crowd: int, capacity: int, refused: int = 0) -> None:
    """``refused``: requests refused at the door (409 sold_out at once, nothing recorded)."""
    (event,) = report["events"]
    assert report["requests"]["confirmed"] == capacity
    assert report["requests"]["rejected"] == crowd - capacity - refused
    assert report["requests"]["pending"] == 0
    assert event["seats_taken"] == event["active_bookings"] == capacity


def book_all_at_once(stack: Stack, event_id: int, tokens: list[str]) -> int:
    """Every customer books at once; each gets a 202 and its own request, or, once the event
    is seen full, a 409 sold_out at once (nothing recorded). Returns how many were refused."""
    replies = flash_crowd(stack.base_url, [(t, event_id) for t in tokens], concurrency=len(tokens))
    assert [r for r in replies if r.status not in (202, 409)] == []
    accepted = [r for r in replies if r.status == 202]
    assert len({r.request_id for r in accepted}) == len(accepted)
    return len(replies) - len(accepted)


def flash_crowd_scenario(stack: Stack) -> None:
    """CROWD distinct customers at an event of CAPACITY: exactly CAPACITY confirmed, every
    request decided, no 5xx, invariants hold."""
    seed = stack.manage_json("seed_crowd", "--customers", str(CROWD), "--capacity", str(CAPACITY))
    event_id = seed["events"][0]
    refused = book_all_at_once(stack, event_id, seed["tokens"])
    assert_exactly_capacity(settle(stack, event_id), CROWD, CAPACITY, refused)
    stack.manage("check_invariants", "--pending-threshold", "60")


def flash_crowd_with_a_killed_worker_scenario(stack: Stack) -> None:
    """The same while the partition's worker is SIGKILLed after its first decisions: the
    launcher restarts it (it takes the lease again), the sweeper re-rings what was lost."""
    seed = stack.manage_json("seed_crowd", "--customers", str(CROWD), "--capacity", str(CAPACITY))
    event_id, partition = seed["events"][0], seed["partitions"][0]
    killed = []

    def kill_when_busy():
        poll(
            lambda: stack.manage_json("event_report", str(event_id))["requests"]["confirmed"],
            timeout=60,
            interval=0.05,
            what="the first decisions",
        )
        pid = stack.partition_worker_pid(partition)
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    refused = book_all_at_once(stack, event_id, seed["tokens"])
    killer.join(60)

    assert killed, "the partition worker was not killed"
    assert_exactly_capacity(settle(stack, event_id), CROWD, CAPACITY, refused)
    restarted = poll(
        lambda: stack.partition_worker_pid(partition), timeout=30, what="the restarted worker"
    )
    assert restarted != killed[0]
    stack.manage("check_invariants", "--pending-threshold", "60")


def spread_crowd_scenario(stack: Stack, *, events: int = 24, capacity: int = 5) -> None:
    """A crowd spread over many events (several per partition, so a partition round decides a
    few events with a command or two each and writes them together): each event confirms
    exactly its capacity, every command is decided exactly once, the invariants hold."""
    crowd = events * capacity * 4
    seed = stack.manage_json(
        "seed_crowd",
        "--customers",
        str(crowd),
        "--capacity",
        str(capacity),
        "--events",
        str(events),
    )
    event_ids = seed["events"]
    jobs = [(token, event_ids[n % events]) for n, token in enumerate(seed["tokens"])]
    replies = flash_crowd(stack.base_url, jobs, concurrency=100)
    assert [r for r in replies if r.status not in (202, 409)] == []
    report = settle(stack, *event_ids)
    assert report["requests"]["pending"] == 0
    assert report["requests"]["confirmed"] == events * capacity
    assert len(report["events"]) == events
    for event in report["events"]:
        assert event["seats_taken"] == event["active_bookings"] == capacity
    counts = decision_counts(stack, event_ids)
    assert counts["decided_twice"] == 0 and counts["decided_once"] == counts["requests"]
    stack.manage("check_invariants", "--pending-threshold", "60")


DECISION_COUNTS = """
import json
from apps.audit.models import HistoryPoint
from apps.bookings.models import BookingRequest
ids = [str(u) for u in
       BookingRequest.objects.filter(event_id__in={event_ids}).values_list("uid", flat=True)]
points = HistoryPoint.objects.filter(details__event__in={event_ids}).values_list(
    "details", flat=True)
per_request = {{}}
for d in points:
    per_request[d["request"]] = per_request.get(d["request"], 0) + 1
print(json.dumps({{"requests": len(ids), "decided_once": sum(per_request.get(i) == 1 for i in ids),
                   "decided_twice": sum(per_request.get(i, 0) > 1 for i in ids)}}))
"""


def decision_counts(stack: Stack, event_ids: list[int]) -> dict:
    """How many of the events' commands were decided once, and twice (from their history)."""
    return shell_json(stack, DECISION_COUNTS.format(event_ids=list(event_ids)))


EVENT_PER_PARTITION = """
import json
from datetime import timedelta
from django.conf import settings
from django.utils import timezone
from apps.accounts.models import Organizer
from apps.events.services import create_event
organizer = Organizer.objects.first()
start = timezone.now() + timedelta(days=30)
chosen = {{}}
while len(chosen) < settings.BOOKING_PARTITIONS:
    event = create_event(creator=organizer, title="spread", start_time=start,
                         end_time=start + timedelta(hours=2), capacity={capacity})
    chosen.setdefault(event.partition, event.pk)
print(json.dumps([chosen[p] for p in sorted(chosen)]))
"""


def events_on_every_partition(stack: Stack, *, capacity: int) -> list[int]:
    """A new event on each partition (created until every one has one), by partition number;
    the stack must hold an organizer (``seed_crowd`` makes one)."""
    return shell_json(stack, EVENT_PER_PARTITION.format(capacity=capacity))
