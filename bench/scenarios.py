"""The scenarios' runs: one flash crowd at one design (``run_new``, ``run_old``), and a pair of
them on the same stack in a given order (``run_pair``), which ``bench.sweep`` repeats, alternated,
at each thread setting.

Every run of a design is measured the same way: the load generator's answers, the database's
decisions, the announcements of committed decisions (``bench.clocks``), and the CPU every process
group spent from the first request until the design was done (its decisions made, its queues
drained), from ``/proc`` (``bench.cpu``).

Definitions (docs/performance.md):
- ``answered_per_second``: answered requests per second of load. Old: ``201`` + ``409``, each
  decided inside its request. New: ``202`` (recorded, decided by the partition worker) + ``409``
  refused at the door (decided at once, nothing recorded); ``accepted_202`` and
  ``refused_at_door`` count them apart. The old keys ``accepted_per_second`` (new) and
  ``bookings_per_second`` (old) hold the same value.
- ``time_to_decision_seconds``: from the client sending the request to its decision: the
  answer for the old design and for refusals at the door, the announcement after the commit of
  the round that decided it for a ``202``.
"""

import json
import statistics
import time

from bench.clocks import DecisionClock
from bench.cpu import CpuMeter
from bench.db import Db
from bench.load import Load, drive, log, pct, r3
from devtools.stack import Stack

NEW_PATH = "/bookingapi/booking/"
OLD_PATH = "/legacyapi/book/"
# The answered ratio of a scenario; the key it had before (it always held answered/s, 202 + 409
# against 201 + 409) is kept beside it with the same value for one release.
RATIO = "answered_per_s_new_over_old"
RATIO_ALIAS = "accepted_per_s_new_over_booking_per_s_old"


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


def committed_at(db, sent_at: dict[str, float], clock: DecisionClock | None):
    """Request uid -> when its decision was committed (the announcement's arrival), and how
    many had no announcement (lost datagram, no listener): those count at ``decided_at``."""
    stamps = clock.stamps if clock is not None else {}
    found, missed = {}, 0
    for uid, (pk, decided_at) in db.decided_at(sent_at).items():
        if pk in stamps:
            found[uid] = stamps[pk]
        else:
            found[uid], missed = decided_at, missed + 1
    return found, missed


def run_new(
    base_url: str,
    db,
    jobs,
    events,
    concurrency,
    settle_timeout,
    meter,
    idle,
    clock: DecisionClock | None = None,
    prefer: str | None = None,
) -> dict:
    label = "new design" + (f" ({prefer})" if prefer else "")
    before = meter.snapshot() if meter else None
    load = drive(base_url, NEW_PATH, jobs, concurrency, label, prefer=prefer)
    statuses = load.statuses
    accepted = statuses.get(202, 0)
    at_door = [a for a in load.answers if a.status == 409 and a.id is None]
    counts = settle(db, events, settle_timeout, label)
    drained = idle(quiesce=False)  # inside the measured run: its queues, nothing else
    cpu = cpu_per_request(meter, before, load, len(jobs))
    latencies, span = db.decision_latencies(events)
    recorded = len(latencies) + counts.get("pending", 0)
    decided_at = {uid: at for uid, (_, at) in db.decided_at(load.sent_at).items()}
    committed, unannounced = committed_at(db, load.sent_at, clock)
    # Seconds from sending to the decision: its commit for what was recorded, the answer for
    # what was refused at the door.
    at_once = [a.seconds for a in at_door]
    to_decision = [committed[i] - sent for i, sent in load.sent_at.items() if i in committed]
    to_round = [decided_at[i] - sent for i, sent in load.sent_at.items() if i in decided_at]
    to_decision += at_once
    to_round += at_once
    answered = accepted + len(at_door)
    if prefer:  # answered after waiting: 201/409 carry the decision themselves
        waited = [a.seconds for a in load.answers if a.status in (201, 409) and a.id]
        to_decision += waited
        to_round += waited
        answered = len(load.answers)
    to_202 = [a.seconds for a in load.answers if a.status == 202]
    rate = r3(answered / load.seconds) if load.seconds else None
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
        "answered_per_second": rate,
        "accepted_per_second": rate,
        "accepted_202_per_second": r3(accepted / load.seconds) if load.seconds else None,
        "request_seconds": _p(load.latencies),
        "seconds_to_202": _p(to_202),
        "recorded": recorded,
        "decided": len(latencies) + len(at_door),
        "decided_by_workers": len(latencies),
        "first_request_to_last_decision_seconds": r3(span),
        "decisions_per_second": r3(len(latencies) / span) if span else None,
        # From the command's insert (created_at) to its round's start (decided_at), as
        # event_report measures it.
        "recorded_to_decision_seconds": _p(latencies),
        # From the client sending the request to the decision's commit: comparable with the
        # old design's answer, which comes after its commit.
        "time_to_decision_seconds": _p(to_decision),
        # The same to the start of the round that decided it (decided_at): what was reported
        # until the commit was timed.
        "time_to_round_start_seconds": _p(to_round),
        "decisions_timed_at_round_start": unannounced,
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


