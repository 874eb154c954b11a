"""The scenarios: one flash crowd against each design (old, then new) on the same stack; the
new design under ``Prefer: wait``; the partition worker's own rate on a backlog of pending
commands; and the embedded default (``make run``) under a crowd.

Every run of a design is measured the same way: the load generator's answers, the database's
decisions, and the CPU every process group spent from the first request until the design was
done (its decisions made, its queues drained), from ``/proc`` (``bench.cpu``).

Definitions (README, "Performance"):
- old ``bookings_per_second``: answered requests (201 booked, 409 refused) per second of load;
  the request is the decision.
- new ``accepted_per_second``: answered requests per second of load: ``202`` (recorded, decided
  by the partition worker) and ``409`` refused at the door (decided at once, nothing recorded).
  ``accepted_202`` and ``refused_at_door`` count them apart.
- ``time_to_decision_seconds``: from the client sending the request to its decision: the
  answer for the old design and for refusals at the door, ``decided_at`` for a ``202``.
"""

import json
import statistics
import time

from bench.cpu import CpuMeter
from bench.db import Db
from bench.load import Load, drive, log, pct, r3
from devtools.stack import Stack

NEW_PATH = "/bookingapi/booking/"
OLD_PATH = "/legacyapi/book/"


def _p(values: list[float]) -> dict:
    return {
        "p50": r3(pct(values, 50)),
        "p95": r3(pct(values, 95)),
        "p99": r3(pct(values, 99)),
        "max": r3(max(values) if values else None),
    }


def cpu_per_request(meter: CpuMeter | None, before, load: Load, requests: int) -> dict | None:
    """CPU milliseconds per request by process group over the run, the load generator's own
    included; ``total`` is the server's (everything but the load generator)."""
    if meter is None:
        return None
    spent = CpuMeter.delta_ms(before, meter.snapshot())
    spent["load_generator"] = round(load.cpu_seconds * 1000, 1)
    per = {group: r3(ms / requests) for group, ms in spent.items()}
    per["server_total"] = r3(sum(ms for g, ms in spent.items() if g != "load_generator") / requests)
    return per


def _queries(load: Load) -> dict:
    counts = [a.queries for a in load.answers if a.queries is not None]
    return {"mean": r3(sum(counts) / len(counts)) if counts else None, **_p(counts)}


