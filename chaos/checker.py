"""The checker: the promise, tested against a history (the database's rows after the run and the
clients' log of every request and answer). Pure functions over plain data, so each check is
unit-tested on fabricated histories (tests/chaos/).

An anomaly is ``{"kind", "event", "commands", "detail"}``; no anomaly means the run kept the
promise: never more seats than capacity, every acknowledged command decided exactly once, in
arrival order per event, a strict waitlist, each hold decided once, webhooks delivered under one
id, idempotent replays answered with the same request, counters equal to rows, no decision by a
generation that had lost its partition, and no server error outside a PostgreSQL restart."""

from collections import defaultdict
from dataclasses import dataclass, field

FINAL = ("confirmed", "rejected", "withdrawn")
SETTLED = (*FINAL, "waitlisted")
# Commands whose confirmation sets the booking's seats to the command's ``seats``.
TAKES_SEATS = ("book", "reactivate", "hold", "change_seats")
FREES_SEATS = ("cancel", "release_hold", "expire_hold")
HOLD_ENDS = {
    "confirm_hold": "hold_confirmed",
    "release_hold": "hold_released",
    "expire_hold": "hold_expired",
}
ACKNOWLEDGED = (200, 201, 202, 409)
# Seconds after a PostgreSQL restart during which 503s are still its doing.
RESTART_GRACE_SECONDS = 10.0
# A delivery whose message was lost (a Redis restart) is published again after 120 s
# (apps.webhooks.sending.REDISPATCH_AFTER_SECONDS): still pending younger than this is not late.
REDELIVERY_SECONDS = 180.0
# A command committed this long before another was decided was visible to that decision.
VISIBILITY_MARGIN_SECONDS = 1.0


@dataclass
class History:
    """What the checker reads. Times are epoch seconds (floats)."""

    requests: list[dict]  # id, uid, event, kind, status, reason, seats, booking, payload,
    #                       created_at, decided_at, decided_partition, decided_generation
    events: dict[int, dict]  # id -> capacity, seats_taken, waitlist_size, partition, initial
    bookings: dict[int, dict] = field(
        default_factory=dict
    )  # id -> event, status, seats, expires_at
    decisions_logged: dict[str, list[str]] = field(default_factory=dict)  # uid -> statuses
    deliveries: list[dict] = field(default_factory=list)  # uid, status
    received: dict[str, int] = field(default_factory=dict)  # webhook-id -> distinct bodies
    grants: list[dict] = field(default_factory=list)  # partition, generation, granted_at
    calls: list[dict] = field(default_factory=list)  # the client log (chaos.workload.Call)
    postgres_restarts: list[tuple[float, float]] = field(default_factory=list)
    ended_at: float = 0.0


def anomaly(kind: str, event, commands, detail: str = "") -> dict:
    return {"kind": kind, "event": event, "commands": list(commands), "detail": detail}


def by_event(history: History) -> dict[int, list[dict]]:
    grouped = defaultdict(list)
    for request in history.requests:
        grouped[request["event"]].append(request)
    for requests in grouped.values():
        requests.sort(key=lambda r: r["id"])
    return grouped


# --- seats ------------------------------------------------------------------------------------


def oversold(history: History) -> list[dict]:
    """Replay each event's committed decisions in commit order (one decision time, one commit)
    and look at the seats after each commit: never more than the capacity then; at the end the
    replay holds the seats the bookings hold (no decision lost or written twice)."""
    found = []
    for event_id, requests in by_event(history).items():
        event = history.events.get(event_id)
        if event is None:
            continue
        capacity = event["initial_capacity"]
        seats: dict = {}
        commits = defaultdict(list)
        for r in requests:
            if r["status"] == "confirmed" and r["decided_at"] is not None:
                commits[r["decided_at"]].append(r)
        for at in sorted(commits):
            for r in commits[at]:
                key = r["booking"] or ("customer", r.get("customer"))
                if r["kind"] == "set_capacity":
                    capacity = r["payload"]["capacity"]
                elif r["kind"] in TAKES_SEATS:
                    seats[key] = r["seats"]
                elif r["kind"] in FREES_SEATS:
                    seats[key] = 0
            taken = sum(seats.values())
            if taken > capacity:
                found.append(
                    anomaly(
                        "oversell",
                        event_id,
                        [r["uid"] for r in commits[at]],
                        f"{taken} seats of {capacity} after the commit at {at:.3f}",
                    )
                )
        held = sum(
            b["seats"]
            for b in history.bookings.values()
            if b["event"] == event_id and b["status"] in ("active", "held")
        )
        if history.bookings and sum(seats.values()) != held:
            found.append(
                anomaly(
                    "replay_mismatch",
                    event_id,
                    [],
                    f"the decisions add up to {sum(seats.values())}, the bookings hold {held}",
                )
            )
    return found


