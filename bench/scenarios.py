"""The scenarios: one flash crowd against each design (old, then new) on the same stack, and the
partition worker's own rate on a backlog of pending commands."""

import json
import time

from bench.db import Db
from bench.load import drive, log, pct, r3
from devtools.stack import Stack

NEW_PATH = "/bookingapi/booking/"
OLD_PATH = "/legacyapi/book/"


def run_new(stack: Stack, db: Db, jobs, events, concurrency, settle_timeout) -> dict:
    load = drive(stack.base_url, NEW_PATH, jobs, concurrency, "new design")
    accepted = load.statuses.get(202, 0)
    log(f"  new design: {accepted} accepted in {load.seconds:.1f}s; waiting for decisions")
    deadline = time.monotonic() + settle_timeout
    while True:
        counts = db.requests_by_status(events)
        pending = counts.get("pending", 0)
        if pending == 0 or time.monotonic() >= deadline:
            break
        log(f"  new design: {pending} pending, {sum(counts.values()) - pending} decided")
        time.sleep(1)
    latencies, span = db.decision_latencies(events)
    decided = len(latencies)
    end_to_end = db.end_to_end(load.sent_at)
    seats = db.seats(events)
    return {
        "requests": len(jobs),
        "accepted": accepted,
        "status_counts": {str(k): v for k, v in sorted(load.statuses.items())},
        "transport_errors": load.errors,
        "transport_error_kinds": load.error_kinds,
        "server_errors_5xx": load.server_errors,
        "load_seconds": r3(load.seconds),
        "accepted_per_second": r3(accepted / load.seconds),
        "request_seconds": {
            "p50": r3(pct(load.latencies, 50)),
            "p95": r3(pct(load.latencies, 95)),
            "p99": r3(pct(load.latencies, 99)),
        },
        "decided": decided,
        "first_request_to_last_decision_seconds": r3(span),
        "decisions_per_second": r3(decided / span) if span else None,
        # From the command's insert (created_at) to its decision, as event_report measures it.
        "recorded_to_decision_seconds": {
            "p50": r3(pct(latencies, 50)),
            "p95": r3(pct(latencies, 95)),
            "p99": r3(pct(latencies, 99)),
            "max": r3(max(latencies) if latencies else None),
        },
        # From the client sending the POST to the decision: comparable with the old design.
        "time_to_decision_seconds": {
            "p50": r3(pct(end_to_end, 50)),
            "p95": r3(pct(end_to_end, 95)),
            "p99": r3(pct(end_to_end, 99)),
            "max": r3(max(end_to_end) if end_to_end else None),
        },
        "confirmed": counts.get("confirmed", 0),
        "rejected": counts.get("rejected", 0),
        "lost": accepted - decided,
        **seats,
    }


def run_old(stack: Stack, db: Db, jobs, events, concurrency) -> dict:
    load = drive(stack.base_url, OLD_PATH, jobs, concurrency, "old design")
    decided = load.statuses.get(201, 0) + load.statuses.get(409, 0)
    seats = db.seats(events)
    return {
        "requests": len(jobs),
        "status_counts": {str(k): v for k, v in sorted(load.statuses.items())},
        "transport_errors": load.errors,
        "transport_error_kinds": load.error_kinds,
        "server_errors_5xx": load.server_errors,
        "load_seconds": r3(load.seconds),
        "decided": decided,
        "bookings_per_second": r3(decided / load.seconds),
        "decisions_per_second": r3(decided / load.seconds),
        "time_to_decision_seconds": {
            "p50": r3(pct(load.latencies, 50)),
            "p95": r3(pct(load.latencies, 95)),
            "p99": r3(pct(load.latencies, 99)),
            "max": r3(max(load.latencies) if load.latencies else None),
        },
        "confirmed": load.statuses.get(201, 0),
        "rejected": load.statuses.get(409, 0),
        "undecided": len(jobs) - decided,
        **seats,
    }