def run_old(base_url: str, db: Db, jobs, events, concurrency, meter, idle) -> dict:
    before = meter.snapshot() if meter else None
    load = drive(base_url, OLD_PATH, jobs, concurrency, "old design")
    idle(quiesce=False)  # inside the measured run: its queues, nothing else
    cpu = cpu_per_request(meter, before, load, len(jobs))
    statuses = load.statuses
    decided = statuses.get(201, 0) + statuses.get(409, 0)
    holds = [a.lock_hold for a in load.answers if a.lock_hold is not None]
    booked_holds = [a.lock_hold for a in load.answers if a.status == 201 and a.lock_hold]
    statements = [a.lock_statements for a in load.answers if a.status == 201 and a.lock_statements]
    rate = r3(decided / load.seconds)
    return {
        "requests": len(jobs),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "transport_errors": load.errors,
        "transport_error_kinds": load.error_kinds,
        "server_errors_5xx": load.server_errors,
        "load_seconds": r3(load.seconds),
        "decided": decided,
        "answered_per_second": rate,
        "bookings_per_second": rate,
        "decisions_per_second": rate,
        "time_to_decision_seconds": _p(load.latencies),
        "request_seconds": _p(load.latencies),
        "queries_per_request": _queries(load),
        # Requests that took the event's row lock (the others were refused at the door), and
        # how long each held it (lock granted -> commit returned).
        "took_the_lock": len(holds),
        "refused_at_door": sum(1 for a in load.answers if a.status == 409 and a.lock_hold is None),
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


def answered(design: dict) -> float:
    """A design's answered requests per second in a run (either design's key)."""
    return design.get("answered_per_second") or 0


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


def ratios(new: dict, old: dict, *, waited: bool = False) -> dict:
    """The new design's figures over the old's (and p99s both ways). ``waited``: the new design
    answered with the decision (``Prefer: wait``), so the p99 to the answer is compared too."""
    old_rate = answered(old)
    new_p99, old_p99 = (d["time_to_decision_seconds"]["p99"] for d in (new, old))
    rate = r3(answered(new) / old_rate) if old_rate else None
    found = {
        RATIO: rate,
        RATIO_ALIAS: rate,
        "decisions_per_s_new_over_old": r3((new["decisions_per_second"] or 0) / old_rate)
        if old_rate
        else None,
        "p99_decision_old_over_new": r3(old_p99 / new_p99) if new_p99 else None,
        "p99_decision_new_over_old": r3(new_p99 / old_p99) if old_p99 else None,
    }
    if waited:
        new_answer, old_answer = (d["request_seconds"]["p99"] for d in (new, old))
        found["p99_answer_new_over_old"] = r3(new_answer / old_answer) if old_answer else None
    return found


def run_pair(
    stack: Stack,
    db: Db,
    idle,
    *,
    name: str,
    urls: dict[str, str],
    order: tuple[str, str],
    requests: int,
    capacity: int,
    events: int,
    concurrency: int,
    settle_timeout: float,
    subscriptions: int,
    meter: CpuMeter | None,
    clock: DecisionClock | None = None,
    prefer: str | None = None,
) -> dict:
    """Both designs under the same crowd, one after the other in ``order``, each at its own
    web server (``urls``), each on events of its own seeded alike."""
    per_event = max(1, capacity // events)
    log(
        f"scenario {name}: {requests} requests from distinct customers over {events} event(s), "
        f"capacity {per_event * events} in all, {concurrency} concurrent clients, "
        f"{subscriptions} webhook subscriptions, {' then '.join(order)}"
        + (f", new with Prefer: {prefer}" if prefer else "")
    )
    seeded = seed(stack, customers=requests, capacity=per_event, events=2 * events)
    subscribe(stack, seeded["organizer_token"], subscriptions)
    chosen = {"new": seeded["events"][:events], "old": seeded["events"][events:]}
    tokens = seeded["tokens"]
    jobs = {d: [(t, chosen[d][i % events]) for i, t in enumerate(tokens)] for d in chosen}
    runs = {}
    for design in order:
        idle()
        if design == "old":
            runs["old"] = run_old(
                urls["old"], db, jobs["old"], chosen["old"], concurrency, meter, idle
            )
        else:
            runs["new"] = run_new(
                urls["new"],
                db,
                jobs["new"],
                chosen["new"],
                concurrency,
                settle_timeout,
                meter,
                idle,
                clock=clock,
                prefer=prefer,
            )
        _log_run(design, runs[design])
    return {
        "requests": requests,
        "capacity": per_event * events,
        "events": events,
        "concurrency": concurrency,
        "subscriptions": subscriptions,
        **({"prefer": prefer} if prefer else {}),
        "order": list(order),
        "new": runs["new"],
        "old": runs["old"],
        "ratios": ratios(runs["new"], runs["old"], waited=bool(prefer)),
    }


def _log_run(design: str, run: dict) -> None:
    p99 = run["time_to_decision_seconds"]["p99"]
    if design == "old":
        log(
            f"  old design: {run['answered_per_second']}/s, p99 {p99}s, 5xx "
            f"{run['server_errors_5xx']}, {run['took_the_lock']} took the lock, held p50 "
            f"{run['lock_hold_ms']['p50']} ms"
        )
    else:
        log(
            f"  new design: answered {run['answered_per_second']}/s ({run['accepted_202']} x 202, "
            f"{run['refused_at_door']} refused at the door), p99 to decision {p99}s, p99 answer "
            f"{run['request_seconds']['p99']}s, lost {run['lost']}"
        )


def median_run(runs: list[dict]) -> dict:
    """The run at the median answered rate (the lower middle one of an even number)."""
    return sorted(runs, key=answered)[(len(runs) - 1) // 2]


def median(values: list[float]) -> float | None:
    return r3(statistics.median(values)) if values else None