def counters(history: History) -> list[dict]:
    """At the end, each event's counters equal the rows they count."""
    seats, waiting = defaultdict(int), defaultdict(int)
    for booking in history.bookings.values():
        if booking["status"] in ("active", "held"):
            seats[booking["event"]] += booking["seats"]
    for r in history.requests:
        if r["status"] == "waitlisted":
            waiting[r["event"]] += 1
    found = []
    for event_id, event in history.events.items():
        if event["seats_taken"] != seats[event_id] or event["waitlist_size"] != waiting[event_id]:
            found.append(
                anomaly(
                    "counter_mismatch",
                    event_id,
                    [],
                    f"seats_taken {event['seats_taken']} vs rows {seats[event_id]}, waitlist_size "
                    f"{event['waitlist_size']} vs rows {waiting[event_id]}",
                )
            )
        if seats[event_id] > event["capacity"]:
            found.append(
                anomaly(
                    "oversell",
                    event_id,
                    [],
                    f"{seats[event_id]} seats held of {event['capacity']} at the end",
                )
            )
    return found


# --- every command decided once ----------------------------------------------------------------


def acknowledged(history: History) -> dict[str, float]:
    """Request id -> when the client first held an answer naming it (the command was recorded)."""
    seen: dict[str, float] = {}
    for call in history.calls:
        if call.get("request_id") and call.get("status") in ACKNOWLEDGED:
            rid = call["request_id"]
            seen[rid] = min(seen.get(rid, call["received"]), call["received"])
    return seen


def lost_or_doubled(history: History) -> list[dict]:
    """Each acknowledged command has its row and is settled, with its decision logged (one
    history row with its final status; beat's expiries of holds already gone log none); no
    command has two decisions logged, nor two waitlistings."""
    rows = {r["uid"]: r for r in history.requests}
    acks = acknowledged(history)
    found = []
    for uid in acks:
        row = rows.get(uid)
        if row is None:
            found.append(anomaly("lost", None, [uid], "acknowledged, but no such command"))
        elif row["status"] not in SETTLED:
            found.append(anomaly("lost", row["event"], [uid], f"still {row['status']}"))
    for uid, row in rows.items():
        logged = history.decisions_logged.get(uid, [])
        finals = [s for s in logged if s in FINAL]
        waits = [s for s in logged if s == "waitlisted"]
        if len(finals) > 1 or len(waits) > 1:
            found.append(
                anomaly("double_decision", row["event"], [uid], f"decisions logged: {logged}")
            )
        elif row["status"] in FINAL and not finals and uid in acks:
            found.append(
                anomaly(
                    "undocumented_decision",
                    row["event"],
                    [uid],
                    f"{row['status']} without its history row",
                )
            )
    return found


def out_of_order(history: History) -> list[dict]:
    """Per event, a command is never decided after a later one (higher id) that was decided when
    it was already committed. Promotions and withdrawals leave the line (their time is when they
    left it) and are not compared."""
    acks = acknowledged(history)
    found = []
    for event_id, requests in by_event(history).items():
        compared = [
            r
            for r in requests
            if r["decided_at"] is not None
            and r["status"] != "withdrawn"
            and r["reason"] != "promoted_from_waitlist"
        ]
        earliest_later = None  # the earliest decision among higher ids
        for r in reversed(compared):
            if earliest_later is not None and r["decided_at"] > earliest_later["decided_at"]:
                visible = acks.get(r["uid"], r["created_at"] + VISIBILITY_MARGIN_SECONDS)
                if visible < earliest_later["decided_at"]:
                    found.append(
                        anomaly(
                            "out_of_order",
                            event_id,
                            [r["uid"], earliest_later["uid"]],
                            f"command {r['id']} decided after command {earliest_later['id']}",
                        )
                    )
            if earliest_later is None or r["decided_at"] < earliest_later["decided_at"]:
                earliest_later = r
    return found


def waitlist_order(history: History) -> list[dict]:
    """The line is strict: of the commands that went through the waitlist, a later one is never
    promoted while an earlier one waits (still waiting at the end, or promoted after it)."""
    found = []
    for event_id, requests in by_event(history).items():
        line = [
            r
            for r in requests
            if r["kind"] == "book"
            and (r["status"] == "waitlisted" or r["reason"] == "promoted_from_waitlist")
        ]
        for i, early in enumerate(line):
            for late in line[i + 1 :]:
                if late["reason"] != "promoted_from_waitlist":
                    continue
                overtaken = early["status"] == "waitlisted" or (
                    early["decided_at"] is not None and early["decided_at"] > late["decided_at"]
                )
                if overtaken:
                    found.append(
                        anomaly(
                            "waitlist_order",
                            event_id,
                            [early["uid"], late["uid"]],
                            f"{late['id']} promoted ahead of {early['id']}",
                        )
                    )
    return found