def scenario(
    stack: Stack,
    db: Db,
    idle,
    *,
    name: str,
    requests: int,
    capacity: int,
    events: int,
    concurrency: int,
    settle_timeout: float,
) -> dict:
    per_event = max(1, capacity // events)
    log(
        f"scenario {name}: {requests} requests from distinct customers over {events} event(s), "
        f"capacity {per_event * events} in all, {concurrency} concurrent clients"
    )
    seed = json.loads(
        stack.manage(
            "seed_crowd",
            "--customers",
            str(requests),
            "--capacity",
            str(per_event),
            "--events",
            str(2 * events),
            timeout=600,
        )
        .strip()
        .splitlines()[-1]
    )
    new_events, old_events = seed["events"][:events], seed["events"][events:]
    tokens = seed["tokens"]
    new_jobs = [(t, new_events[i % events]) for i, t in enumerate(tokens)]
    old_jobs = [(t, old_events[i % events]) for i, t in enumerate(tokens)]
    idle()
    old = run_old(stack, db, old_jobs, old_events, concurrency)
    log(
        f"  old design: {old['bookings_per_second']}/s, p99 "
        f"{old['time_to_decision_seconds']['p99']}s, 5xx {old['server_errors_5xx']}"
    )
    idle()
    new = run_new(stack, db, new_jobs, new_events, concurrency, settle_timeout)
    new["queue_drain_seconds_after"] = r3(idle())
    log(
        f"  new design: accepted {new['accepted_per_second']}/s, decisions "
        f"{new['decisions_per_second']}/s, p99 to decision "
        f"{new['time_to_decision_seconds']['p99']}s, lost {new['lost']}"
    )
    old_rate = old["bookings_per_second"] or 0
    ratios = {
        "accepted_per_s_new_over_booking_per_s_old": r3(new["accepted_per_second"] / old_rate)
        if old_rate
        else None,
        "decisions_per_s_new_over_old": r3((new["decisions_per_second"] or 0) / old_rate)
        if old_rate
        else None,
        "p99_decision_old_over_new": r3(
            old["time_to_decision_seconds"]["p99"] / new["time_to_decision_seconds"]["p99"]
        )
        if new["time_to_decision_seconds"]["p99"]
        else None,
    }
    return {
        "requests": requests,
        "capacity": per_event * events,
        "events": events,
        "concurrency": concurrency,
        "new": new,
        "old": old,
        "ratios": ratios,
    }


BACKLOG_CODE = """
import json, time
from apps.accounts.models import Customer
from apps.bookings.models import BookingRequest, CommandKind
from apps.events.models import Event
from rest_framework.authtoken.models import Token
from apps.bookings.commands import ring
event = Event.objects.get(pk={event_id})
tokens = json.load(open({tokens_file!r}))
users = Token.objects.filter(key__in=tokens).values_list("user_id", flat=True)
customers = Customer.objects.filter(user_id__in=list(users))
BookingRequest.objects.bulk_create([BookingRequest(kind=CommandKind.BOOK, user_id=c.user_id,
    customer=c, event=event) for c in customers], batch_size=1000)
started = time.time()
ring(event_id=event.pk, partition=event.partition)
print(json.dumps(started))
"""


def backlog(stack: Stack, db: Db, idle, *, requests: int, capacity: int, timeout: float) -> dict:
    """The partition worker's own decision rate: a backlog of pending commands for one event,
    recorded without doorbells, then one doorbell. No HTTP in the way."""
    log(f"backlog: {requests} pending commands at one event (capacity {capacity}), one doorbell")
    seed = json.loads(
        stack.manage(
            "seed_crowd", "--customers", str(requests), "--capacity", str(capacity), timeout=600
        )
        .strip()
        .splitlines()[-1]
    )
    event_id = seed["events"][0]
    tokens_file = stack.data_dir / "backlog-tokens.json"
    tokens_file.write_text(json.dumps(seed["tokens"]))
    idle()
    rung = json.loads(
        stack.manage(
            "shell", "-c", BACKLOG_CODE.format(event_id=event_id, tokens_file=str(tokens_file))
        )
        .strip()
        .splitlines()[-1]
    )
    deadline = time.monotonic() + timeout
    while db.requests_by_status([event_id]).get("pending", 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    observed = time.time() - rung
    counts = db.requests_by_status([event_id])
    last = db.one(
        "SELECT extract(epoch FROM max(decided_at)) FROM bookings_bookingrequest "
        "WHERE event_id = %s",
        [event_id],
    )[0]
    decided = sum(n for s, n in counts.items() if s != "pending")
    # decided_at is each batch's start: the poll's view bounds the last batch's end from above.
    seconds = observed
    result = {
        "requests": requests,
        "capacity": capacity,
        "decided": decided,
        "pending": counts.get("pending", 0),
        "confirmed": counts.get("confirmed", 0),
        "seconds_from_doorbell_to_last_decision": r3(seconds),
        "seconds_from_doorbell_to_last_batch_start": r3(float(last) - rung) if last else None,
        "decisions_per_second": r3(decided / seconds) if seconds else None,
        **db.seats([event_id]),
    }
    log(
        f"  backlog: {decided} decided in {seconds:.2f}s = "
        f"{result['decisions_per_second']}/s, confirmed {result['confirmed']}/{capacity}"
    )
    return result