def settle(db: Db, events: list[int], timeout: float, label: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        counts = db.requests_by_status(events)
        pending = counts.get("pending", 0)
        if pending == 0 or time.monotonic() >= deadline:
            return counts
        log(f"  {label}: {pending} pending, {sum(counts.values()) - pending} decided")
        time.sleep(0.5)


def run_new(
    stack: Stack, db: Db, jobs, events, concurrency, settle_timeout, meter, idle, prefer=None
) -> dict:
    label = "new design" + (f" ({prefer})" if prefer else "")
    before = meter.snapshot() if meter else None
    load = drive(stack.base_url, NEW_PATH, jobs, concurrency, label, prefer=prefer)
    statuses = load.statuses
    accepted = statuses.get(202, 0)
    at_door = [a for a in load.answers if a.status == 409 and a.id is None]
    counts = settle(db, events, settle_timeout, label)
    drained = idle(quiesce=False)  # inside the measured run: its queues, nothing else
    cpu = cpu_per_request(meter, before, load, len(jobs))
    latencies, span = db.decision_latencies(events)
    recorded = len(latencies) + counts.get("pending", 0)
    decided_at = db.decided_at(load.sent_at)
    # Seconds from sending to the decision: decided_at for what was recorded, the answer for
    # what was refused at the door.
    to_decision = [decided_at[i] - sent for i, sent in load.sent_at.items() if i in decided_at]
    to_decision += [a.seconds for a in at_door]
    answered = accepted + len(at_door)
    if prefer:  # answered after waiting: 201/409 carry the decision themselves
        to_decision += [a.seconds for a in load.answers if a.status in (201, 409) and a.id]
        answered = len(load.answers)
    to_202 = [a.seconds for a in load.answers if a.status == 202]
    result = {
        "requests": len(jobs),
        "accepted": accepted,
        "accepted_202": accepted,
        "refused_at_door": len(at_door),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "transport_errors": load.errors,
        "transport_error_kinds": load.error_kinds,
        "server_errors_5xx": load.server_errors,
        "load_seconds": r3(load.seconds),
        "accepted_per_second": r3(answered / load.seconds) if load.seconds else None,
        "accepted_202_per_second": r3(accepted / load.seconds) if load.seconds else None,
        "request_seconds": _p(load.latencies),
        "seconds_to_202": _p(to_202),
        "recorded": recorded,
        "decided": len(latencies) + len(at_door),
        "decided_by_workers": len(latencies),
        "first_request_to_last_decision_seconds": r3(span),
        "decisions_per_second": r3(len(latencies) / span) if span else None,
        # From the command's insert (created_at) to its decision, as event_report measures it.
        "recorded_to_decision_seconds": _p(latencies),
        # From the client sending the request to the decision: comparable with the old design.
        "time_to_decision_seconds": _p(to_decision),
        "queries_per_request": _queries(load),
        "confirmed": counts.get("confirmed", 0),
        "rejected": counts.get("rejected", 0) + len(at_door),
        "lost": accepted - sum(n for s, n in counts.items() if s != "pending")
        if not prefer
        else counts.get("pending", 0),
        "queue_drain_seconds_after": r3(drained),
        "cpu_ms_per_request": cpu,
        **db.seats(events),
    }
    if hasattr(db, "out_of_order_decisions"):
        result["out_of_order_decisions"] = db.out_of_order_decisions(events)
    if prefer:
        result["preference_applied"] = sum(1 for a in load.answers if a.preference_applied)
    return result


def run_old(stack: Stack, db: Db, jobs, events, concurrency, meter, idle) -> dict:
    before = meter.snapshot() if meter else None
    load = drive(stack.base_url, OLD_PATH, jobs, concurrency, "old design")
    idle(quiesce=False)  # inside the measured run: its queues, nothing else
    cpu = cpu_per_request(meter, before, load, len(jobs))
    statuses = load.statuses
    decided = statuses.get(201, 0) + statuses.get(409, 0)
    holds = [a.lock_hold for a in load.answers if a.lock_hold is not None]
    booked_holds = [a.lock_hold for a in load.answers if a.status == 201 and a.lock_hold]
    statements = [a.lock_statements for a in load.answers if a.status == 201 and a.lock_statements]
    return {
        "requests": len(jobs),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "transport_errors": load.errors,
        "transport_error_kinds": load.error_kinds,
        "server_errors_5xx": load.server_errors,
        "load_seconds": r3(load.seconds),
        "decided": decided,
        "bookings_per_second": r3(decided / load.seconds),
        "decisions_per_second": r3(decided / load.seconds),
        "time_to_decision_seconds": _p(load.latencies),
        "queries_per_request": _queries(load),
        # How long each request held the event's row lock (lock granted -> commit returned).
        "lock_hold_ms": {k: r3(v * 1000) if v else v for k, v in _p(holds).items()},
        "lock_hold_ms_booked": {k: r3(v * 1000) if v else v for k, v in _p(booked_holds).items()},
        "statements_under_lock_booked": max(set(statements), key=statements.count)
        if statements
        else None,
        "confirmed": statuses.get(201, 0),
        "rejected": statuses.get(409, 0),
        "undecided": len(jobs) - decided,
        "cpu_ms_per_request": cpu,
        **db.seats(events),
    }


def seed(stack: Stack, *, customers: int, capacity: int, events: int) -> dict:
    return json.loads(
        stack.manage(
            "seed_crowd",
            "--customers",
            str(customers),
            "--capacity",
            str(capacity),
            "--events",
            str(events),
            timeout=600,
        )
        .strip()
        .splitlines()[-1]
    )


def subscribe(stack: Stack, organizer_token: str, count: int) -> None:
    """``count`` webhook subscriptions of the events' organizer (a CRM, a ticketing system...),
    each hearing of every confirmed booking: both designs write a delivery row per
    subscription per booking."""
    if count <= 0:
        return
    code = (
        "from apps.accounts.tokens import user_ids_for_keys\n"
        "from apps.webhooks.subscriptions import create_subscription\n"
        f"[owner] = user_ids_for_keys([{organizer_token!r}])\n"
        f"for i in range({count}):\n"
        "    create_subscription(owner_id=owner, url=f'http://127.0.0.1:9/hooks/{i}',\n"
        "        event_types=['booking.confirmed', 'booking.cancelled'])\n"
        "print('{}')\n"
    )
    stack.manage("shell", "-c", code)


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
    subscriptions: int,
    meter: CpuMeter | None,
) -> dict:
    per_event = max(1, capacity // events)
    log(
        f"scenario {name}: {requests} requests from distinct customers over {events} event(s), "
        f"capacity {per_event * events} in all, {concurrency} concurrent clients, "
        f"{subscriptions} webhook subscriptions"
    )
    seeded = seed(stack, customers=requests, capacity=per_event, events=2 * events)
    subscribe(stack, seeded["organizer_token"], subscriptions)
    new_events, old_events = seeded["events"][:events], seeded["events"][events:]
    tokens = seeded["tokens"]
    new_jobs = [(t, new_events[i % events]) for i, t in enumerate(tokens)]
    old_jobs = [(t, old_events[i % events]) for i, t in enumerate(tokens)]
    idle()
    old = run_old(stack, db, old_jobs, old_events, concurrency, meter, idle)
    log(
        f"  old design: {old['bookings_per_second']}/s, p99 "
        f"{old['time_to_decision_seconds']['p99']}s, 5xx {old['server_errors_5xx']}, "
        f"lock held p50 {old['lock_hold_ms']['p50']} ms"
    )
    idle()
    new = run_new(stack, db, new_jobs, new_events, concurrency, settle_timeout, meter, idle)
    log(
        f"  new design: answered {new['accepted_per_second']}/s ({new['accepted_202']} x 202, "
        f"{new['refused_at_door']} refused at the door), decisions "
        f"{new['decisions_per_second']}/s, p99 to decision "
        f"{new['time_to_decision_seconds']['p99']}s, lost {new['lost']}"
    )
    old_rate = old["bookings_per_second"] or 0
    new_p99, old_p99 = (d["time_to_decision_seconds"]["p99"] for d in (new, old))
    ratios = {
        "accepted_per_s_new_over_booking_per_s_old": r3(new["accepted_per_second"] / old_rate)
        if old_rate
        else None,
        "decisions_per_s_new_over_old": r3((new["decisions_per_second"] or 0) / old_rate)
        if old_rate
        else None,
        "p99_decision_old_over_new": r3(old_p99 / new_p99) if new_p99 else None,
        "p99_decision_new_over_old": r3(new_p99 / old_p99) if old_p99 else None,
    }
    return {
        "requests": requests,
        "capacity": per_event * events,
        "events": events,
        "concurrency": concurrency,
        "subscriptions": subscriptions,
        "new": new,
        "old": old,
        "ratios": ratios,
    }


# What each pair (and each backlog run) of a repeated scenario keeps in ``trials``.
TRIAL_FIGURES = {
    "new": ["accepted_per_second", "time_to_decision_seconds", "cpu_ms_per_request"],
    "old": ["bookings_per_second", "time_to_decision_seconds", "cpu_ms_per_request"],
}
RATIO = "accepted_per_s_new_over_booking_per_s_old"


def median_of_pairs(trials: list[dict]) -> dict:
    """A scenario run as several old/new pairs, one after the other: each ratio is the median of
    the pairs' ratios (a slow moment of a shared machine moves one pair, and both designs of a
    pair run within the same half minute); the designs' figures are those of the pair whose
    answered-per-second ratio is the median of the pairs'. Every pair's ratios and figures are
    kept in ``trials``."""
    chosen = _median_trial(trials, lambda t: t["ratios"][RATIO] or 0)
    ratios = {
        name: r3(statistics.median(values))
        for name in chosen["ratios"]
        if (values := [t["ratios"][name] for t in trials if t["ratios"][name] is not None])
    }
    return {
        **chosen,
        "ratios": ratios,
        "repeat": len(trials),
        "median_pair": trials.index(chosen) + 1,
        "trials": [
            {
                "ratios": t["ratios"],
                **{d: {k: t[d][k] for k in keys if k in t[d]} for d, keys in TRIAL_FIGURES.items()},
            }
            for t in trials
        ],
    }


def median_backlog(trials: list[dict]) -> dict:
    """Backlog runs (each its own event): the run with the median rate, and every run's rate."""
    chosen = _median_trial(trials, lambda t: t["decisions_per_second"] or 0)
    return {
        **chosen,
        "repeat": len(trials),
        "trials_decisions_per_second": [t["decisions_per_second"] for t in trials],
    }


def _median_trial(trials: list[dict], key) -> dict:
    """The trial at the median of ``key`` (the lower middle one of an even number)."""
    return sorted(trials, key=key)[(len(trials) - 1) // 2]


def waiting_scenario(
    stack: Stack,
    db: Db,
    idle,
    *,
    requests: int,
    capacity: int,
    concurrency: int,
    settle_timeout: float,
    subscriptions: int,
    meter: CpuMeter | None,
    wait: int = 10,
) -> dict:
    """The hot event again, every client sending ``Prefer: wait=N``: statements per request
    (the waiters are woken by a notification, not by polling) and the time to the answer."""
    log(f"scenario hot_wait: {requests} requests, Prefer: wait={wait}, {concurrency} clients")
    seeded = seed(stack, customers=requests, capacity=capacity, events=1)
    subscribe(stack, seeded["organizer_token"], subscriptions)
    event = seeded["events"][0]
    jobs = [(t, event) for t in seeded["tokens"]]
    idle()
    new = run_new(
        stack, db, jobs, [event], concurrency, settle_timeout, meter, idle, prefer=f"wait={wait}"
    )
    log(
        f"  Prefer: wait={wait}: {new['status_counts']}, {new['preference_applied']} waited, "
        f"queries/request {new['queries_per_request']['mean']}, p99 answer "
        f"{new['request_seconds']['p99']}s"
    )
    return {
        "requests": requests,
        "capacity": capacity,
        "events": 1,
        "concurrency": concurrency,
        "subscriptions": subscriptions,
        "prefer": f"wait={wait}",
        "new": new,
    }


def embedded_scenario(
    stack: Stack, *, customers: int, capacity: int, concurrency: int, meter: CpuMeter | None
) -> dict:
    """``make run``'s embedded default (SQLite + the file-system broker, gunicorn 2 x 8 threads,
    8 partition workers) under a crowd of distinct customers at one event."""
    from bench.db import SqliteDb

    log(
        f"scenario embedded: {customers} customers, capacity {capacity}, "
        f"{concurrency} connections, SQLite + file-system broker"
    )
    seeded = seed(stack, customers=customers, capacity=capacity, events=1)
    event = seeded["events"][0]
    db = SqliteDb(stack.data_dir / "db.sqlite3")
    jobs = [(t, event) for t in seeded["tokens"]]
    time.sleep(1)
    new = run_new(stack, db, jobs, [event], concurrency, 120, meter, lambda **kwargs: 0.0)
    log(
        f"  embedded: answered {new['accepted_per_second']}/s ({new['accepted_202']} x 202 at "
        f"{new['accepted_202_per_second']}/s), p99 to 202 {new['seconds_to_202']['p99']}s, "
        f"5xx {new['server_errors_5xx']}, confirmed {new['confirmed']}/{capacity}"
    )
    return {
        "requests": customers,
        "capacity": capacity,
        "events": 1,
        "concurrency": concurrency,
        "new": new,
    }


BACKLOG_CODE = """
import json, time
from apps.accounts.models import Customer
from apps.bookings.models import BookingRequest, CommandKind
from apps.events.models import Event
from apps.accounts.tokens import user_ids_for_keys
from apps.bookings.commands import ring
event = Event.objects.get(pk={event_id})
tokens = json.load(open({tokens_file!r}))
customers = Customer.objects.filter(user_id__in=user_ids_for_keys(tokens))
BookingRequest.objects.bulk_create([BookingRequest(kind=CommandKind.BOOK, user_id=c.user_id,
    customer=c, event=event) for c in customers], batch_size=1000)
started = time.time()
ring(event_id=event.pk, partition=event.partition)
print(json.dumps([started, time.time()]))
"""


def backlog(
    stack: Stack,
    db: Db,
    idle,
    *,
    requests: int,
    capacity: int,
    timeout: float,
    subscriptions: int = 0,
) -> dict:
    """The partition worker's own decision rate: a backlog of pending commands for one event,
    recorded without doorbells, then one doorbell. No HTTP in the way."""
    log(
        f"backlog: {requests} pending commands at one event (capacity {capacity}), one doorbell, "
        f"{subscriptions} webhook subscriptions"
    )
    seeded = seed(stack, customers=requests, capacity=capacity, events=1)
    subscribe(stack, seeded["organizer_token"], subscriptions)
    event_id = seeded["events"][0]
    tokens_file = stack.data_dir / "backlog-tokens.json"
    tokens_file.write_text(json.dumps(seeded["tokens"]))
    idle()
    # From the doorbell's publish: this shell's first publish (connecting to the broker, ~70 ms
    # measured) is not the worker's time; it is reported apart.
    publishing, rung = json.loads(
        stack.manage(
            "shell", "-c", BACKLOG_CODE.format(event_id=event_id, tokens_file=str(tokens_file))
        )
        .strip()
        .splitlines()[-1]
    )
    deadline = time.monotonic() + timeout
    while db.any_pending([event_id]) and time.monotonic() < deadline:
        time.sleep(0.005)
    observed = time.time() - rung
    counts = db.requests_by_status([event_id])
    first, last = db.one(
        "SELECT extract(epoch FROM min(decided_at)), extract(epoch FROM max(decided_at)) "
        "FROM bookings_bookingrequest WHERE event_id = %s",
        [event_id],
    )
    decided = sum(n for s, n in counts.items() if s != "pending")
    # decided_at is each batch's start: the poll's view bounds the last batch's end from above.
    seconds = observed
    result = {
        "requests": requests,
        "capacity": capacity,
        "subscriptions": subscriptions,
        "decided": decided,
        "pending": counts.get("pending", 0),
        "confirmed": counts.get("confirmed", 0),
        "seconds_to_publish_doorbell": r3(rung - publishing),
        "seconds_from_doorbell_to_last_decision": r3(seconds),
        "seconds_from_doorbell_to_first_batch_start": r3(float(first) - rung) if first else None,
        "seconds_from_doorbell_to_last_batch_start": r3(float(last) - rung) if last else None,
        "decisions_per_second": r3(decided / seconds) if seconds else None,
        **db.seats([event_id]),
    }
    log(
        f"  backlog: {decided} decided in {seconds:.2f}s = "
        f"{result['decisions_per_second']}/s, confirmed {result['confirmed']}/{capacity}"
    )
    return result