def holds(history: History) -> list[dict]:
    """A hold ends once (confirmed, released or expired), and a live hold does not outlive its
    deadline by much."""
    found = []
    ended: dict[int, list[dict]] = defaultdict(list)
    opened: dict[int, int] = defaultdict(int)
    for r in history.requests:
        if r["status"] != "confirmed" or r["booking"] is None:
            continue
        if r["kind"] == "hold":
            opened[r["booking"]] += 1
        elif HOLD_ENDS.get(r["kind"]) == r["reason"]:
            ended[r["booking"]].append(r)
    for booking, ends in ended.items():
        if len(ends) > opened[booking]:
            event = ends[0]["event"]
            found.append(
                anomaly(
                    "hold_decided_twice",
                    event,
                    [r["uid"] for r in ends],
                    f"{len(ends)} ends of {opened[booking]} hold(s)",
                )
            )
    for booking_id, booking in history.bookings.items():
        expires = booking.get("expires_at")
        if booking["status"] == "held" and expires and history.ended_at - expires > 30:
            found.append(
                anomaly(
                    "hold_not_expired",
                    booking["event"],
                    [],
                    f"booking {booking_id} held {history.ended_at - expires:.0f}s "
                    "past its deadline",
                )
            )
    return found


# --- what clients see --------------------------------------------------------------------------


def idempotency(history: History) -> list[dict]:
    """Requests sent again with the same Idempotency-Key and body are answered with the same
    request."""
    answered = defaultdict(set)
    events = {}
    for call in history.calls:
        if call.get("key") and call.get("request_id") and call.get("status") in ACKNOWLEDGED:
            answered[(call["key"], repr(call.get("body")))].add(call["request_id"])
            events[call["key"]] = call.get("event")
    return [
        anomaly("idempotency", events[key], sorted(ids), f"key {key} answered {len(ids)} requests")
        for (key, _), ids in answered.items()
        if len(ids) > 1
    ]


def server_errors(history: History) -> list[dict]:
    """No 5xx, except 503 with Retry-After while PostgreSQL restarts."""
    found = []
    for call in history.calls:
        status = call.get("status")
        if status is None or status < 500:
            continue
        in_restart = any(
            start - 1 <= call["sent"]
            and call["received"] <= end + RESTART_GRACE_SECONDS
            or start - 1 <= call["received"] <= end + RESTART_GRACE_SECONDS
            for start, end in history.postgres_restarts
        )
        if in_restart and status == 503 and call.get("retry_after"):
            continue
        found.append(
            anomaly(
                "server_error",
                call.get("event"),
                [call.get("request_id")],
                f"{status} to {call['method']} {call['path']} at {call['sent']:.3f}"
                + (" (PostgreSQL restarting)" if in_restart else ""),
            )
        )
    return found


def webhooks(history: History) -> list[dict]:
    """Every delivered outcome reached the receiver under its one webhook-id; the receiver saw no
    id the service does not know, and no id with two different bodies; none failed, none left
    pending past the redelivery time."""
    found = []
    known = {d["uid"] for d in history.deliveries}
    for delivery in history.deliveries:
        if delivery["status"] == "succeeded" and delivery["uid"] not in history.received:
            found.append(
                anomaly(
                    "webhook_not_received",
                    None,
                    [delivery["uid"]],
                    "succeeded, but the receiver never saw it",
                )
            )
        elif delivery["status"] == "failed" or (
            delivery["status"] == "pending"
            and history.ended_at - delivery.get("created_at", 0.0) > REDELIVERY_SECONDS
        ):
            found.append(
                anomaly(
                    "webhook_undelivered",
                    None,
                    [delivery["uid"]],
                    f"{delivery['status']} at the end",
                )
            )
    for message_id, bodies in history.received.items():
        if message_id not in known:
            found.append(anomaly("webhook_unknown_id", None, [message_id], "no such delivery"))
        if bodies > 1:
            found.append(
                anomaly(
                    "webhook_id_reused",
                    None,
                    [message_id],
                    f"{bodies} different bodies under one webhook-id",
                )
            )
    return found


# --- fencing ----------------------------------------------------------------------------------


def lost_generation(history: History) -> list[dict]:
    """A command decided by (partition p, generation g) was decided before p was granted to any
    later generation: a worker that lost its lease decides nothing."""
    granted = defaultdict(list)
    for grant in history.grants:
        granted[grant["partition"]].append((grant["generation"], grant["granted_at"]))
    found = []
    for r in history.requests:
        p, g = r.get("decided_partition"), r.get("decided_generation")
        if r["decided_at"] is not None and g is None and history.grants:
            # Every worker here decides under a lease: no generation is a second decider.
            found.append(
                anomaly(
                    "decided_without_generation",
                    r["event"],
                    [r["uid"]],
                    "decided by a process that held no lease",
                )
            )
            continue
        if p is None or g is None or r["decided_at"] is None:
            continue
        later = [at for generation, at in granted[p] if generation > g and at <= r["decided_at"]]
        if later:
            found.append(
                anomaly(
                    "decided_by_lost_generation",
                    r["event"],
                    [r["uid"]],
                    f"decided by partition {p} generation {g} at {r['decided_at']:.3f}, after a "
                    f"newer generation was granted at {min(later):.3f}",
                )
            )
    return found


CHECKS = (
    oversold,
    counters,
    lost_or_doubled,
    out_of_order,
    waitlist_order,
    holds,
    idempotency,
    server_errors,
    webhooks,
    lost_generation,
)


def check(history: History) -> list[dict]:
    return [found for check_one in CHECKS for found in check_one(history)]
